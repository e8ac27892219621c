"""The training objectives as objects: :class:`ELBO` and :class:`IWAE`, what :func:`vae_course.training.fit` minimises.

Used by notebooks 05, 08, 09 and 11 (``fit(model, x, objective=ELBO(beta=4))``), :func:`vae_course.training.fit` and
:func:`vae_course.evaluation.evaluate` (their default is ``ELBO()``), and the recipes and sweeps of
:mod:`vae_course.training`.

An objective is anything callable as ``objective(model, x, y) -> ELBOTerms(recon, kl, total)``, each ``(B,)`` in
nats per image: ``fit`` minimises ``total.mean()`` and reports ``recon + kl`` (the negative ELBO), whatever it
minimises. A plain function is an objective. Three things are optional, and :class:`ELBO` and :class:`IWAE` have them:

* ``start_step(step, steps_per_epoch)``: ``fit`` calls it before every optimizer step (``step`` counts from 0 in
  that ``fit`` call) and records what it returns, the step's KL weight, in ``History.beta``. This is how the KL
  warm-up knows how far training has got. Called without it (outside ``fit``), the KL weight is ``beta``.
* ``parameters()``: an objective that is a ``torch.nn.Module`` (as both classes here are) has its parameters (a
  learned prior's) trained by ``fit``'s Adam with the model's; an attribute ``lr`` gives them their own step size.
* ``precision``: ``"auto"``, ``"fp32"`` or ``"bf16"``, how ``fit`` runs the training pass's matrix products (see
  :func:`vae_course.training.autocast_dtype`); a plain function gets ``"auto"``.

Both classes compose what the math allows: a learned prior (notebook 11) with the ELBO or with the importance-weighted
bound, the KL weight beta and its warm-up, free bits, and dynamic binarization (``binarize="dynamic"``: a fresh binary
draw of every training batch, made only while the model is in training mode, so the test figures score the images as
given).

References:
    Kingma & Welling 2013, "Auto-Encoding Variational Bayes" (arXiv:1312.6114): the ELBO.
    Higgins et al. 2017, "beta-VAE" (ICLR): the KL weight.
    Bowman et al. 2016 (arXiv:1511.06349): KL warm-up. Kingma et al. 2016 (arXiv:1606.04934): free bits.
    Burda, Grosse & Salakhutdinov 2015 (arXiv:1509.00519): the importance-weighted bound.
"""
from __future__ import annotations

import torch
from torch import nn

from .checks import _number_at_least_0
from .iwae_loss import _check_k, iwae_terms
from .losses import LIKELIHOODS, ELBOTerms, check_sigma, model_elbo, reconstruction_nll
from .priors import Prior, StandardNormalPrior, prior_kl
from .warmup import _free_bits_terms, kl_weight

PRECISIONS = ("auto", "fp32", "bf16")


class Objective(nn.Module):
    """What :class:`ELBO` and :class:`IWAE` share: the decoder's likelihood, the prior, binarization, precision."""

    def __init__(self, likelihood: str, sigma, prior: Prior | None, binarize: str | None, precision: str):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood={likelihood!r} is not known: use one of {', '.join(LIKELIHOODS)}.")
        check_sigma(sigma)
        if prior is not None and not isinstance(prior, Prior):
            raise TypeError(f"prior must be a prior from vae_course.objectives (e.g. MixtureOfGaussiansPrior) or None, "
                            f"got {type(prior).__name__}.")
        if binarize not in (None, "dynamic"):
            raise ValueError(f"binarize={binarize!r}: use None or 'dynamic' (for a fixed draw, binarize the images "
                             f"once with load_mnist(..., binarize='static')).")
        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r} is not known: use 'auto', 'fp32' or 'bf16'.")
        self.likelihood, self.sigma, self.prior = likelihood, sigma, prior
        self.binarize, self.precision = binarize, precision

    def _images(self, model, x: torch.Tensor) -> torch.Tensor:
        """``x``, or a fresh binary draw of it while ``model`` trains (``binarize="dynamic"``)."""
        return torch.bernoulli(x) if self.binarize == "dynamic" and model.training else x

    def start_step(self, step: int, steps_per_epoch: int) -> float:
        """Called by ``fit`` before every step; returns the step's KL weight (1: no weight to schedule)."""
        return 1.0

    def _options(self, **extra) -> str:
        """The options that differ from the defaults, for ``repr``: ``ELBO(beta=4.0, free_bits=0.25)``."""
        shown = {**extra, "likelihood": self.likelihood, "sigma": self.sigma, "prior": self.prior,
                 "binarize": self.binarize, "precision": self.precision}
        defaults = {"likelihood": "bernoulli", "sigma": 1.0, "prior": None, "binarize": None, "precision": "auto"}
        return ", ".join(f"{k}={type(v).__name__ + '(...)' if isinstance(v, nn.Module) else repr(v)}"
                         for k, v in shown.items() if k not in defaults or not _same(v, defaults[k]))


def _same(a, b) -> bool:
    return a is b or (not isinstance(a, (torch.Tensor, nn.Module)) and a == b)


