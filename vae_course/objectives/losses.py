"""The VAE objective, term by term, in nats per image.

Used by notebooks 02-10, :mod:`vae_course.training.fit_loop` and the CLI.

Conventions
-----------
* Every function returns one value **per image**, shape ``(B,)``, in **nats** (natural log). Average over the batch
  yourself (``.mean()``) to get "nats per image", the number the course reports everywhere.
* The reference script's loss ``BCE(reduction="sum") + KLD`` is the **sum** over the batch, so it equals the
  per-image figure times the batch size: ``reference_loss(...) == elbo_terms(...).total.sum()``.
* ``recon`` is the reconstruction *loss* ``-log p(x|z)`` (positive), ``kl`` is ``KL(q(z|x) || p(z))``, and
  ``total = recon + beta * kl``; with ``beta = 1`` that is the negative ELBO, an upper bound on ``-log p(x)``.

References:
    Kingma & Welling 2013, appendix B (the Gaussian KL in closed form).
    Loaiza-Ganem & Cunningham 2019, "The continuous Bernoulli" (why BCE on grey levels is not a likelihood).
"""
from __future__ import annotations

import contextvars
import math
import numbers
from contextlib import contextmanager
from typing import NamedTuple

import torch
import torch.nn.functional as F

LIKELIHOODS = ("bernoulli", "continuous_bernoulli", "gaussian")
_HALF = (torch.bfloat16, torch.float16)


# Set by fit/evaluate/iwae_bound, which check their images once per call: the per-batch checks below are then skipped,
# so that training keeps one host sync per step.
_IMAGES_CHECKED = contextvars.ContextVar("vae_course_images_checked", default=False)


def check_unit_interval(x: torch.Tensor, name: str = "images") -> None:
    """Raise one clear ``ValueError`` unless every value of ``x`` lies in [0, 1] (one host sync per call).

    NaN counts as outside: a NaN pixel would otherwise turn every reported loss into NaN without a word.
    """
    if x.numel() == 0:
        return
    lo, hi = torch.stack(torch.aminmax(x.detach())).tolist()
    if math.isnan(lo) or math.isnan(hi):
        raise ValueError(f"{name} contain NaN values, and images must lie in [0, 1]: look for a division by zero "
                         f"or a broken transform where they were made.")
    if lo < 0 or hi > 1:
        raise ValueError(f"{name} must lie in [0, 1] but range from {lo:.4g} to {hi:.4g}: divide uint8 by 255, "
                         f"and don't use Normalize.")


@contextmanager
def images_checked():
    """Inside this block the losses skip their per-call range check (the caller checked the images once)."""
    token = _IMAGES_CHECKED.set(True)
    try:
        yield
    finally:
        _IMAGES_CHECKED.reset(token)


def check_sigma(sigma, name: str = "sigma") -> None:
    """Raise one clear error unless ``sigma`` is a positive finite number or a float tensor of them."""
    if isinstance(sigma, torch.Tensor):
        if not sigma.is_floating_point():
            raise TypeError(f"{name} must be a float number or tensor, got a tensor of dtype {sigma.dtype}.")
        if sigma.numel() == 0 or not bool(torch.all(torch.isfinite(sigma.detach()) & (sigma.detach() > 0))):
            raise ValueError(f"{name} must be positive and finite everywhere (it is the decoder's standard deviation).")
        return
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real):
        raise TypeError(f"{name}={sigma!r} must be a positive number (or a tensor of them), e.g. {name}=1.0.")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"{name}={sigma!r} must be positive and finite (it is the decoder's standard deviation).")


def _full(t: torch.Tensor) -> torch.Tensor:
    """Half-precision tensors (from ``fit``'s mixed precision) are lifted to float32; others pass unchanged."""
    return t.float() if t.dtype in _HALF else t


