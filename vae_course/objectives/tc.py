"""beta-TCVAE: the ELBO plus an extra weight on the total correlation of the aggregate posterior, estimated on each
minibatch with the minibatch-weighted sampling (MWS) estimator of Chen et al. 2018.

Used by notebook 15 (``fit(model, x, objective=BetaTCVAE(beta=6, dataset_size=len(x)))``).

The KL term of the ELBO, averaged over the data, splits into three parts (derived in notebook 15)::

    E_p(x)[ KL(q(z|x) || p(z)) ] = I_q(x; z) + TC(q(z)) + sum_d KL(q(z_d) || p(z_d))
    TC(q(z)) = KL( q(z) || prod_d q(z_d) ) = E_q(z)[ log q(z) - sum_d log q(z_d) ]

with q(z) = (1/N) sum_n q(z|x_n) the aggregate posterior. beta-TCVAE weights only the TC by beta: per image
``recon + KL + (beta - 1) * tc``. ``q(z_i)`` for the sample z_i of image i needs all N images; MWS uses the
minibatch of M images, each z_i scored under every q(z|x_j) of the batch::

    log q(z_i)    ~ logsumexp_j [ sum_d log q(z_id | x_j) ] - log(N M)      # (B,)
    log q(z_id)   ~ logsumexp_j [ log q(z_id | x_j) ]       - log(N M)      # (B, D)

The reported ``recon`` and ``kl`` are the plain ELBO's terms, so ``fit``'s loss stays the negative ELBO.

References:
    Chen, Li, Grosse & Duvenaud 2018, "Isolating Sources of Disentanglement in VAEs" (arXiv:1802.04942), eq. (2) and
    appendix C.1 (MWS). Higgins et al. 2017: beta-VAE. Hoffman & Johnson 2016: ELBO surgery (notebook 11).
"""
from __future__ import annotations

import math

import torch

from .checks import _number_at_least_0
from .losses import ELBOTerms, gaussian_kl, reconstruction_nll

LOG_2PI = math.log(2 * math.pi)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``log N(z; mu, exp(logvar))`` elementwise (broadcasting), in nats."""
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar))


def mws_log_densities(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int):
    """MWS estimates of ``log q(z_i)`` ``(B,)`` and of ``sum_d log q(z_id)`` ``(B,)`` for the batch's samples
    ``z`` ``(B, D)`` with the batch's posteriors ``mu``, ``logvar`` ``(B, D)`` and ``dataset_size`` = N."""
    if z.dim() != 2 or z.shape != mu.shape or mu.shape != logvar.shape:
        raise ValueError(f"z, mu and logvar must all be shaped (B, D), got {tuple(z.shape)}, {tuple(mu.shape)} and "
                         f"{tuple(logvar.shape)}.")
    if isinstance(dataset_size, bool) or not isinstance(dataset_size, int) or dataset_size < z.shape[0]:
        raise ValueError(f"dataset_size={dataset_size!r} must be the number of training images N, a whole number at "
                         f"least the batch size {z.shape[0]}.")
    log_norm = math.log(dataset_size * z.shape[0])
    mat = gaussian_log_density(z[:, None, :], mu[None, :, :], logvar[None, :, :])  # (B, B, D): [i, j, d]
    log_qz = torch.logsumexp(mat.sum(2), dim=1) - log_norm  # (B,)
    log_prod = (torch.logsumexp(mat, dim=1) - log_norm).sum(1)  # (B,)
    return log_qz, log_prod


def total_correlation(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int) -> torch.Tensor:
    """The MWS estimate of the total correlation per sample, ``log q(z_i) - sum_d log q(z_id)``: ``(B,)`` nats."""
    log_qz, log_prod = mws_log_densities(z, mu, logvar, dataset_size)
    return log_qz - log_prod


class BetaTCVAE:
    """beta-TCVAE's objective for :func:`vae_course.training.fit`: ``recon + KL + (beta - 1) * TC`` per image.

    Args:
        beta: the total correlation's weight (1: the plain ELBO; Chen et al. use about 6).
        dataset_size: N, the number of training images (the MWS estimator's weights).
        likelihood: the decoder's distribution (``"bernoulli"``, as in the rest of the course).
        precision: ``"fp32"`` by default: the log-sum-exp over the batch wants float32.
    """

    def __init__(self, beta: float = 6.0, dataset_size: int = 60000, likelihood: str = "bernoulli",
                 precision: str = "fp32"):
        self.beta = _number_at_least_0("beta", beta)
        if isinstance(dataset_size, bool) or not isinstance(dataset_size, int) or dataset_size < 1:
            raise ValueError(f"dataset_size={dataset_size!r} must be the number of training images, a positive "
                             f"whole number.")
        self.dataset_size, self.likelihood, self.precision = dataset_size, likelihood, precision

    def __call__(self, model, x: torch.Tensor, y: torch.Tensor | None = None) -> ELBOTerms:
        mu, logvar = model.encode(x)  # (B, D) each
        z = model.reparameterize(mu, logvar)  # (B, D)
        recon = reconstruction_nll(model.decode_logits(z), x, self.likelihood)  # (B,)
        kl = gaussian_kl(mu, logvar)  # (B,)
        n = max(self.dataset_size, z.shape[0])
        tc = total_correlation(z.float(), mu.float(), logvar.float(), n)  # (B,)
        return ELBOTerms(recon, kl, recon + kl + (self.beta - 1) * tc)

    def __repr__(self) -> str:
        return f"BetaTCVAE(beta={self.beta}, dataset_size={self.dataset_size})"
