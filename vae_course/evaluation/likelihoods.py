"""Decoder likelihoods as real distributions: what the reconstruction term is, and when it is a log-density.

Used by notebooks 07 (the likelihood table) and 08 (the importance-weighted bound), and by
``benchmarks/likelihood_table.py``.

:mod:`vae_course.objectives.losses` computes the reconstruction terms; this module adds what notebook 07 needs around them:

* :func:`decoder_distribution`: ``p(x|z)`` as a ``torch.distributions`` object (Bernoulli, continuous Bernoulli,
  Gaussian), one event per image, so ``.log_prob(x)`` is ``(B,)`` nats and ``.sample()`` draws images.
* The normalizing constant that BCE on grey levels lacks, in closed form:
  ``int_0^1 lam^x (1 - lam)^(1 - x) dx = (1 - 2 lam) / (2 artanh(1 - 2 lam))`` (:func:`bernoulli_pmf_integral`),
  whose inverse is the continuous Bernoulli's normalizer ``C(lam)`` (:func:`cb_log_normalizer`), and the continuous
  Bernoulli's mean, which is not ``lam`` (:func:`cb_mean`).
* A Gaussian decoder with a *learned* standard deviation (:class:`LearnedSigmaGaussian`, an objective for
  :func:`vae_course.training.fit`) and the closed-form best sigma for a fixed mean (:func:`optimal_gaussian_sigma`).
* The likelihood table that trains one model per likelihood is :func:`vae_course.training.likelihood_table`.

References:
    Loaiza-Ganem & Cunningham, "The continuous Bernoulli: fixing a pervasive error in variational autoencoders",
    NeurIPS 2019 (arXiv:1907.06845).
    Rybkin, Daniilidis & Levine, "Simple and effective VAE training with calibrated decoders", ICML 2021
    (arXiv:2006.13202): learning the Gaussian decoder's sigma.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.distributions import Bernoulli, ContinuousBernoulli, Independent, Normal

from ..objectives.losses import LIKELIHOODS, ELBOTerms, model_elbo

_TAYLOR = 1e-2  # |1 - 2 lam| below this uses a Taylor series (the closed forms are 0/0 at lam = 1/2)


def _as_probs(lam) -> torch.Tensor:
    lam = torch.as_tensor(lam)
    if not lam.is_floating_point():
        lam = lam.to(torch.get_default_dtype())
    if torch.any((lam <= 0) | (lam >= 1)):
        raise ValueError("lam must lie strictly between 0 and 1 (use logits for values that round to 0 or 1).")
    return lam


def bernoulli_pmf_integral(lam) -> torch.Tensor:
    """``int_0^1 lam^x (1 - lam)^(1 - x) dx`` in closed form: ``(1 - 2 lam) / (2 artanh(1 - 2 lam))``.

    It equals 1/2 at ``lam = 1/2`` and falls to 0 as ``lam`` goes to 0 or 1, so the Bernoulli pmf read as a function
    of a grey level ``x`` in [0, 1] never integrates to 1: BCE on grey levels is not a negative log-density.
    """
    lam = _as_probs(lam)
    t = 1 - 2 * lam
    small = t.abs() < _TAYLOR
    t_safe = torch.where(small, torch.full_like(t, 0.5), t)
    exact = t_safe / (2 * torch.atanh(t_safe))
    series = 0.5 - t.pow(2) / 6 - 2 * t.pow(4) / 45  # t / (2 artanh t) around t = 0
    return torch.where(small, series, exact)


def cb_log_normalizer(lam) -> torch.Tensor:
    """``log C(lam)`` of the continuous Bernoulli, ``C(lam) = 2 artanh(1 - 2 lam) / (1 - 2 lam)`` (``log 2`` at 1/2).

    ``C(lam) = 1 / bernoulli_pmf_integral(lam)``, so ``C(lam) lam^x (1 - lam)^(1 - x)`` integrates to 1 on [0, 1].
    """
    lam = _as_probs(lam)
    t = 1 - 2 * lam
    small = t.abs() < _TAYLOR
    t_safe = torch.where(small, torch.full_like(t, 0.5), t)
    exact = torch.log(2 * torch.atanh(t_safe) / t_safe)
    series = math.log(2) + t.pow(2) / 3 + 13 * t.pow(4) / 90  # log(2 artanh(t) / t) around t = 0
    return torch.where(small, series, exact)


def cb_mean(lam) -> torch.Tensor:
    """Mean of the continuous Bernoulli: ``lam / (2 lam - 1) + 1 / (2 artanh(1 - 2 lam))`` (1/2 at 1/2), not ``lam``."""
    lam = _as_probs(lam)
    t = 1 - 2 * lam
    small = t.abs() < _TAYLOR
    t_safe = torch.where(small, torch.full_like(t, 0.5), t)
    lam_safe = (1 - t_safe) / 2
    exact = lam_safe / (2 * lam_safe - 1) + 1 / (2 * torch.atanh(t_safe))
    series = 0.5 - t / 6 - 2 * t.pow(3) / 45  # around t = 0
    return torch.where(small, series, exact)


def optimal_gaussian_sigma(mean: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The sigma that minimizes ``-log N(x; mean, sigma^2 I)`` for each image: the root mean squared error, ``(B,)``.

    Setting ``d/dsigma [ ||x - mean||^2 / (2 sigma^2) + D log sigma ] = 0`` gives ``sigma^2 = ||x - mean||^2 / D``.
    """
    if mean.shape[0] != x.shape[0] or mean[0].numel() != x[0].numel():
        raise ValueError(f"mean {tuple(mean.shape)} and images {tuple(x.shape)} need the same batch and pixel count.")
    diff = (x.reshape(x.shape[0], -1) - mean.reshape(mean.shape[0], -1))  # (B, D)
    return diff.pow(2).mean(dim=1).sqrt()


