"""The checkers of the beyond-the-basics part, notebooks 07-10: likelihoods, the importance-weighted bound, the KL
warm-up schedule, active units and conditioning on a one-hot label.
"""
from __future__ import annotations

from typing import Callable

import torch

from .core import CheckResult, compare, random_cases


# --- Notebook 07: likelihoods ---

def check_cb_log_normalizer(student_fn: Callable) -> CheckResult:
    """Notebook 07, exercise 1: ``cb_log_norm(lam)`` = log C(lam) of the continuous Bernoulli, elementwise."""
    from ..likelihoods import cb_log_normalizer

    def make(gen):
        n = int(torch.randint(1, 6, (), generator=gen))
        u = 0.01 + 0.48 * torch.rand(n, generator=gen, dtype=torch.float64)  # in (0.01, 0.49)
        side = torch.randint(0, 2, (n,), generator=gen, dtype=torch.float64)
        lam = 0.5 + (2 * side - 1) * (0.5 - u)  # |lam - 1/2| >= 0.01
        return (lam,), {}

    cases = [
        ("lam = 0.1, 0.9 (C is symmetric)", (torch.tensor([0.1, 0.9], dtype=torch.float64),), {}),
        ("lam = 0.001, 0.3, 0.7, 0.999", (torch.tensor([0.001, 0.3, 0.7, 0.999], dtype=torch.float64),), {}),
        ("a (2, 3) tensor", (torch.tensor([[0.02, 0.2, 0.4], [0.6, 0.8, 0.98]], dtype=torch.float64),), {}),
    ]
    cases += random_cases(make, 4, seed=70)
    return compare(student_fn, cb_log_normalizer, cases, name="cb_log_norm",
                   hint="with t = 1 - 2 lam, log C = log(2 * torch.atanh(t) / t); take the ratio before the log "
                        "(numerator and denominator are both negative for lam > 1/2), and keep the input's shape.",
                   atol=1e-6, rtol=1e-6)


def check_optimal_sigma(student_fn: Callable) -> CheckResult:
    """Notebook 07, exercise 2: ``best_sigma(mean, x)``, the per-image sigma minimizing -log N(x; mean, sigma^2 I)."""
    from ..likelihoods import optimal_gaussian_sigma

    def make(gen):
        b = int(torch.randint(1, 6, (), generator=gen))
        return (torch.rand(b, 784, generator=gen), torch.rand(b, 784, generator=gen)), {}

    cases = [
        ("every pixel off by 0.1: sigma = 0.1", (torch.zeros(2, 784), torch.full((2, 784), 0.1)), {}),
        ("half the pixels off by 1: sigma = sqrt(1/2)",
         (torch.zeros(1, 784), torch.cat([torch.ones(1, 392), torch.zeros(1, 392)], dim=1)), {}),
    ]
    cases += random_cases(make, 4, seed=71)
    return compare(student_fn, optimal_gaussian_sigma, cases, name="best_sigma",
                   hint="sigma*^2 = ||x - mean||^2 / D, one value per image: (x - mean).pow(2).mean(dim=1).sqrt(), "
                        "shape (B,).",
                   atol=1e-5, rtol=1e-4)


# --- Notebook 08: the importance-weighted bound ---

def check_iwae_estimate(student_fn: Callable) -> CheckResult:
    """Notebook 08: ``iwae_estimate(log_w)``: (k, B) log-weights -> (B,) log of the mean weight, computed stably."""
    from ..iwae import iwae_from_log_weights

    def make(gen):
        k = int(torch.randint(1, 50, (), generator=gen))
        b = int(torch.randint(1, 5, (), generator=gen))
        return (-100 + 20 * torch.randn(k, b, generator=gen, dtype=torch.float64),), {}

    cases = [
        ("k = 1: the log-weight itself", (torch.tensor([[-3.0, -90.0]], dtype=torch.float64),), {}),
        ("equal weights: the mean is the weight", (torch.full((5, 2), -7.0, dtype=torch.float64),), {}),
        ("log-weights near -1000 (exp underflows to 0)",
         (torch.tensor([[-1000.0, -2000.0], [-1001.0, -2000.5]], dtype=torch.float64),), {}),
    ]
    cases += random_cases(make, 4, seed=80)
    return compare(student_fn, iwae_from_log_weights, cases, name="iwae_estimate",
                   hint="log (1/k) sum_i exp(log_w_i) = torch.logsumexp(log_w, dim=0) - math.log(k); never call "
                        "exp() on the log-weights directly (exp(-1000) is 0.0, and log(0) is -inf).",
                   atol=1e-6, rtol=1e-6)


