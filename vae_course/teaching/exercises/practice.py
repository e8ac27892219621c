"""The exercises of the practice part, notebooks 05-06: the VAE loss written from its formulas (BCE from the logits
+ KL), the hole test of the aggregate posterior (log q(z), the share of prior draws in a hole and its standard error)
and a straight path through latent space. (Notebook 05's VAE module and training step are in
:mod:`.practice_models`.)
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
    grey = ("support", "The checker's x is grey here (pixel values strictly between 0 and 1, as MNIST's grey levels "
                       "are), and torch's Bernoulli accepts only 0 and 1 in log_prob. The cross-entropy formula "
                       "of section 3 holds for any x in [0, 1]: write it from the logits.")
    return compare(student_fn, reference, cases, name="vae_loss", diagnoses=diagnoses, error_notes=[grey])


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


# --- Notebook 06: the hole test of the aggregate posterior ---
def _hole_test_reference(z, mu, logvar, fraction: float = 0.1):
    from ...evaluation.latent_space import log_aggregate_posterior

    log_q = log_aggregate_posterior(z, mu, logvar)  # (M,) float64
    return _hole_share(z, log_q, fraction)


def _hole_share(z, log_q, fraction, *, prior=True, unbiased=False, root=True, over_m=True):
    z = z.detach().double().cpu()
    log_p = -0.5 * (z.pow(2).sum(1) + z.shape[1] * math.log(2 * math.pi))  # (M,) log N(z; 0, I)
    holes = (log_q < (log_p if prior else 0.0) + math.log(fraction)).double()  # (M,)
    mass = holes.mean()
    var = mass * (1 - mass) / ((len(holes) - (1 if unbiased else 0)) if over_m else 1)
    return log_q, mass, (var.sqrt() if root else var)


def _hole_variant(z, mu, logvar, fraction=0.1, *, mixture="logsumexp", scale="sigma", weights=True, **share):
    """A known wrong variant of the hole test (for the diagnoses)."""
    z, mu, logvar = z.double(), mu.double(), logvar.double()
    sd = {"sigma": (0.5 * logvar).exp(), "variance": logvar.exp(), "logvar as log sigma": logvar.exp()}[scale]
    log_n = torch.distributions.Normal(mu, sd).log_prob(z[:, None, :]).sum(-1)  # (M, N)
    if mixture == "mean of logs":
        log_q = log_n.mean(1)
    elif mixture == "max":
        log_q = log_n.max(1).values - (math.log(mu.shape[0]) if weights else 0.0)
    else:
        log_q = torch.logsumexp(log_n, dim=1) - (math.log(mu.shape[0]) if weights else 0.0)
    return _hole_share(z, log_q, fraction, **share)


def check_hole_test(student_fn: Callable) -> CheckResult:
    """Notebook 06: ``hole_test(z, mu, logvar, fraction=0.1)`` -> ``(log_q, mass, stderr)``.

    ``z`` ``(M, D)`` are draws of the prior N(0, I); ``mu``, ``logvar`` ``(N, D)`` are the posteriors of N images.
    ``log_q`` ``(M,)`` is log q(z) of the aggregate posterior q(z) = (1/N) sum_n N(z; mu_n, diag sigma_n^2) at each
    draw; ``mass`` the share of the draws in a hole, q(z) < fraction * p(z); ``stderr`` its standard error
    sqrt(mass (1 - mass) / M). Compared with :func:`vae_course.evaluation.log_aggregate_posterior` (float64).
    """
    t = torch.tensor

    def make(gen):
        d = (2, 3)[int(torch.randint(0, 2, (), generator=gen))]
        n, m = int(torch.randint(3, 30, (), generator=gen)), int(torch.randint(50, 300, (), generator=gen))
        mu = 1.5 * torch.randn(n, d, generator=gen)
        logvar = 2 * math.log(0.4) + 0.5 * torch.randn(n, d, generator=gen)
        return (torch.randn(m, d, generator=gen), mu, logvar), {}

    gen = torch.Generator().manual_seed(6)
    z200 = torch.randn(200, 2, generator=gen)  # (200, 2) prior draws
    cases = [
        ("q = p: one posterior N(0, I), no holes", (z200[:20], torch.zeros(1, 2), torch.zeros(1, 2)), {}),
        ("two posteriors N((+-1.5, 0), 0.5^2 I): a hole between them and around", (
            z200, t([[1.5, 0.0], [-1.5, 0.0]]), torch.full((2, 2), 2 * math.log(0.5))), {}),
        ("five posteriors of different widths in 2-D, fraction=0.5",
         (z200, t([[0.0, 0.0], [1.0, 1.0], [-1.0, 2.0], [2.0, -1.0], [-2.0, -2.0]]),
          t([[0.0, -1.0], [-2.0, -2.0], [-1.0, 0.0], [-3.0, -1.0], [-1.0, -1.0]])), {"fraction": 0.5}),
    ]
    cases += random_cases(make, 4, seed=606)
    diagnoses = [
        ("Your log q(z) is log N too large for every draw: the mixture weighs each of the N posteriors by 1/N.",
         lambda z, mu, lv, fraction=0.1: _hole_variant(z, mu, lv, fraction, weights=False)),
        ("You might be averaging the log-densities of the N posteriors: the mixture averages the densities "
         "themselves, and the log of an average is not the average of the logs (work in log space with a "
         "log-sum-exp).", lambda z, mu, lv, fraction=0.1: _hole_variant(z, mu, lv, fraction, mixture="mean of logs")),
        ("Your log q(z) keeps only the nearest posterior: the mixture sums all N of them.",
         lambda z, mu, lv, fraction=0.1: _hole_variant(z, mu, lv, fraction, mixture="max")),
        ("Did you use the variance where the standard deviation belongs (or logvar as the log of sigma)? "
         "sigma = exp(logvar / 2).",
         lambda z, mu, lv, fraction=0.1: _hole_variant(z, mu, lv, fraction, scale="variance")),
        ("Your share compares q(z) with the fraction alone: a hole is where q(z) is below the fraction times the "
         "prior's density p(z) at the same z.",
         lambda z, mu, lv, fraction=0.1: _hole_variant(z, mu, lv, fraction, prior=False)),
        ("Your standard error divides by M - 1 (torch's std is unbiased by default): the binomial standard error "
         "of the notebook divides by M.",
         lambda z, mu, lv, fraction=0.1: _hole_variant(z, mu, lv, fraction, unbiased=True)),
        ("Your standard error does not shrink with M: sqrt(mass (1 - mass)) is the spread of one yes-or-no draw, "
         "not of the share of M draws.",
         lambda z, mu, lv, fraction=0.1: _hole_variant(z, mu, lv, fraction, over_m=False)),
        ("Your standard error looks like its square, the variance of the share: take the square root.",
         lambda z, mu, lv, fraction=0.1: _hole_variant(z, mu, lv, fraction, root=False)),
        ("Your share does not change with fraction: use the function's argument, not the number 0.1.",
         lambda z, mu, lv, fraction=0.1: _hole_variant(z, mu, lv, 0.1)),
    ]
    return compare(student_fn, _hole_test_reference, cases, name="hole_test", diagnoses=diagnoses,
                   names=("log_q", "mass", "stderr"), inputs="fixed and random prior draws and posteriors")


EXERCISES = (
    Exercise("vae_loss", check_vae_loss, _vae_loss_reference, (
        "The loss is the negative ELBO of the batch: how badly the decoder reconstructs x (a binary "
        "cross-entropy) plus how far q(z|x) is from the prior (a KL), summed over the batch as in the reference "
        "script.",
        "Flatten x to (B, 784). Write the cross-entropy from the logits themselves, with the softplus form of "
        "section 3 (never through sigmoid probabilities, and valid for grey x), summed over pixels and images; "
        "add the Gaussian KL of notebook 03, with sigma^2 = exp(logvar), summed over the latent dimensions and "
        "images.",
        "loss = sum_b sum_j [softplus(eta_bj) - x_bj eta_bj] + 1/2 sum_b sum_k (mu_bk^2 + sigma_bk^2 - 1 - "
        "log sigma_bk^2), with eta the logits, log sigma^2 = logvar, and softplus(u) = log(1 + e^u)."), "05",
        replaces=("vae_course.objectives.losses.bernoulli_nll", "vae_course.objectives.losses.gaussian_kl",
                  "vae_course.objectives.losses.elbo", "vae_course.objectives.losses.reconstruction_nll",
                  "vae_course.objectives.losses.reference_loss")),
    Exercise("hole_test", check_hole_test, _hole_test_reference, (
        "A prior draw z is in a hole when the codes' density there, the mixture q(z) of the N posteriors, is "
        "below a fraction of the prior's density p(z). Compute log q(z) for every draw, compare, count.",
        "For every draw and every posterior n, the log-density of the diagonal Gaussian, summed over the latent "
        "axis: an (M, N) table. The mixture's log q(z) is a log-sum-exp over the N posteriors minus log N. A draw "
        "is in a hole when log q(z) < log p(z) + log(fraction); the share is the mean of that test, and its "
        "standard error that of a share of M yes-or-no draws.",
        "log N(z; mu_n, diag sigma_n^2) = -1/2 sum_j [(z_j - mu_nj)^2 / sigma_nj^2 + log sigma_nj^2 + log 2 pi]; "
        "log q(z) = logsumexp_n log N(z; mu_n, diag sigma_n^2) - log N; log p(z) = -1/2 sum_j (z_j^2 + log 2 pi); "
        "h = (1/M) sum_i 1[log q(z_i) < log p(z_i) + log fraction]; SE = sqrt(h (1 - h) / M)."), "06",
        replaces=("vae_course.evaluation.latent_space.log_aggregate_posterior",
                  "vae_course.evaluation.latent_space.prior_hole_mass",
                  "vae_course.evaluation.surgery.aggregate_log_prob", "vae_course.evaluation.surgery.hole_mass")),
    Exercise("interpolation_path", check_interpolation_path, _interpolation_path_reference, (
        "The points of the straight segment from z0 to z1 are z0 + t (z1 - z0) for t running from 0 to 1.",
        "Make steps evenly spaced values of t that include both ends, and broadcast them against the (D,) "
        "vectors to get a (steps, D) tensor, one code per row.",
        "z_i = z0 + t_i (z1 - z0) with t_i = i / (steps - 1) for i = 0, ..., steps - 1: t_0 = 0 gives z0 and "
        "t_(steps-1) = 1 gives z1. Shapes: t as a column (steps, 1) times the row (1, D)."), "06",
        replaces=("vae_course.evaluation.latent_space.interpolate",)),
)
