"""ELBO surgery (Hoffman & Johnson 2016): the average KL term = mutual information + KL(aggregate posterior || prior).

Used by notebook 11. Over N images x_1..x_N (the test set, say), let q(z) = (1/N) sum_j q(z|x_j) be the
*aggregate posterior* and let i be uniform over the images. Then

    (1/N) sum_i KL(q(z|x_i) || p(z)) = I_q(i; z) + KL(q(z) || p(z)),

    I_q(i; z) = (1/N) sum_i E_{q(z|x_i)}[log q(z|x_i) - log q(z)]   (between 0 and log N),
    KL(q(z) || p(z)) = (1/N) sum_i E_{q(z|x_i)}[log q(z) - log p(z)].

Adding the two integrands gives log q(z|x_i) - log p(z), whose expectation is the average KL: the identity holds
sample by sample. :func:`elbo_surgery` estimates both parts by Monte Carlo with the same draws z ~ q(z|x_i), and the
average KL in closed form for the standard normal prior (by Monte Carlo otherwise), each with its standard error
over the images (the gap's from the per-image gaps).
q(z) here is exactly the finite mixture over the N images, so log q(z) is computed, not estimated.

References:
    Hoffman & Johnson 2016, "ELBO surgery: yet another way to carve up the variational evidence lower bound",
    NIPS Workshop on Advances in Approximate Bayesian Inference.
    Makhzani et al. 2015, "Adversarial Autoencoders" (arXiv:1511.05644): the aggregate posterior.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..objectives.losses import check_unit_interval
from ..objectives.priors import Prior, StandardNormalPrior, diagonal_normal_log_prob, mixture_log_prob, prior_kl


@dataclass(frozen=True)
class Surgery:
    """The three figures of :func:`elbo_surgery`, nats per image, each with its standard error over the images."""

    average_kl: float
    average_kl_se: float
    mutual_information: float
    mutual_information_se: float
    marginal_kl: float  # KL(q(z) || p(z))
    marginal_kl_se: float
    n_images: int
    samples_per_image: int
    gap_se: float  # s.e. of the gap, from the per-image gaps (the three parts share their draws: not independent)

    @property
    def max_mutual_information(self) -> float:
        """log N: I_q(i; z) can never exceed the entropy of a uniform index over N images."""
        return math.log(self.n_images)

    @property
    def gap(self) -> float:
        """average KL - (I + marginal KL): zero up to Monte-Carlo error (the closed-form KL has none).

        Its standard error ``gap_se`` is std/sqrt(N) of the per-image gaps avg_i - info_i - marginal_i: the three
        parts use the same draws, so adding their standard errors as if independent would overstate it. When the
        average KL is itself estimated from those draws (any prior but the standard normal) the per-image gap is
        (log q(z|x) - log p) - (log q(z|x) - log q(z)) - (log q(z) - log p) = 0 up to rounding, and so is gap_se."""
        return self.average_kl - self.mutual_information - self.marginal_kl


def aggregate_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """log q(z) = log (1/N) sum_j N(z; mu_j, diag(exp(logvar_j))) for each row of z (M, D); mu, logvar (N, D): (M,).

    Computed in chunks of ``chunk`` rows of z, so memory stays at chunk * N * D floats."""
    log_w = torch.full((mu.shape[0],), -math.log(mu.shape[0]), dtype=mu.dtype, device=mu.device)
    return torch.cat([mixture_log_prob(z[s:s + chunk], mu, logvar, log_w) for s in range(0, len(z), chunk)])


def _mean_se(per_image: torch.Tensor) -> tuple[float, float]:
    n = per_image.numel()
    se = per_image.std().item() / math.sqrt(n) if n > 1 else float("nan")
    return per_image.mean().item(), se


@torch.no_grad()
def elbo_surgery(model, images: torch.Tensor, prior: Prior | None = None, *, samples_per_image: int = 1,
                 chunk: int = 256, seed: int = 0) -> Surgery:
    """Split the average KL term of ``model`` over ``images`` (N, 784) in [0, 1] into I_q(i; z) + KL(q(z) || p(z)).

    ``prior`` defaults to the standard normal. ``samples_per_image`` draws z ~ q(z|x_i) per image (seeded by
    ``seed``); the standard errors are over the N per-image averages.
    """
    if not isinstance(images, torch.Tensor) or images.ndim < 2 or len(images) < 2:
        raise ValueError("images must be a tensor of at least 2 images, shaped (N, 784) or (N, 1, 28, 28).")
    check_unit_interval(images)
    if isinstance(samples_per_image, bool) or not isinstance(samples_per_image, int) or samples_per_image < 1:
        raise ValueError(f"samples_per_image={samples_per_image!r} must be a whole number >= 1.")
    prior = prior if prior is not None else StandardNormalPrior(model.config.latent_dim)
    flat = images.reshape(len(images), -1).to(next(model.parameters()).dtype)
    mu, logvar = model.encode(flat)  # (N, D) each
    n, d = mu.shape
    gen = torch.Generator().manual_seed(seed)
    eps = torch.randn(samples_per_image, n, d, generator=gen, dtype=mu.dtype)  # (S, N, D)
    z = mu + torch.exp(0.5 * logvar) * eps  # (S, N, D): z_si ~ q(z|x_i)
    flat_z = z.reshape(-1, d)  # (S*N, D)
    log_q_own = diagonal_normal_log_prob(z, mu, logvar)  # (S, N)
    log_q_agg = aggregate_log_prob(flat_z, mu, logvar, chunk).reshape(samples_per_image, n)  # (S, N)
    log_p = prior.log_prob(flat_z).reshape(samples_per_image, n)  # (S, N)
    if isinstance(prior, StandardNormalPrior):
        avg = prior_kl(mu, logvar, z[0], prior)  # (N,): closed form
    else:
        avg = (log_q_own - log_p).mean(dim=0)  # (N,)
    info = (log_q_own - log_q_agg).mean(dim=0)  # (N,)
    marginal = (log_q_agg - log_p).mean(dim=0)  # (N,)
    _, gap_se = _mean_se(avg - info - marginal)  # (N,) per-image gaps
    return Surgery(*_mean_se(avg), *_mean_se(info), *_mean_se(marginal), n, samples_per_image, gap_se)


@dataclass(frozen=True)
class PriorHoleMass:
    """``mass`` = P_{z ~ p}[q(z) < fraction * p(z)] for a prior p, a Monte-Carlo estimate with its standard error."""

    mass: float
    stderr: float
    fraction: float
    draws: int


@torch.no_grad()
def hole_mass(mu: torch.Tensor, logvar: torch.Tensor, prior: Prior | None = None, *, fraction: float = 0.1,
              draws: int = 4000, seed: int = 0, chunk: int = 256) -> PriorHoleMass:
    """How much of the prior's mass lies in *holes*, where the aggregate posterior q(z) of the posteriors ``mu``,
    ``logvar`` (N, D) is below ``fraction`` times p(z): codes drawn from the prior that the decoder hardly ever saw.

    ``draws`` codes z ~ p (seeded by ``seed``), log q(z) exact (:func:`aggregate_log_prob`), the binomial standard
    error. The standard normal default gives :func:`vae_course.evaluation.prior_hole_mass`'s figure.
    """
    if not 0 < fraction < math.inf:
        raise ValueError(f"fraction={fraction!r} must be a positive number (a hole is where q(z) < fraction * p(z)).")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ValueError(f"draws={draws!r} must be a positive whole number of prior samples.")
    prior = prior if prior is not None else StandardNormalPrior(mu.shape[1])
    z = prior.sample(draws, generator=torch.Generator().manual_seed(seed)).to(mu.dtype)  # (M, D)
    holes = (aggregate_log_prob(z, mu, logvar, chunk) < prior.log_prob(z) + math.log(fraction)).double()  # (M,)
    mass = holes.mean().item()
    return PriorHoleMass(mass, math.sqrt(mass * (1 - mass) / draws), float(fraction), draws)