def _check_pair(mu: torch.Tensor, logvar: torch.Tensor) -> None:
    if not (isinstance(mu, torch.Tensor) and isinstance(logvar, torch.Tensor)):
        raise TypeError("mu and logvar must both be torch tensors.")
    if mu.shape != logvar.shape:
        raise ValueError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must have the same shape.")
    if mu.ndim == 0:
        raise ValueError("mu and logvar need at least one (latent) dimension, e.g. shape (B, D).")


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, diag(exp(logvar))) || N(0, I) ), summed over the last (latent) axis.

    KL = -1/2 * sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j))    (derived in notebook 03)

    Args:
        mu, logvar: ``(B, D)`` (or ``(D,)``).
    Returns:
        ``(B,)`` nats per image (a scalar for ``(D,)`` input).
    """
    _check_pair(mu, logvar)
    mu, logvar = _full(mu), _full(logvar)
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


def gaussian_kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The same KL, one value per latent dimension: ``(B, D)`` (notebook 09's active units and free bits)."""
    _check_pair(mu, logvar)
    mu, logvar = _full(mu), _full(logvar)
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


def _flat_pair(logits: torch.Tensor, x: torch.Tensor, unit_range: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(logits, torch.Tensor) or not isinstance(x, torch.Tensor):
        raise TypeError(f"the decoder output and the images x must both be torch tensors, got "
                        f"{type(logits).__name__} and {type(x).__name__}.")
    if not x.is_floating_point():
        raise TypeError(f"the images x have dtype {x.dtype}; expected float images in [0, 1] (divide uint8 by 255).")
    if logits.ndim == 0 or x.ndim == 0 or logits.shape[0] != x.shape[0] or logits.shape[0] == 0 \
            or logits[0].numel() != x[0].numel():
        raise ValueError(f"decoder output {tuple(logits.shape)} and images {tuple(x.shape)} do not match: "
                         f"they need the same batch size (at least 1) and the same number of pixels.")
    if unit_range and not _IMAGES_CHECKED.get():
        check_unit_interval(x, "the images x")
    return _full(logits).reshape(logits.shape[0], -1), x.reshape(x.shape[0], -1)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) for a Bernoulli decoder with ``logits``: summed binary cross-entropy, ``(B,)`` nats.

    A true negative log-likelihood only for binary ``x``; on grey levels it is the reference script's BCE, which is
    not a density (notebook 07).
    """
    logits, x = _flat_pair(logits, x, unit_range=True)
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)


def continuous_bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) under the continuous Bernoulli (a real density on [0, 1]): BCE minus its log normalizer."""
    logits, x = _flat_pair(logits, x, unit_range=True)
    dist = torch.distributions.ContinuousBernoulli(logits=logits, validate_args=False)
    return -dist.log_prob(x).sum(dim=1)


def gaussian_nll(mean: torch.Tensor, x: torch.Tensor, sigma: float | torch.Tensor = 1.0) -> torch.Tensor:
    """-log N(x; mean, sigma^2 I) summed over pixels, ``(B,)`` nats.

    With a fixed ``sigma`` this is ``||x - mean||^2 / (2 sigma^2)`` plus a constant, i.e. a scaled MSE.
    ``sigma`` may be a float, a scalar tensor or a tensor broadcastable to the pixels (a learned sigma).
    """
    mean, x = _flat_pair(mean, x)
    if not _IMAGES_CHECKED.get():  # fit and evaluate check sigma once per call
        check_sigma(sigma)
    sigma = torch.as_tensor(sigma, dtype=mean.dtype, device=mean.device)
    var = sigma.pow(2)
    nll = 0.5 * (x - mean).pow(2) / var + torch.log(sigma) + 0.5 * math.log(2 * math.pi)
    return nll.expand_as(x).sum(dim=1)


def reconstruction_nll(logits: torch.Tensor, x: torch.Tensor, likelihood: str = "bernoulli",
                       sigma: float | torch.Tensor = 1.0) -> torch.Tensor:
    """-log p(x|z) for the chosen ``likelihood``; the Gaussian uses ``sigmoid(logits)`` as its mean."""
    if likelihood == "bernoulli":
        return bernoulli_nll(logits, x)
    if likelihood == "continuous_bernoulli":
        return continuous_bernoulli_nll(logits, x)
    if likelihood == "gaussian":
        return gaussian_nll(torch.sigmoid(logits), x, sigma)
    raise ValueError(f"likelihood={likelihood!r} is not known: use one of {', '.join(LIKELIHOODS)}.")