class ELBO(Objective):
    """The negative ELBO, ``recon + beta * KL`` per image, and its variants: KL warm-up, free bits, a learned prior.

    Args:
        likelihood, sigma: the decoder's distribution (:func:`vae_course.objectives.reconstruction_nll`).
        beta: the KL's weight (beta-VAE, notebook 09); the reported loss stays the plain negative ELBO.
        warmup_epochs: the KL weight grows linearly from 0 to ``beta`` over this many epochs, step by step
            (:func:`vae_course.objectives.kl_weight`).
        free_bits: each latent dimension's batch-mean KL counts as at least this many nats (0: off).
        prior: a learned prior (notebook 11): the KL becomes its one-sample Monte-Carlo estimate
            (:func:`vae_course.objectives.prior_kl`), and ``fit`` trains the prior's parameters with the model's.
        binarize: ``"dynamic"``: a fresh binary draw of every training batch.
        precision: how ``fit`` runs the training pass's matrix products (``"auto"``, ``"fp32"``, ``"bf16"``).
    """

    def __init__(self, likelihood: str = "bernoulli", sigma: float | torch.Tensor = 1.0, beta: float = 1.0,
                 warmup_epochs: float = 0, free_bits: float = 0.0, prior: Prior | None = None, *,
                 binarize: str | None = None, precision: str = "auto"):
        super().__init__(likelihood, sigma, prior, binarize, precision)
        self.beta = _number_at_least_0("beta", beta)
        self.warmup_epochs = _number_at_least_0("warmup_epochs", warmup_epochs)
        self.free_bits = _number_at_least_0("free_bits", free_bits)
        if self.free_bits and prior is not None and not isinstance(prior, StandardNormalPrior):
            raise ValueError("free_bits needs each latent dimension's KL, which a learned prior's Monte-Carlo KL does "
                             "not split into: use free_bits=0 with prior=, or the standard normal prior.")
        self.kl_scale = self.beta  # the KL weight of the next step: start_step sets it during a warm-up

    def start_step(self, step: int, steps_per_epoch: int) -> float:
        self.kl_scale = kl_weight(step, self.warmup_epochs * steps_per_epoch, self.beta)
        return self.kl_scale

    def forward(self, model, x: torch.Tensor, y: torch.Tensor | None = None) -> ELBOTerms:
        x = self._images(model, x)
        if self.prior is not None:
            extra = () if y is None else (y,)
            mu, logvar = model.encode(x, *extra)  # (B, D) each
            z = model.reparameterize(mu, logvar)  # (B, D): the one z both terms use
            context = {"context": x} if getattr(model, "decoder_sees_x", False) else {}
            logits = model.decode_logits(z, *extra, **context)  # (B, 784)
            recon = reconstruction_nll(logits, x, self.likelihood, self.sigma)  # (B,)
            kl = prior_kl(mu, logvar, z, self.prior)  # (B,)
            return ELBOTerms(recon, kl, recon + self.kl_scale * kl)
        if self.free_bits > 0:
            return _free_bits_terms(model, x, y, self.likelihood, self.sigma, self.kl_scale, self.free_bits)
        return model_elbo(model, x, y, likelihood=self.likelihood, sigma=self.sigma, beta=self.kl_scale)

    def extra_repr(self) -> str:
        return self._options(**{k: v for k, v in (("beta", self.beta), ("warmup_epochs", self.warmup_epochs),
                                                  ("free_bits", self.free_bits)) if v != (k == "beta")})


class IWAE(Objective):
    """Minus the importance-weighted bound L_k with ``k`` samples per image (Burda et al. 2015).

    ``IWAE(1)`` is :class:`ELBO`, step for step. With a learned ``prior`` the log-weights are
    ``log p(x|z_j) + log p(z_j) - log q(z_j|x)`` under that prior (and ``analytic_kl``, which uses the standard normal's
    closed-form KL, does not apply). The reported ``recon`` and ``kl`` are the k-sample averages of ``-log p(x|z_j)``
    and of the KL (closed form, or ``log q - log p`` under a learned prior), so the figures stay the negative ELBO.
    See :mod:`vae_course.objectives.iwae_loss` for the two estimates.
    """

    def __init__(self, k: int, likelihood: str = "bernoulli", sigma: float | torch.Tensor = 1.0,
                 prior: Prior | None = None, *, analytic_kl: bool = True, binarize: str | None = None,
                 precision: str = "auto"):
        super().__init__(likelihood, sigma, prior, binarize, precision)
        self.k = _check_k(k)
        if not isinstance(analytic_kl, bool):
            raise TypeError(f"analytic_kl must be True or False, got {analytic_kl!r}.")
        self.analytic_kl = analytic_kl

    def forward(self, model, x: torch.Tensor, y: torch.Tensor | None = None) -> ELBOTerms:
        x = self._images(model, x)
        learned = None if isinstance(self.prior, StandardNormalPrior) else self.prior
        return iwae_terms(model, x, y, self.k, likelihood=self.likelihood, sigma=self.sigma,
                          analytic_kl=self.analytic_kl, prior=learned)

    def extra_repr(self) -> str:
        return self._options(**({} if self.analytic_kl else {"analytic_kl": False})).join(
            [f"k={self.k}, ", ""]).rstrip(", ")


def as_objective(objective):
    """``objective``, or :class:`ELBO` ``()`` for ``None``, after checking that it is callable (one sentence)."""
    if objective is None:
        return ELBO()
    if not callable(objective):
        raise TypeError(f"objective must be a function objective(model, x, y) -> ELBOTerms, or ELBO(...) / IWAE(...) "
                        f"from vae_course.objectives (or None for ELBO()), got {type(objective).__name__}.")
    return objective

