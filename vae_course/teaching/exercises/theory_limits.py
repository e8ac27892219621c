"""The exercises of the theory part's deeper sections (issue 15): the optimal mean-field q of a correlated Gaussian
posterior (notebook 02) and the log-density of a full-covariance q by the change of variables (notebook 04).

Each checker compares the learner's function with the package's reference on fixed and seeded random cases; the
``diagnoses`` are known wrong variants whose FAIL gets a sentence on the likely mistake (never the formula).
:data:`EXERCISES` lists them with their three-step hints for :mod:`vae_course.teaching.exercises.registry`.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .core import CheckResult, Exercise, compare, random_cases

F64 = torch.float64


def _random_cov(gen: torch.Generator, d: int) -> torch.Tensor:
    a = torch.randn(d, d, generator=gen, dtype=F64)
    return a @ a.T + 0.3 * torch.eye(d, dtype=F64)


def _cov_2d(sd1: float, sd2: float, rho: float) -> torch.Tensor:
    return torch.tensor([[sd1 ** 2, rho * sd1 * sd2], [rho * sd1 * sd2, sd2 ** 2]], dtype=F64)


# --- Notebook 02: the optimal factorised q of a Gaussian posterior ---
def _mean_field_reference(post_mean: torch.Tensor, post_cov: torch.Tensor):
    return post_mean, 1 / torch.diagonal(torch.linalg.inv(post_cov))


def check_mean_field_q(student_fn: Callable) -> CheckResult:
    """Notebook 02: ``mean_field_q(post_mean, post_cov) -> (q_mean, q_var)``, the factorised Gaussian q that maximises
    the ELBO (minimises KL(q || p)) when the posterior is ``N(post_mean (D,), post_cov (D, D))``; ``q_var`` holds the
    D variances ``(D,)``."""
    def make(gen):
        d = int(torch.randint(2, 6, (), generator=gen))
        return (torch.randn(d, generator=gen, dtype=F64), _random_cov(gen, d)), {}

    t = torch.tensor
    cases = [
        ("uncorrelated, unit variances: q is the posterior itself", (t([1.0, -2.0], dtype=F64), _cov_2d(1.0, 1.0, 0.0)),
         {}),
        ("2-D, variances 1 and 2, correlation 0.9", (t([0.5, 0.5], dtype=F64), _cov_2d(1.0, math.sqrt(2.0), 0.9)), {}),
        ("2-D, different scales, correlation -0.6", (t([2.0, -1.0], dtype=F64), _cov_2d(2.0, 0.5, -0.6)), {}),
        *random_cases(make, 4, seed=21),
    ]
    diagnoses = [
        ("Those are the posterior's marginal variances, the diagonal of its covariance. The best factorised q is "
         "narrower: the diagonal of the inverse of a matrix is not one over its diagonal when there is correlation. "
         "(Matching the marginals is what the other KL, KL(p || q), would ask for.)",
         lambda m, c: (m, torch.diagonal(c))),
        ("That is one over the marginal variances: invert the whole covariance matrix, not its diagonal entries.",
         lambda m, c: (m, 1 / torch.diagonal(c))),
        ("Did you return the precisions (the diagonal of the precision matrix) instead of the variances?",
         lambda m, c: (m, torch.diagonal(torch.linalg.inv(c)))),
        ("Did you return standard deviations where the variances belong?",
         lambda m, c: (m, (1 / torch.diagonal(torch.linalg.inv(c))).sqrt())),
        ("The mean of q is off: at the optimum nothing shifts it away from the posterior's mean.",
         lambda m, c: (torch.zeros_like(m), 1 / torch.diagonal(torch.linalg.inv(c)))),
    ]
    return compare(student_fn, _mean_field_reference, cases, name="mean_field_q", diagnoses=diagnoses,
                   names=("q_mean", "q_var"))


# --- Notebook 04: log q(z) for z = mu + L eps, by the change of variables ---
def _log_q_tril_reference(z: torch.Tensor, mu: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    from ...theory.toy2d import log_normal_tril

    return log_normal_tril(z, mu, L)


def _random_tril(gen: torch.Generator, d: int) -> torch.Tensor:
    return torch.linalg.cholesky(_random_cov(gen, d))


def check_log_q_tril(student_fn: Callable) -> CheckResult:
    """Notebook 04: ``log_q_tril(z, mu, L)``, log N(z; mu, L L^T) for a lower-triangular ``L`` ``(D, D)`` with a
    positive diagonal; ``z`` is ``(n, D)``, ``mu`` ``(D,)``, the answer ``(n,)``."""
    def make(gen):
        d = int(torch.randint(1, 6, (), generator=gen))
        n = int(torch.randint(1, 8, (), generator=gen))
        return (torch.randn(n, d, generator=gen, dtype=F64), torch.randn(d, generator=gen, dtype=F64),
                _random_tril(gen, d)), {}

    t = torch.tensor
    cases = [
        ("L = I, z = mu (the standard normal's peak)", (t([[0.5, -1.0]], dtype=F64), t([0.5, -1.0], dtype=F64),
                                                        torch.eye(2, dtype=F64)), {}),
        ("diagonal L = diag(2, 0.4)", (t([[1.0, 1.0], [0.0, -2.0]], dtype=F64), t([0.0, 0.0], dtype=F64),
                                       t([[2.0, 0.0], [0.0, 0.4]], dtype=F64)), {}),
        ("a full lower-triangular L", (t([[1.0, 2.0], [-1.0, 0.5], [0.3, 0.3]], dtype=F64), t([0.2, -0.1], dtype=F64),
                                       t([[1.5, 0.0], [0.8, 0.6]], dtype=F64)), {}),
        *random_cases(make, 4, seed=22),
    ]

    def eps_of(z, mu, L):
        return torch.linalg.solve_triangular(L, (z - mu).unsqueeze(-1), upper=False).squeeze(-1)

    def std_normal(eps):
        return -0.5 * eps.shape[-1] * math.log(2 * math.pi) - 0.5 * (eps ** 2).sum(-1)

    logdet = lambda L: torch.log(torch.diagonal(L)).sum()  # noqa: E731
    diagnoses = [
        ("You might be missing the Jacobian term: a change of variables rescales the density by how much the map "
         "stretches volume.", lambda z, mu, L: std_normal(eps_of(z, mu, L))),
        ("The Jacobian term has the wrong sign: a map that stretches volume must lower the density.",
         lambda z, mu, L: std_normal(eps_of(z, mu, L)) + logdet(L)),
        ("The Jacobian term is counted twice: the map is z = mu + L eps, with Jacobian L, not L L^T.",
         lambda z, mu, L: std_normal(eps_of(z, mu, L)) - 2 * logdet(L)),
        ("Your eps comes from multiplying by L: eps is what L maps to z - mu, so undo L instead.",
         lambda z, mu, L: std_normal((z - mu) @ L.T) - logdet(L)),
        ("Your eps solves with the transpose of L: z - mu = L eps, with L lower-triangular.",
         lambda z, mu, L: std_normal(torch.linalg.solve_triangular(L.T, (z - mu).unsqueeze(-1),
                                                                    upper=True).squeeze(-1)) - logdet(L)),
    ]
    return compare(student_fn, _log_q_tril_reference, cases, name="log_q_tril", diagnoses=diagnoses)


EXERCISES = (
    Exercise("mean_field_q", check_mean_field_q, _mean_field_reference, (
        "Write KL(q || p) for q = N(mu, diag(sigma^2)) and a Gaussian posterior N(mu*, Sigma*) with precision "
        "matrix Lambda (the inverse of its covariance), and minimise it over mu and over each sigma_i^2 separately.",
        "The mean term is a quadratic form in mu - mu* with a positive definite matrix: smallest at mu = mu*. Each "
        "variance appears as Lambda_ii sigma_i^2 / 2 - log(sigma_i^2) / 2; set its derivative to zero. You need the "
        "diagonal of the precision matrix, so invert the whole covariance first.",
        "`q_mean = post_mean` and `q_var = 1 / torch.diagonal(torch.linalg.inv(post_cov))`."), "02"),
    Exercise("log_q_tril", check_log_q_tril, _log_q_tril_reference, (
        "z = mu + L eps is an invertible map of eps ~ N(0, I): the density of z is the density of the eps that maps "
        "to it, divided by the absolute determinant of the map's Jacobian.",
        "Recover eps from z by solving the triangular system L eps = z - mu (no matrix inverse needed). The "
        "Jacobian of the map is L itself, and the determinant of a triangular matrix is the product of its diagonal.",
        "`eps = torch.linalg.solve_triangular(L, (z - mu).unsqueeze(-1), upper=False).squeeze(-1)`, then "
        "`-0.5 * D * math.log(2 * math.pi) - 0.5 * (eps ** 2).sum(-1) - torch.log(torch.diagonal(L)).sum()`."), "04"),
)
