"""Where the gap goes: a separate Gaussian q for each image, and the split of log p(x) - ELBO into two gaps.

Used by notebook 08 (the amortization gap of the reference and the best model, Cremer, Li & Duvenaud 2018) and
notebook 02's toy checks (the per-image optimum is the best q of the family, and no better).

For one image, the encoder's ``q_enc = N(mu_phi(x), diag sigma_phi(x)^2)`` is one member of the diagonal-Gaussian
family. The best member, ``q* = argmax_q ELBO(q)``, is found here by gradient ascent on ``(mu, logvar)`` of that
image alone, starting from ``q_enc``. Then::

    log p(x) - ELBO(q_enc) = [log p(x) - ELBO(q*)]  +  [ELBO(q*) - ELBO(q_enc)]
                              approximation gap         amortization gap

The approximation gap is what the family costs; the amortization gap is what sharing one encoder over all images
costs. ``log p(x)`` is estimated by the importance-weighted bound with ``q*`` as the proposal, a lower bound, so the
approximation gap printed is a lower bound on the true one too.

The ELBO is ``E_q[log p(x, z)] + H(q)`` with the entropy ``H`` in closed form and the expectation averaged over a fixed
set of S standard-normal draws ("common random numbers"), **whitened** so that their sample mean is exactly 0 and
their sample covariance exactly I. Then the estimate is exact for any log p(x, z) that is quadratic in z (the
linear-Gaussian toys), and the optimisation is of a fixed, smooth function. :func:`optimise_q` keeps, for every image,
the best q it has seen under that estimate, so it never returns a q with a lower ELBO than it started from.

References:
    Cremer, Li & Duvenaud, "Inference Suboptimality in Variational Autoencoders", ICML 2018 (arXiv:1801.03558).
    Krishnan, Liang & Hoffman, "On the challenges of learning with inference networks on sparse, high-dimensional
    data", AISTATS 2018 (per-image refinement of the encoder's q).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch.distributions import Independent, Normal

from .iwae import importance_weighted_bound, vae_log_joint

LogJointZ = Callable[[torch.Tensor], torch.Tensor]  # z (S, B, D) -> log p(x, z) (S, B)


def whitened_noise(n_samples: int, dim: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    """``(S, D)`` standard-normal draws transformed to sample mean exactly 0 and sample covariance exactly I."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples <= dim:
        raise ValueError(f"n_samples={n_samples!r} must be a whole number larger than the latent size {dim}.")
    gen = torch.Generator().manual_seed(seed)
    eps = torch.randn(n_samples, dim, generator=gen, dtype=torch.float64)
    eps = eps - eps.mean(0)
    cov = eps.T @ eps / n_samples  # (D, D), the biased sample covariance
    eps = eps @ torch.linalg.inv(torch.linalg.cholesky(cov)).T  # now eps.T @ eps / S == I
    return eps.to(dtype)