def decoder_distribution(logits: torch.Tensor, likelihood: str = "bernoulli",
                         sigma: float | torch.Tensor = 1.0) -> torch.distributions.Distribution:
    """``p(x|z)`` for decoder ``logits`` ``(..., D)``: a distribution whose event is one whole (flat) image.

    ``"bernoulli"`` and ``"continuous_bernoulli"`` use the logits directly; ``"gaussian"`` uses ``sigmoid(logits)`` as
    its mean and ``sigma`` (a number or a tensor broadcastable to ``(D,)``) as its standard deviation.
    ``log_prob(x)`` sums over the pixels, so it has the batch shape ``(...)``: nats per image.
    """
    if likelihood == "bernoulli":
        base = Bernoulli(logits=logits, validate_args=False)
    elif likelihood == "continuous_bernoulli":
        base = ContinuousBernoulli(logits=logits, validate_args=False)
    elif likelihood == "gaussian":
        mean = torch.sigmoid(logits)
        scale = torch.as_tensor(sigma, dtype=mean.dtype, device=mean.device)
        if torch.any(scale <= 0):
            raise ValueError("sigma must be positive.")
        base = Normal(mean, scale.expand_as(mean), validate_args=False)
    else:
        raise ValueError(f"likelihood={likelihood!r} is not known: use one of {', '.join(LIKELIHOODS)}.")
    return Independent(base, 1)


class LearnedSigmaGaussian(nn.Module):
    """A Gaussian decoder ``N(x; sigmoid(logits), sigma^2)`` whose sigma is learned with the VAE.

    It is an objective: ``fit`` trains its sigma with the model (at its own step size ``lr`` when given)::

        lik = LearnedSigmaGaussian(per_pixel=True, lr=1e-2)
        fit(model, train_x, epochs=5, objective=lik)

    Args:
        per_pixel: one sigma per pixel (``(784,)``) instead of one for the whole image.
        input_dim: pixels per image.
        init_sigma: starting value of sigma.
        sigma_min: floor, ``sigma = sigma_min + exp(raw)``. Needed: MNIST's border pixels are exactly 0, so a free
            per-pixel sigma would shrink to 0 there and the "log-likelihood" would grow without bound.
        beta: weight of the KL in ``total`` (1 for the plain ELBO).
        lr: Adam's step size for sigma in ``fit`` (None: the model's); sigma needs a larger one than the weights.
    """

    def __init__(self, per_pixel: bool = False, input_dim: int = 784, init_sigma: float = 1.0,
                 sigma_min: float = 0.01, beta: float = 1.0, lr: float | None = None):
        super().__init__()
        if not (sigma_min >= 0 and init_sigma > sigma_min):
            raise ValueError(f"need init_sigma > sigma_min >= 0, got init_sigma={init_sigma}, sigma_min={sigma_min}.")
        if isinstance(input_dim, bool) or not isinstance(input_dim, int) or input_dim <= 0:
            raise ValueError(f"input_dim={input_dim!r} must be a positive whole number.")
        self.per_pixel = bool(per_pixel)
        self.sigma_min = float(sigma_min)
        self.beta = float(beta)
        self.lr = lr
        shape = (input_dim,) if per_pixel else (1,)
        self.raw = nn.Parameter(torch.full(shape, math.log(init_sigma - sigma_min)))  # (D,) or (1,)

    def sigma(self) -> torch.Tensor:
        """The current standard deviation: ``(784,)`` per pixel or ``(1,)``."""
        return self.sigma_min + self.raw.exp()

    def forward(self, model, x: torch.Tensor, y: torch.Tensor | None = None) -> ELBOTerms:
        """``fit``/``evaluate``'s ``objective(model, x, y)``: the ELBO terms with this decoder."""
        return model_elbo(model, x, y, likelihood="gaussian", sigma=self.sigma(), beta=self.beta)