# --- Notebooks 09-10: the KL warm-up schedule, active units, conditioning on a one-hot label ---
def check_kl_weight(student_fn: Callable) -> CheckResult:
    """Notebook 09: ``kl_weight(step, warmup_steps, beta)``, the linear KL warm-up; compared with
    :func:`vae_course.objective.kl_weight` (including no warm-up, ``warmup_steps == 0``, and steps past the end)."""
    from ..objective import kl_weight

    def make(gen):
        warm = int(torch.randint(1, 500, (), generator=gen))
        step = int(torch.randint(0, 2 * warm, (), generator=gen))
        beta = round(float(torch.empty(()).uniform_(0.1, 8.0, generator=gen)), 3)
        return (step, warm, beta), {}

    cases = [("first step", (0, 100, 1.0), {}), ("half-way", (50, 100, 1.0), {}), ("past the end", (150, 100, 1.0), {}),
             ("beta = 4, a quarter of the way", (25, 100, 4.0), {}), ("no warm-up", (10, 0, 4.0), {}),
             ("fractional warm-up length", (3, 7.5, 2.0), {})]
    cases += random_cases(make, 5, seed=91)
    return compare(student_fn, kl_weight, cases, name="kl_weight", atol=1e-9, rtol=1e-9,
                   hint="return beta * min(1, step / warmup_steps); when warmup_steps == 0 there is no warm-up, "
                        "so return beta (and never divide by zero).")


def _active_units_reference(mu, threshold=0.01):
    from ..collapse import count_active_units

    return count_active_units(mu, threshold)


def check_active_units(student_fn: Callable) -> CheckResult:
    """Notebook 09: ``active_units_from_means(mu, threshold=0.01) -> int`` for posterior means ``mu`` (N, D).

    Burda et al.'s criterion: ``A_u = Var_x(mu_u(x)) > threshold``. The cases keep every variance far from the
    threshold, so the biased and the unbiased variance both pass; a shifted case catches ``mean(mu**2)``.
    """
    def means(gen, scales, shift=0.0):
        scales = torch.tensor(scales)
        return torch.randn(400, len(scales), generator=gen) * scales + shift  # (400, D)

    def make(gen):
        d = int(torch.randint(2, 17, (), generator=gen))
        choice = torch.randint(0, 4, (d,), generator=gen)
        scales = torch.tensor([0.0, 0.02, 0.5, 1.5])[choice].tolist()  # variances 0, 4e-4, 0.25, 2.25
        shift = float(torch.randn((), generator=gen))
        return (means(gen, scales, shift),), {}

    gen = torch.Generator().manual_seed(92)
    cases = [("all units active", (means(gen, [1.0, 1.0, 0.5]),), {}),
             ("two dead units", (means(gen, [1.0, 0.0, 0.02, 0.8]),), {}),
             ("means shifted away from 0 (a variance ignores the shift)", (means(gen, [0.01, 0.5], shift=3.0),), {}),
             ("a larger threshold", (means(gen, [0.5, 0.2, 1.0]),), {"threshold": 0.1})]
    cases += random_cases(make, 4, seed=93)
    return compare(student_fn, _active_units_reference, cases, name="active_units_from_means",
                   hint="A_u is the variance over the images (dim=0) of column u of mu, i.e. mu.var(dim=0); count the "
                        "columns whose variance is above threshold and return a Python int.")


def _condition_reference(v, y, num_classes=10):
    from ..models.cvae import one_hot

    return torch.cat([v.reshape(v.shape[0], -1), one_hot(y, num_classes)], dim=1)


def check_condition_on_label(student_fn: Callable) -> CheckResult:
    """Notebook 10: ``condition_on_label(v, y, num_classes=10)`` -> ``(B, K + C)``: the rows of ``v`` (flattened to
    ``(B, K)``) followed by the one-hot code of each label; how the CVAE feeds ``[x, y]`` and ``[z, y]``."""
    def make(gen):
        b = int(torch.randint(1, 9, (), generator=gen))
        k = (2, 16, 784)[int(torch.randint(0, 3, (), generator=gen))]
        return (torch.randn(b, k, generator=gen), torch.randint(0, 10, (b,), generator=gen)), {}

    cases = [("codes z (3, 2) with labels 0, 5, 9", (torch.tensor([[0.5, -1.0], [2.0, 0.0], [1.0, 1.0]]),
                                                     torch.tensor([0, 5, 9])), {}),
             ("images (2, 1, 28, 28) are flattened first", (torch.rand(2, 1, 28, 28, generator=torch.Generator()
                                                                       .manual_seed(94)), torch.tensor([3, 3])), {}),
             ("three classes only", (torch.ones(2, 4), torch.tensor([2, 0])), {"num_classes": 3})]
    cases += random_cases(make, 4, seed=95)
    return compare(student_fn, _condition_reference, cases, name="condition_on_label",
                   hint="flatten v to (B, K) with v.reshape(len(v), -1), build the one-hot rows with "
                        "torch.nn.functional.one_hot(y, num_classes).float(), and torch.cat them along dim=1.")