class ELBOTerms(NamedTuple):
    """Per-image parts of the objective, each ``(B,)`` in nats: ``total = recon + beta * kl``."""

    recon: torch.Tensor
    kl: torch.Tensor
    total: torch.Tensor

    @property
    def elbo(self) -> torch.Tensor:
        """The evidence lower bound itself, ``-(recon + kl)`` (independent of beta)."""
        return -(self.recon + self.kl)

    def mean(self) -> "ELBOTerms":
        """Average each part over the batch (nats per image)."""
        return ELBOTerms(self.recon.mean(), self.kl.mean(), self.total.mean())


def elbo(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, *,
         likelihood: str = "bernoulli", sigma: float | torch.Tensor = 1.0, beta: float = 1.0) -> ELBOTerms:
    """The single-sample ELBO estimate, split into its parts, **per image** (reduction: none; ``(B,)`` each).

    Args:
        logits: decoder output ``(B, 784)`` from ``model.decode_logits(z)``, with ``z`` drawn by ``reparameterize``.
        x: the images ``(B, 1, 28, 28)`` or ``(B, 784)``.
        mu, logvar: the encoder's ``(B, D)`` outputs.
        likelihood: ``"bernoulli"`` (reference), ``"continuous_bernoulli"`` or ``"gaussian"`` (with ``sigma``).
        beta: weight of the KL in ``total`` (beta-VAE, notebook 09).

    Returns:
        :class:`ELBOTerms` ``(recon, kl, total)``. ``total.sum()`` is the reference script's batch loss.
    """
    recon = reconstruction_nll(logits, x, likelihood, sigma)
    kl = gaussian_kl(mu, logvar)
    if recon.shape != kl.shape:
        raise ValueError(f"images ({recon.shape[0]}) and latent codes ({kl.shape[0]}) have different batch sizes.")
    return ELBOTerms(recon, kl, recon + beta * kl)


def encode_decode(model, x: torch.Tensor, y: torch.Tensor | None = None):
    """One pass x -> q(z|x) -> z -> decoder logits; returns ``(logits (B, 784), mu (B, D), logvar (B, D))``.

    ``y`` (labels) goes to a conditional model's ``encode`` and ``decode_logits``. A model whose decoder also reads
    the image itself (an autoregressive decoder under teacher forcing, notebook 09) says so with the class attribute
    ``decoder_sees_x = True`` and gets ``context=x``.
    """
    extra = () if y is None else (y,)
    mu, logvar = model.encode(x, *extra)  # (B, D) each
    z = model.reparameterize(mu, logvar)  # (B, D)
    context = {"context": x} if getattr(model, "decoder_sees_x", False) else {}
    logits = model.decode_logits(z, *extra, **context)  # (B, 784)
    return logits, mu, logvar


def model_elbo(model, x: torch.Tensor, y: torch.Tensor | None = None, *, likelihood: str = "bernoulli",
               sigma: float | torch.Tensor = 1.0, beta: float = 1.0) -> ELBOTerms:
    """Run ``model`` on ``x`` (and labels ``y`` for a conditional model) and return :func:`elbo`'s terms."""
    logits, mu, logvar = encode_decode(model, x, y)
    return elbo(logits, x, mu, logvar, likelihood=likelihood, sigma=sigma, beta=beta)


def reference_loss(recon_x: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The reference script's ``loss_function``, unchanged: BCE on probabilities plus KL, **summed over the batch**.

    Kept for comparison only; it equals ``elbo(...).total.sum()`` up to float rounding (and the -100 log clamp).
    """
    bce = F.binary_cross_entropy(recon_x.reshape(-1, 784), x.reshape(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld
