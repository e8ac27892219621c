"""The checkers of the practice part, notebooks 05-06: the VAE loss (BCE + KL from logits) and a straight path
through latent space.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .core import CheckResult, compare, random_cases


# --- Notebook 05: the VAE loss, reference style (BCE + KL), from decoder logits ---
def _vae_loss_reference(logits, x, mu, logvar, reduction: str = "sum"):
    from ..losses import elbo

    total = elbo(logits.reshape(logits.shape[0], -1), x.reshape(x.shape[0], -1), mu, logvar).total  # (B,)
    return total.sum() if reduction == "sum" else total


def check_vae_loss(student_fn: Callable, reduction: str = "sum") -> CheckResult:
    """Notebook 05: ``vae_loss(logits, x, mu, logvar)`` -> BCE(x | sigmoid(logits)) + KL(N(mu, e^logvar) || N(0, I)).

    ``logits`` is ``(B, 784)``, ``x`` is ``(B, 1, 28, 28)`` or ``(B, 784)``, ``mu``/``logvar`` are ``(B, D)``.
    With ``reduction="sum"`` (the reference script's style) the answer is one number summed over the batch; with
    ``reduction="none"`` it is one value per image, ``(B,)``. Compared with :func:`vae_course.losses.elbo`.
    """
    if reduction not in ("sum", "none"):
        raise ValueError(f"reduction={reduction!r}: use 'sum' (one number for the batch) or 'none' (one per image).")

    def reference(logits, x, mu, logvar):
        return _vae_loss_reference(logits, x, mu, logvar, reduction)

    def make(gen):
        b = int(torch.randint(1, 9, (), generator=gen))
        d = (2, 20)[int(torch.randint(0, 2, (), generator=gen))]
        logits = 3 * torch.randn(b, 784, generator=gen)
        x = torch.rand(b, 1, 28, 28, generator=gen)
        mu, logvar = torch.randn(b, d, generator=gen), 0.5 * torch.randn(b, d, generator=gen)
        return (logits, x, mu, logvar), {}

    gen = torch.Generator().manual_seed(5)
    flip = torch.bernoulli(torch.full((3, 784), 0.5), generator=gen)  # (3, 784) binary pixels
    sure = 30.0 * (2 * torch.bernoulli(torch.full((3, 784), 0.5), generator=gen) - 1)  # logits of +-30
    cases = [
        ("logits 0, x 0, mu 0, logvar 0: 784 log 2 per image",
         (torch.zeros(2, 784), torch.zeros(2, 784), torch.zeros(2, 2), torch.zeros(2, 2)), {}),
        ("grey x of shape (B, 1, 28, 28), mu (1, -1), logvar (0, log 4)",
         (torch.zeros(1, 784), torch.full((1, 1, 28, 28), 0.5), torch.tensor([[1.0, -1.0]]),
          torch.tensor([[0.0, math.log(4.0)]])), {}),
        ("confident logits (+-30) with some wrong pixels", (sure, flip, torch.zeros(3, 2), torch.zeros(3, 2)), {}),
    ]
    cases += random_cases(make, 4, seed=55)
    shape = "one number for the whole batch (sum over images)" if reduction == "sum" else "one value per image, (B,)"
    return compare(student_fn, reference, cases, name="vae_loss",
                   hint=f"flatten x to (B, 784); BCE = F.binary_cross_entropy_with_logits(logits, x, "
                        f"reduction='none').sum(1) (stable for large logits: sigmoid then log saturates at 1.0 and "
                        f"torch clamps log(0) to -100); KL = -0.5 * (1 + logvar - mu^2 - logvar.exp()).sum(1); "
                        f"return {shape}.",
                   atol=1e-3, rtol=1e-4)


# --- Notebook 06: a straight path through latent space ---
def _interpolation_path_reference(z0, z1, steps):
    from ..latent_space import interpolate

    return interpolate(z0, z1, torch.linspace(0, 1, steps, dtype=z0.dtype))


def check_interpolation_path(student_fn: Callable) -> CheckResult:
    """Notebook 06: ``interpolation_path(z0, z1, steps)`` -> ``(steps, D)`` codes from ``z0`` to ``z1`` (both included),
    evenly spaced on the straight line; compared with :func:`vae_course.latent_space.interpolate`."""

    def make(gen):
        d = (2, 20)[int(torch.randint(0, 2, (), generator=gen))]
        steps = int(torch.randint(2, 13, (), generator=gen))
        return (torch.randn(d, generator=gen), torch.randn(d, generator=gen), steps), {}

    t = torch.tensor
    cases = [("2 steps: just the endpoints", (t([0.0, 0.0]), t([1.0, -2.0]), 2), {}),
             ("5 steps from (0, 0) to (1, -2)", (t([0.0, 0.0]), t([1.0, -2.0]), 5), {}),
             ("3 steps in 4-D", (t([1.0, 2.0, 3.0, 4.0]), t([-1.0, 0.0, 3.0, 8.0]), 3), {})]
    cases += random_cases(make, 4, seed=66)
    return compare(student_fn, _interpolation_path_reference, cases, name="interpolation_path",
                   hint="t = torch.linspace(0, 1, steps) gives steps values with both ends; stack (1 - t_i) * z0 + "
                        "t_i * z1 into a (steps, D) tensor, e.g. z0 + t[:, None] * (z1 - z0).")