def noise_elbo(log_joint: LogJointZ, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """``mean_s log p(x, mu + sigma * eps_s) + H(q)`` per image ``(B,)``, for ``q = N(mu, diag exp(logvar))`` (B, D).

    ``H(q) = 1/2 sum_j (log(2 pi) + 1 + logvar_j)``. ``eps`` is ``(S, D)``, shared by every image.
    """
    z = mu.unsqueeze(0) + torch.exp(0.5 * logvar).unsqueeze(0) * eps.unsqueeze(1).to(mu.dtype)  # (S, B, D)
    values = log_joint(z)  # (S, B)
    if values.shape != z.shape[:2]:
        raise ValueError(f"log_joint must map z (S, B, D) to (S, B), got {tuple(values.shape)}.")
    entropy = 0.5 * (math.log(2 * math.pi) + 1 + logvar).sum(-1)  # (B,)
    return values.mean(0) + entropy


@dataclass
class LocalQ:
    """The per-image optimum: ``mu``, ``logvar`` ``(B, D)``; ``elbo_start``, ``elbo`` ``(B,)`` under the fixed noise."""

    mu: torch.Tensor
    logvar: torch.Tensor
    elbo_start: torch.Tensor
    elbo: torch.Tensor
    steps: int

    @property
    def gain(self) -> torch.Tensor:
        """``elbo - elbo_start`` per image, ``(B,)``; never negative."""
        return self.elbo - self.elbo_start


def optimise_q(log_joint: LogJointZ, mu0: torch.Tensor, logvar0: torch.Tensor, *, steps: int = 300, lr: float = 0.05,
               n_samples: int = 64, seed: int = 0) -> LocalQ:
    """Gradient ascent (Adam, learning rate decayed linearly to 0) on each image's own ``(mu, logvar)``.

    Args:
        log_joint: ``z (S, B, D) -> log p(x, z) (S, B)`` for the B images (see :func:`vae_log_joint_z`).
        mu0, logvar0: the starting q of each image ``(B, D)``, e.g. the encoder's.
        steps, lr: Adam's steps and initial learning rate; n_samples, seed: the fixed whitened noise.
    Returns:
        :class:`LocalQ` with, per image, the best q seen (the start included) under the fixed-noise ELBO.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps={steps!r} must be a whole number, at least 0.")
    if mu0.shape != logvar0.shape or mu0.ndim != 2:
        raise ValueError(f"mu0 and logvar0 must both be (B, D), got {tuple(mu0.shape)} and {tuple(logvar0.shape)}.")
    eps = whitened_noise(n_samples, mu0.shape[1], seed, mu0.dtype).to(mu0.device)
    mu = mu0.detach().clone().requires_grad_(True)
    logvar = logvar0.detach().clone().requires_grad_(True)
    with torch.no_grad():
        start = noise_elbo(log_joint, mu, logvar, eps)
    best, best_mu, best_logvar = start.clone(), mu.detach().clone(), logvar.detach().clone()
    opt = torch.optim.Adam([mu, logvar], lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: max(0.0, 1 - t / max(steps, 1)))
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        value = noise_elbo(log_joint, mu, logvar, eps)  # (B,); images are independent, so one sum serves all
        (-value.sum()).backward()
        with torch.no_grad():  # value belongs to the parameters before this step
            better = value.detach() > best
            best = torch.where(better, value.detach(), best)
            best_mu[better], best_logvar[better] = mu.detach()[better], logvar.detach()[better]
        opt.step()
        sched.step()
    with torch.no_grad():  # the final parameters, after the last step
        value = noise_elbo(log_joint, mu, logvar, eps)
        better = torch.isfinite(value) & (value > best)
        best = torch.where(better, value, best)
        best_mu[better], best_logvar[better] = mu.detach()[better], logvar.detach()[better]
    return LocalQ(best_mu, best_logvar, start, best, steps)


def vae_log_joint_z(model, x: torch.Tensor, *, likelihood: str = "bernoulli", sigma: float = 1.0) -> LogJointZ:
    """``z (S, B, D) -> log p(x, z) (S, B)`` for a course VAE and the images ``x`` ``(B, ...)``."""
    joint = vae_log_joint(model, likelihood=likelihood, sigma=sigma)
    return lambda z: joint(x, z)


@dataclass
class GapSplit:
    """Per image ``(B,)``: ``log_px`` (the IWAE estimate with q* as proposal), ``elbo_encoder`` and ``elbo_optimised``
    (both estimated with fresh noise, independent of the optimisation)."""

    log_px: torch.Tensor
    elbo_encoder: torch.Tensor
    elbo_optimised: torch.Tensor
    k: int

    @property
    def approximation_gap(self) -> torch.Tensor:
        return self.log_px - self.elbo_optimised

    @property
    def amortization_gap(self) -> torch.Tensor:
        return self.elbo_optimised - self.elbo_encoder

    @property
    def inference_gap(self) -> torch.Tensor:
        return self.log_px - self.elbo_encoder

    def summary(self) -> dict[str, tuple[float, float]]:
        """``{name: (mean, standard error over the images)}`` in nats per image."""
        out = {}
        for name in ("approximation_gap", "amortization_gap", "inference_gap"):
            v = getattr(self, name).double()
            out[name] = (float(v.mean()), float(v.std() / math.sqrt(v.numel())) if v.numel() > 1 else float("nan"))
        return out


def gap_split(model, x: torch.Tensor, *, steps: int = 300, lr: float = 0.05, n_samples: int = 64, k: int = 1000,
              eval_samples: int = 1000, seed: int = 0) -> GapSplit:
    """Split ``log p(x) - ELBO(q_enc)`` of each image of the batch ``x`` (binary, Bernoulli decoder) into two gaps.

    The ELBOs of ``q_enc`` and ``q*`` are re-estimated with ``eval_samples`` fresh whitened draws (seed + 1), so the
    optimisation's own noise does not flatter ``q*``; ``log p(x)`` is one draw of ``L_k`` with ``q*`` as proposal.
    """
    model.eval()
    params = next(model.parameters())
    x = x.to(params.device, params.dtype)
    with torch.no_grad():
        mu0, logvar0 = model.encode(x)
    log_joint = vae_log_joint_z(model, x)
    local = optimise_q(log_joint, mu0, logvar0, steps=steps, lr=lr, n_samples=n_samples, seed=seed)
    eps = whitened_noise(eval_samples, mu0.shape[1], seed + 1, mu0.dtype).to(mu0.device)
    with torch.no_grad():
        chunks = eps.split(250)  # the noise-ELBO of all draws is the size-weighted mean of the chunks' (B,) values

        def averaged(mu, logvar):
            return sum(noise_elbo(log_joint, mu, logvar, e) * e.shape[0] for e in chunks) / eps.shape[0]

        enc, opt = averaged(mu0, logvar0), averaged(local.mu, local.logvar)
        q_star = Independent(Normal(local.mu, torch.exp(0.5 * local.logvar)), 1)
        gen = torch.Generator().manual_seed(seed + 2)
        log_px = importance_weighted_bound(vae_log_joint(model), lambda _: q_star, x, k,
                                           chunk=max(1, min(k, 20_000 // x.shape[0])), generator=gen)
    return GapSplit(log_px.cpu(), enc.cpu(), opt.cpu(), k)
