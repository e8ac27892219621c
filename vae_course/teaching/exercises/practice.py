"""The exercises of the practice part, notebooks 05-06: the VAE loss (BCE + KL from logits) and a straight path
through latent space. (Notebook 05's VAE module and training step are in :mod:`.practice_models`.)
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .core import CheckResult, Exercise, compare, random_cases


# --- Notebook 05: the VAE loss, reference style (BCE + KL), from decoder logits ---
def _vae_loss_reference(logits, x, mu, logvar, reduction: str = "sum"):
    from ...objectives.losses import elbo

    total = elbo(logits.reshape(logits.shape[0], -1), x.reshape(x.shape[0], -1), mu, logvar).total  # (B,)
    return total.sum() if reduction == "sum" else total


def check_vae_loss(student_fn: Callable, reduction: str = "sum") -> CheckResult:
    """Notebook 05: ``vae_loss(logits, x, mu, logvar)`` -> BCE(x | sigmoid(logits)) + KL(N(mu, e^logvar) || N(0, I)).

    ``logits`` is ``(B, 784)``, ``x`` is ``(B, 1, 28, 28)`` or ``(B, 784)``, ``mu``/``logvar`` are ``(B, D)``.
    With ``reduction="sum"`` (the reference script's style) the answer is one number summed over the batch; with
    ``reduction="none"`` it is one value per image, ``(B,)``. Compared with :func:`vae_course.objectives.elbo`.
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
    diagnoses = [
        ("Your loss is one value per image: here it is one number for the whole batch (sum over the images).",
         lambda logits, x, mu, lv: _vae_loss_reference(logits, x, mu, lv, "none")),
        ("Your BCE seems to go through sigmoid probabilities: for confident logits they round to exactly 0 or 1 "
         "and torch clamps the log at -100. Compute the BCE from the logits themselves.",
         lambda logits, x, mu, lv: _through_probabilities(logits, x, mu, lv, reduction)),
        ("You might be averaging the BCE over the pixels (or the images) where the loss sums them.",
         lambda logits, x, mu, lv: _mean_bce(logits, x, mu, lv, reduction)),
        ("The KL term seems to be missing: the loss is the reconstruction term plus the KL.",
         lambda logits, x, mu, lv: _vae_loss_reference(logits, x, mu, lv, reduction) - _kl(mu, lv, reduction)),
        ("The KL term seems to have the wrong sign: the loss adds it.",
         lambda logits, x, mu, lv: _vae_loss_reference(logits, x, mu, lv, reduction) - 2 * _kl(mu, lv, reduction)),
    ]
    return compare(student_fn, reference, cases, name="vae_loss", diagnoses=diagnoses)


def _kl(mu, logvar, reduction):
    from ...objectives.losses import gaussian_kl

    kl = gaussian_kl(mu, logvar)
    return kl.sum() if reduction == "sum" else kl


def _through_probabilities(logits, x, mu, logvar, reduction):
    import torch.nn.functional as F

    probs, flat = torch.sigmoid(logits.reshape(len(logits), -1)), x.reshape(len(x), -1)
    bce = F.binary_cross_entropy(probs, flat, reduction="none").sum(1)
    return (bce.sum() if reduction == "sum" else bce) + _kl(mu, logvar, reduction)


def _mean_bce(logits, x, mu, logvar, reduction):
    import torch.nn.functional as F

    bce = F.binary_cross_entropy_with_logits(logits.reshape(len(logits), -1), x.reshape(len(x), -1),
                                             reduction="none").mean(1)
    return (bce.mean() if reduction == "sum" else bce) + _kl(mu, logvar, reduction)


# --- Notebook 06: a straight path through latent space ---
def _interpolation_path_reference(z0, z1, steps):
    from ...evaluation.latent_space import interpolate

    return interpolate(z0, z1, torch.linspace(0, 1, steps, dtype=z0.dtype))


def check_interpolation_path(student_fn: Callable) -> CheckResult:
    """Notebook 06: ``interpolation_path(z0, z1, steps)`` -> ``(steps, D)`` codes from ``z0`` to ``z1`` (both included),
    evenly spaced on the straight line; compared with :func:`vae_course.evaluation.interpolate`."""

    def make(gen):
        d = (2, 20)[int(torch.randint(0, 2, (), generator=gen))]
        steps = int(torch.randint(2, 13, (), generator=gen))
        return (torch.randn(d, generator=gen), torch.randn(d, generator=gen), steps), {}

    t = torch.tensor
    cases = [("2 steps: just the endpoints", (t([0.0, 0.0]), t([1.0, -2.0]), 2), {}),
             ("5 steps from (0, 0) to (1, -2)", (t([0.0, 0.0]), t([1.0, -2.0]), 5), {}),
             ("3 steps in 4-D", (t([1.0, 2.0, 3.0, 4.0]), t([-1.0, 0.0, 3.0, 8.0]), 3), {})]
    cases += random_cases(make, 4, seed=66)
    diagnoses = [
        ("Your path stops one step short of z1: both endpoints belong to it.",
         lambda z0, z1, steps: z0 + torch.linspace(0, 1, steps + 1, dtype=z0.dtype)[:-1, None] * (z1 - z0)),
        ("Your path seems to run backwards, from z1 to z0.",
         lambda z0, z1, steps: _interpolation_path_reference(z1, z0, steps)),
    ]
    return compare(student_fn, _interpolation_path_reference, cases, name="interpolation_path", diagnoses=diagnoses)


EXERCISES = (
    Exercise("vae_loss", check_vae_loss, _vae_loss_reference, (
        "The loss is the negative ELBO of the batch: how badly the decoder reconstructs x (a binary "
        "cross-entropy) plus how far q(z|x) is from the prior (a KL), summed over the batch as in the reference "
        "script.",
        "Flatten x to (B, 784). Compute the cross-entropy from the logits directly (stable for large logits), "
        "summed over pixels and images; add the Gaussian KL summed over the latent dimensions and images.",
        "`F.binary_cross_entropy_with_logits(logits, x.reshape(len(x), -1), reduction='sum')` plus "
        "`-0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp())`."), "05"),
    Exercise("interpolation_path", check_interpolation_path, _interpolation_path_reference, (
        "The points of the straight segment from z0 to z1 are z0 + t (z1 - z0) for t running from 0 to 1.",
        "Make steps evenly spaced values of t that include both ends, and broadcast them against the (D,) "
        "vectors to get a (steps, D) tensor, one code per row.",
        "`t = torch.linspace(0, 1, steps)` and `z0 + t[:, None] * (z1 - z0)`."), "06"),
)
