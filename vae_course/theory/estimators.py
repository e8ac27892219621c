"""Two ways to estimate the gradient of an expectation: the score function (REINFORCE) and the pathwise estimator.

Used by notebook 04 (the reparameterization trick, sticking the landing, the score function measured on the trained
VAE) and notebook 08 (gradient moments, and
:func:`gradient_snr`: the signal-to-noise ratio of the importance-weighted bound's gradient as k grows, Rainforth et
al. 2018, moved here from the IWAE objective because it measures gradients).

We want the gradient of ``f_bar(mu, sigma) = E_{z ~ N(mu, sigma^2)}[f(z)]`` with respect to ``(mu, sigma)``. Both
estimators below draw ``z = mu + sigma * eps`` with ``eps ~ N(0, 1)`` and return **one gradient estimate per
sample**, shape ``(n, 2)`` with columns ``(d/dmu, d/dsigma)``; their average over the samples is the estimate, their
spread is what notebook 04 measures.

* Score function (Williams 1992)::

      grad f_bar = E[(f(z) - c) grad log q(z)],   d/dmu log q = (z - mu) / sigma^2,
                                              d/dsigma log q = ((z - mu)^2 - sigma^2) / sigma^3

  It needs only the *values* of ``f`` (f may be a black box, even discrete); ``c`` is an optional constant
  baseline that keeps it unbiased because E[grad log q] = 0.

* Pathwise / reparameterization (Kingma & Welling 2013; Rezende et al. 2014; Titsias & Lazaro-Gredilla 2014)::

      grad f_bar = E[f'(z) * dz/d(mu, sigma)] = E[(f'(z), f'(z) * eps)]

  It differentiates through ``f`` with autograd, so ``f`` must be differentiable in ``z``.

References:
    Williams, "Simple statistical gradient-following algorithms for connectionist reinforcement learning", 1992.
    Kingma & Welling, "Auto-Encoding Variational Bayes", 2013.
    Rezende, Mohamed & Wierstra, "Stochastic Backpropagation and Approximate Inference in Deep Generative Models", 2014.
    Titsias & Lazaro-Gredilla, "Doubly Stochastic Variational Bayes for non-Conjugate Inference", 2014.
    Mohamed, Rosca, Figurnov & Mnih, "Monte Carlo Gradient Estimation in Machine Learning", JMLR 2020.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..objectives.iwae_loss import _check_k, iwae_terms

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


# --- Sticking the landing (notebook 04, section 8) -----------------------------------------------------------------
def elbo_gradient_samples(log_joint: Objective, mu: float, sigma: float, n: int,
                          generator: torch.Generator | None = None, eps: torch.Tensor | None = None,
                          stick_the_landing: bool = False) -> torch.Tensor:
    """``n`` pathwise estimates of the gradient of the ELBO ``E_q[log p(x, z) - log q(z)]``, shape ``(n, 2)``.

    ``z = mu + sigma * eps``. The total derivative of one sample's ``log p(x, z) - log q_phi(z)`` with respect to
    ``phi = (mu, sigma)`` is the path term ``d/dz [log p(x, z) - log q_phi(z)] * dz/dphi`` minus the score
    ``d/dphi log q_phi(z)`` at fixed z. ``stick_the_landing=True`` (Roeder, Wu & Duvenaud 2017) evaluates log q with
    its parameters detached, which drops the score: the estimate stays unbiased (the score has mean 0) and is exactly
    0 when q is the posterior. ``log_joint`` maps ``(n,)`` z values to ``(n,)`` values of log p(x, z).
    """
    _check(mu, sigma, n)
    eps = _eps(n, generator, eps)  # (n,)
    mu_t = torch.full((n,), float(mu), dtype=torch.float64, requires_grad=True)  # one copy per sample: per-sample grads
    sigma_t = torch.full((n,), float(sigma), dtype=torch.float64, requires_grad=True)
    z = mu_t + sigma_t * eps  # (n,)
    q_mu, q_sigma = (mu_t.detach(), sigma_t.detach()) if stick_the_landing else (mu_t, sigma_t)
    log_q = -0.5 * math.log(2 * math.pi) - torch.log(q_sigma) - 0.5 * ((z - q_mu) / q_sigma) ** 2  # (n,)
    values = log_joint(z)
    if values.shape != z.shape:
        raise ValueError(f"log_joint must map a (n,) tensor of z values to (n,) values, got {tuple(values.shape)}.")
    d_mu, d_sigma = torch.autograd.grad((values - log_q).sum(), (mu_t, sigma_t))
    return torch.stack([d_mu, d_sigma], dim=1)  # (n, 2)


VAE_ESTIMATORS = ("full", "stl", "analytic_kl", "score_function", "score_function_baseline")


def vae_elbo_estimate(model, x: torch.Tensor, eps: torch.Tensor, estimator: str = "full") -> torch.Tensor:
    """One-sample ELBO estimates ``(B,)`` of a course VAE with a Bernoulli decoder, at the given noise ``eps (B, D)``.

    * ``"full"``: ``log p(x|z) + log p(z) - log q(z|x)``, every term differentiated (the plain pathwise estimator);
    * ``"stl"``: the same value, with q's ``mu`` and ``logvar`` detached inside ``log q`` (sticking the landing);
    * ``"analytic_kl"``: ``log p(x|z) - KL(q || p(z))`` with the KL in closed form (the course's training loss);
    * ``"score_function"``: the same value as ``"analytic_kl"``, but its gradient with respect to the encoder is the
      score-function estimate ``f(z) * grad log q(z|x) - grad KL`` with ``f(z) = log p(x|z)`` and ``z`` held fixed
      (no path through the sample); the decoder's gradient is unchanged;
    * ``"score_function_baseline"``: the same with ``f(z) - c(x)``, ``c(x) = log p(x | z = mu)`` per image (a constant
      for the draw, so the estimate stays unbiased).

    On grey levels ``log p(x|z)`` is minus the summed BCE, so the value is an expectation over binarizations
    (notebook 07), not a density.
    """
    if estimator not in VAE_ESTIMATORS:
        raise ValueError(f"estimator={estimator!r}: use one of {', '.join(VAE_ESTIMATORS)}.")
    mu, logvar = model.encode(x)  # (B, D) each
    return _estimate_from_codes(model, x, mu, logvar, eps, estimator)


def _estimate_from_codes(model, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor,
                         estimator: str) -> torch.Tensor:
    """:func:`vae_elbo_estimate` from given code parameters ``mu``, ``logvar`` ``(B, D)``; returns ``(B,)``."""
    from ..objectives.losses import bernoulli_nll, gaussian_kl

    if eps.shape != mu.shape:
        raise ValueError(f"eps must have the shape of the codes {tuple(mu.shape)}, got {tuple(eps.shape)}.")
    z = mu + torch.exp(0.5 * logvar) * eps  # (B, D)
    if estimator.startswith("score_function"):
        z_fixed = z.detach()  # no path from the sample back to mu, logvar
        log_px_z = -bernoulli_nll(model.decode_logits(z_fixed), x)  # (B,), differentiable in the decoder only
        log_q = (-0.5 * (math.log(2 * math.pi) + logvar + (z_fixed - mu) ** 2 / logvar.exp())).sum(-1)  # (B,)
        signal = log_px_z.detach()  # f(z), a number per image
        if estimator == "score_function_baseline":
            with torch.no_grad():
                signal = signal + bernoulli_nll(model.decode_logits(mu), x)  # f(z) - c(x), c(x) = log p(x | mu)
        # value: log p(x|z) - KL; gradient w.r.t. the encoder: signal * grad log q - grad KL
        return log_px_z + signal * (log_q - log_q.detach()) - gaussian_kl(mu, logvar)
    log_px_z = -bernoulli_nll(model.decode_logits(z), x)  # (B,)
    if estimator == "analytic_kl":
        return log_px_z - gaussian_kl(mu, logvar)
    q_mu, q_logvar = (mu.detach(), logvar.detach()) if estimator == "stl" else (mu, logvar)
    log_q = (-0.5 * (math.log(2 * math.pi) + q_logvar + (z - q_mu) ** 2 / q_logvar.exp())).sum(-1)  # (B,)
    log_pz = (-0.5 * (math.log(2 * math.pi) + z ** 2)).sum(-1)  # (B,)
    return log_px_z + log_pz - log_q


def vae_code_gradient_variance(model, x: torch.Tensor, estimators=("analytic_kl", "score_function"),
                               repeats: int = 100, seed: int = 0) -> dict[str, torch.Tensor]:
    """MEASURE, per image, the variance of each estimator's gradient with respect to that image's code parameters.

    The encoder's parameters reach the ELBO only through each image's ``(mu, logvar) = model.encode(x)``; this is the
    noise before the encoder's (deterministic) Jacobian carries it into the weights. Every estimator sees the same
    ``repeats`` noise draws. Returns ``{estimator: (B,) float64}``: the unbiased variance over the draws of the
    gradient with respect to ``(mu, logvar)`` of the image's one-sample estimate, summed over its ``2 D`` entries.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 2:
        raise ValueError(f"repeats={repeats!r} must be a whole number, at least 2.")
    for name in estimators:
        if name not in VAE_ESTIMATORS:
            raise ValueError(f"estimator={name!r}: use one of {', '.join(VAE_ESTIMATORS)}.")
    with torch.no_grad():
        mu0, logvar0 = model.encode(x)  # (B, D) each
    out = {}
    for name in estimators:
        gen = torch.Generator().manual_seed(seed)  # the same draws for every estimator
        s1 = torch.zeros(mu0.shape[0], 2 * mu0.shape[1], dtype=torch.float64)  # (B, 2D)
        s2 = torch.zeros_like(s1)
        for _ in range(repeats):
            mu, logvar = mu0.clone().requires_grad_(True), logvar0.clone().requires_grad_(True)
            eps = torch.randn(mu.shape, generator=gen).to(mu.device, mu.dtype)  # (B, D)
            values = _estimate_from_codes(model, x, mu, logvar, eps, name)  # (B,): image b depends on row b only
            g = torch.cat(torch.autograd.grad(values.sum(), (mu, logvar)), dim=-1).detach().double().cpu()  # (B, 2D)
            s1 += g
            s2 += g * g
        mean = s1 / repeats
        out[name] = ((s2 - repeats * mean ** 2).clamp_min(0) / (repeats - 1)).sum(-1)  # (B,)
    return out


def gradient_moments(estimate: Callable[[torch.Generator], torch.Tensor], params: list[torch.Tensor],
                     repeats: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance, per parameter entry, of the gradient of ``estimate(generator)`` (a scalar) over ``repeats``
    independent draws. Returns two flat float64 tensors ``(P,)`` (P = the number of entries of ``params``); the
    variance is the unbiased sample variance. Sums are kept in float64, so memory is two vectors of P, not repeats x P.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 2:
        raise ValueError(f"repeats={repeats!r} must be a whole number, at least 2.")
    gen = torch.Generator().manual_seed(seed)
    total = sum(p.numel() for p in params)
    s1 = torch.zeros(total, dtype=torch.float64)
    s2 = torch.zeros(total, dtype=torch.float64)
    for _ in range(repeats):
        grads = torch.autograd.grad(estimate(gen), params, allow_unused=True)
        g = torch.cat([(torch.zeros_like(p) if gr is None else gr).reshape(-1) for gr, p in zip(grads, params)])
        g = g.detach().double().cpu()
        s1 += g
        s2 += g * g
    mean = s1 / repeats
    var = (s2 - repeats * mean ** 2).clamp_min(0) / (repeats - 1)
    return mean, var


def encoder_parameters(model) -> list[torch.Tensor]:
    """The parameters that ``model.encode`` uses (those its outputs have a gradient for)."""
    params = [p for p in model.parameters() if p.requires_grad]
    x = torch.zeros(1, *getattr(model.config, "image_shape", (784,)), dtype=params[0].dtype)
    mu, logvar = model.encode(x)
    grads = torch.autograd.grad(mu.sum() + logvar.sum(), params, allow_unused=True)
    return [p for p, g in zip(params, grads) if g is not None]


def vae_gradient_variance(model, x: torch.Tensor, estimators=("full", "stl"), repeats: int = 100,
                          seed: int = 0) -> dict[str, dict[str, float]]:
    """MEASURE the variance of each estimator's gradient of the batch-mean ELBO w.r.t. the encoder's parameters.

    Every estimator sees the same ``repeats`` noise draws (common random numbers, so the comparison is paired).
    Returns ``{estimator: {"total_variance": sum over entries of Var[g], "mean_sq_norm": |E g|^2 estimate}}``.
    """
    params = encoder_parameters(model)
    out = {}
    for name in estimators:
        def estimate(gen, name=name):
            mu_shape = (x.shape[0], model.latent_dim)
            eps = torch.randn(mu_shape, generator=gen).to(x.device, x.dtype)
            return vae_elbo_estimate(model, x, eps, name).mean()

        mean, var = gradient_moments(estimate, params, repeats, seed)
        out[name] = {"total_variance": float(var.sum()), "mean_sq_norm": float((mean ** 2).sum())}
    return out


def decoder_parameters(model) -> list[torch.Tensor]:
    """The parameters that ``model.encode`` does not use."""
    enc = {id(p) for p in encoder_parameters(model)}
    return [p for p in model.parameters() if p.requires_grad and id(p) not in enc]


def gradient_snr(model, x: torch.Tensor, k: int, *, parameters: str | list = "encoder", repeats: int = 100,
                 seed: int = 0, likelihood: str = "bernoulli", sigma: float | torch.Tensor = 1.0,
                 analytic_kl: bool = False) -> torch.Tensor:
    """MEASURE the signal-to-noise ratio ``|E[g_p]| / sd[g_p]`` of each entry p of the gradient of ``L_k``.

    ``g`` is the gradient of the batch-mean estimate of ``L_k`` on ``x`` (pass one image ``(1, ...)`` for the per-image
    SNR of Rainforth et al.), over ``repeats`` independent draws of the k samples. ``parameters``: ``"encoder"``,
    ``"decoder"`` or a list of tensors. Returns ``(P,)`` float64; summarise with the median (entries with zero
    variance, e.g. dead units, give NaN and are best dropped: ``snr[snr.isfinite()]``). The default is Burda et al.'s
    plain estimate (``analytic_kl=False``), the one the SNR results are about.
    """
    k = _check_k(k)
    if parameters == "encoder":
        params = encoder_parameters(model)
    elif parameters == "decoder":
        params = decoder_parameters(model)
    elif isinstance(parameters, (list, tuple)) and parameters:
        params = list(parameters)
    else:
        raise ValueError(f"parameters={parameters!r}: use 'encoder', 'decoder' or a list of the model's tensors.")

    def estimate(gen):
        draw_seed = int(torch.randint(0, 2 ** 62, (1,), generator=gen))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(draw_seed)
            terms = iwae_terms(model, x, None, k, likelihood=likelihood, sigma=sigma, analytic_kl=analytic_kl)
        return -terms.total.mean()

    mean, var = gradient_moments(estimate, params, repeats, seed)
    return mean.abs() / var.sqrt()
