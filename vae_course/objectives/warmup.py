"""The training objective's schedules and variants: the KL warm-up and free bits.

Used by :class:`vae_course.objectives.ELBO` (its ``warmup_epochs`` and ``free_bits``), notebook 09 (posterior
collapse) and ``benchmarks/beta_sweep.py``. The ELBO itself is in :mod:`vae_course.objectives.losses`; this module
holds what changes *how* it is optimized, so the training loop needs nothing from a notebook's module.

* :func:`kl_weight` is the linear KL warm-up (annealing) of Bowman et al. 2016: the weight of the KL term grows
  from 0 to ``beta`` over ``warmup_steps`` optimizer steps and then stays at ``beta``.
* :func:`_free_bits_terms` is the free-bits objective of Kingma et al. 2016: each latent dimension's batch-mean KL
  counts as at least ``free_bits`` nats, so the optimizer gains nothing by pushing a dimension's KL below that.

References:
    Bowman et al. 2016, "Generating Sentences from a Continuous Space" (arXiv:1511.06349): KL annealing.
    Kingma et al. 2016, "Improved Variational Inference with Inverse Autoregressive Flow" (arXiv:1606.04934): free bits.
"""
from __future__ import annotations

import math
import numbers

import torch

from .losses import ELBOTerms, encode_decode, gaussian_kl_per_dim, reconstruction_nll


def _number(name: str, value, *, allow_zero: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{name}={value!r} must be a finite number.")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name}={value!r} must be {'>= 0' if allow_zero else '> 0'}.")
    return float(value)


def kl_weight(step: int, warmup_steps: float, beta: float = 1.0) -> float:
    """The KL weight at optimizer step ``step`` (counting from 0) of a linear warm-up.

    ``beta * min(1, step / warmup_steps)``, and simply ``beta`` when ``warmup_steps == 0`` (no warm-up). ``ELBO``
    calls this once per batch with ``warmup_steps = warmup_epochs * batches_per_epoch``.

        >>> [kl_weight(s, 4, beta=1.0) for s in range(6)]
        [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """
    step = _number("step", step)
    warmup_steps = _number("warmup_steps", warmup_steps)
    beta = _number("beta", beta)
    if warmup_steps == 0:
        return beta
    return beta * min(1.0, step / warmup_steps)


def _free_bits_terms(model, x, y, likelihood, sigma, beta, free_bits) -> ELBOTerms:
    """Objective with free bits (Kingma et al. 2016): each latent dim's batch-mean KL counts as at least ``free_bits``."""
    logits, mu, logvar = encode_decode(model, x, y)
    recon = reconstruction_nll(logits, x, likelihood, sigma)  # (B,)
    kl_dims = gaussian_kl_per_dim(mu, logvar)  # (B, D)
    clamped = torch.clamp(kl_dims.mean(dim=0), min=free_bits).sum()  # scalar
    total = recon + beta * clamped  # (B,) - the clamp acts on the batch mean, as in the paper
    return ELBOTerms(recon, kl_dims.sum(dim=1), total)
