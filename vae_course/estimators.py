"""Two ways to estimate the gradient of an expectation: the score function (REINFORCE) and the pathwise estimator.

Used by notebook 04 (the reparameterization trick).

We want the gradient of ``L(mu, sigma) = E_{z ~ N(mu, sigma^2)}[f(z)]`` with respect to ``(mu, sigma)``. Both
estimators below draw ``z = mu + sigma * eps`` with ``eps ~ N(0, 1)`` and return **one gradient estimate per
sample**, shape ``(n, 2)`` with columns ``(d/dmu, d/dsigma)``; their average over the samples is the estimate, their
spread is what notebook 04 measures.

* Score function (Williams 1992)::

      grad L = E[(f(z) - c) grad log q(z)],   d/dmu log q = (z - mu) / sigma^2,
                                              d/dsigma log q = ((z - mu)^2 - sigma^2) / sigma^3

  It needs only the *values* of ``f`` (f may be a black box, even discrete); ``c`` is an optional constant
  baseline that keeps it unbiased because E[grad log q] = 0.

* Pathwise / reparameterization (Kingma & Welling 2013)::

      grad L = E[f'(z) * dz/d(mu, sigma)] = E[(f'(z), f'(z) * eps)]

  It differentiates through ``f`` with autograd, so ``f`` must be differentiable in ``z``.

References:
    Williams, "Simple statistical gradient-following algorithms for connectionist reinforcement learning", 1992.
    Kingma & Welling, "Auto-Encoding Variational Bayes", 2013.
    Mohamed, Rosca, Figurnov & Mnih, "Monte Carlo Gradient Estimation in Machine Learning", JMLR 2020.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

Objective = Callable[[torch.Tensor], torch.Tensor]


def _check(mu: float, sigma: float, n: int) -> None:
    for name, value in (("mu", mu), ("sigma", sigma)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise TypeError(f"{name}={value!r} must be a finite Python number.")
    if sigma <= 0:
        raise ValueError(f"sigma={sigma!r} must be positive (it is a standard deviation).")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} must be a whole number of samples, at least 1.")


def _eps(n: int, generator: torch.Generator | None, eps: torch.Tensor | None = None) -> torch.Tensor:
    if eps is None:
        return torch.randn(n, generator=generator, dtype=torch.float64)  # (n,)
    if not isinstance(eps, torch.Tensor) or eps.shape != (n,):
        raise ValueError(f"eps must be a tensor of the n={n} standard-normal draws, shape ({n},).")
    return eps.to(torch.float64)


def score_function_samples(f: Objective, mu: float, sigma: float, n: int,
                           generator: torch.Generator | None = None, baseline: float = 0.0,
                           eps: torch.Tensor | None = None) -> torch.Tensor:
    """``n`` score-function (REINFORCE) gradient estimates of E_q[f(z)], shape ``(n, 2)``: (d/dmu, d/dsigma).

    Only f's values are used: ``f`` is called under ``torch.no_grad``. Pass ``eps`` (``(n,)``) to evaluate the
    estimator at given standard-normal points instead of random ones (e.g. quadrature nodes).
    """
    _check(mu, sigma, n)
    z = mu + sigma * _eps(n, generator, eps)  # (n,)
    with torch.no_grad():
        fz = f(z) - baseline  # (n,)
    if fz.shape != z.shape:
        raise ValueError(f"f must map a (n,) tensor of z values to (n,) values, got {tuple(fz.shape)}.")
    d_mu = (z - mu) / sigma ** 2  # (n,)  d/dmu log q(z)
    d_sigma = ((z - mu) ** 2 - sigma ** 2) / sigma ** 3  # (n,)  d/dsigma log q(z)
    return torch.stack([fz * d_mu, fz * d_sigma], dim=1)  # (n, 2)


def pathwise_samples(f: Objective, mu: float, sigma: float, n: int,
                     generator: torch.Generator | None = None, eps: torch.Tensor | None = None) -> torch.Tensor:
    """``n`` pathwise (reparameterization) gradient estimates of E_q[f(z)], shape ``(n, 2)``: (d/dmu, d/dsigma).

    ``z = mu + sigma * eps``; autograd gives f'(z_i), and the chain rule gives dz/dmu = 1, dz/dsigma = eps.
    Pass ``eps`` (``(n,)``) to evaluate at given standard-normal points instead of random ones.
    """
    _check(mu, sigma, n)
    eps = _eps(n, generator, eps)  # (n,)
    z = (mu + sigma * eps).requires_grad_(True)  # (n,)
    fz = f(z)  # (n,)
    if fz.shape != z.shape:
        raise ValueError(f"f must map a (n,) tensor of z values to (n,) values, got {tuple(fz.shape)}.")
    (df_dz,) = torch.autograd.grad(fz.sum(), z)  # (n,) = f'(z_i): each f(z_i) depends on z_i only
    return torch.stack([df_dz, df_dz * eps], dim=1)  # (n, 2)


ESTIMATORS = {"score function": score_function_samples, "pathwise": pathwise_samples}


def variance_of_mean(sample_fn: Callable[..., torch.Tensor], f: Objective, mu: float, sigma: float,
                     sample_counts: list[int], repeats: int = 1000, seed: int = 0, **kwargs) -> torch.Tensor:
    """MEASURE the variance of the ``n``-sample average estimator, for each ``n`` in ``sample_counts``.

    For each ``n`` it draws ``repeats`` independent estimates, each the mean of ``n`` per-sample estimates from
    ``sample_fn(f, mu, sigma, n, generator, **kwargs)``, and returns their variance across the repeats.

    Returns:
        ``(len(sample_counts), 2)``: the variance of the d/dmu and d/dsigma estimates.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 2:
        raise ValueError(f"repeats={repeats!r} must be a whole number, at least 2.")
    if not sample_counts:
        raise ValueError("sample_counts must list at least one sample count.")
    gen = torch.Generator().manual_seed(seed)
    out = []
    for n in sample_counts:
        per_sample = sample_fn(f, mu, sigma, n * repeats, gen, **kwargs)  # (repeats * n, 2)
        means = per_sample.reshape(repeats, n, 2).mean(1)  # (repeats, 2)
        out.append(means.var(0))  # (2,)
    return torch.stack(out)  # (len(sample_counts), 2)


def gauss_hermite_moments(sample_fn: Callable[..., torch.Tensor], f: Objective, mu: float, sigma: float,
                          nodes: int = 60, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact mean and per-sample variance of an estimator, by Gauss-Hermite quadrature over eps ~ N(0, 1).

    The quadrature with ``nodes`` points is exact when the estimator squared is a polynomial in eps of degree below
    ``2 * nodes`` (e.g. f quadratic), and very accurate for smooth f. Returns ``(mean, variance)``, each ``(2,)``.
    """
    import numpy as np

    x, w = np.polynomial.hermite_e.hermegauss(nodes)  # probabilists' Hermite: weight exp(-x^2 / 2)
    eps = torch.as_tensor(x, dtype=torch.float64)
    weights = torch.as_tensor(w / math.sqrt(2 * math.pi), dtype=torch.float64).unsqueeze(1)  # (nodes, 1), sum 1
    g = sample_fn(f, mu, sigma, nodes, None, eps=eps, **kwargs)  # (nodes, 2): the estimator at each node
    mean = (weights * g).sum(0)
    return mean, (weights * (g - mean) ** 2).sum(0)
