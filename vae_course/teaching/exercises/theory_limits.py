"""The exercises of the theory part's deeper sections (issue 15): the optimal mean-field q of a correlated Gaussian
posterior (notebook 02) and the log-density of a full-covariance q by the change of variables (notebook 04); and the
first build exercise of issue 24, the importance-sampling estimate of log p(x) with its relative standard error for any
proposal (notebook 01). The other build exercises of notebooks 02-04 are in
:mod:`vae_course.teaching.exercises.theory_builds`, which shares this module's named densities and small decoder.

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
LOG_2PI = math.log(2 * math.pi)


class Density:
    """A named function of z (a log-density or log-likelihood of the checks), so that a FAIL line can say which."""

    def __init__(self, name: str, fn: Callable[[torch.Tensor], torch.Tensor]):
        self.__name__ = name
        self.fn = fn

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return self.fn(z)


def _toy(w: float, b: float, s: float):
    from ...theory.toy import LinearGaussian

    return LinearGaussian(w, b, s)


def _normal_logpdf(z, mean, std):  # log N(z; mean, std^2) elementwise, for the checks' own densities
    return -0.5 * LOG_2PI - torch.log(torch.as_tensor(std, dtype=F64)) - 0.5 * ((z - mean) / std) ** 2


def _tiny_decoder(seed: int = 4):
    """A small VAE decoder (2 latents -> 5 hidden -> 6 Bernoulli pixels), float64, fixed: the VAE's own likelihood."""
    from ...models import VAE

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VAE(input_dim=6, hidden_dim=5, latent_dim=2).double()
    model.requires_grad_(False)
    return model


def _bernoulli_loglik(model, x):
    """log p(x | z) of the tiny decoder for grey levels x (B, 6): a function of z (..., B, 2) -> (..., B)."""
    def fn(z):
        logits = model.decode_logits(z.reshape(-1, z.shape[-1])).reshape(*z.shape[:-1], -1)  # (..., B, 6)
        return (x * logits - torch.nn.functional.softplus(logits)).sum(-1).to(z.dtype)
    return fn


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



def _student_draws(gen: torch.Generator, n: int, d: int, df: float) -> torch.Tensor:
    """Standard Student-t draws (n, d) from a seeded generator: a normal over the root of a chi-square / df."""
    normal = torch.randn(n, d, generator=gen, dtype=F64)
    chi2 = (torch.randn(n, d, int(df), generator=gen, dtype=F64) ** 2).sum(-1)
    return normal / torch.sqrt(chi2 / df)


# --- Notebook 01: importance sampling of log p(x) with its relative standard error, for any proposal ---
def _importance_reference(log_joint: Callable, log_q: Callable, z: torch.Tensor):
    log_r = log_joint(z) - log_q(z)  # (n,) log-weights log p(x, z_i) - log q(z_i)
    n = log_r.shape[0]
    log_p = torch.logsumexp(log_r, 0) - math.log(n)  # log of the mean weight
    rel_se = torch.exp(log_r - log_p).std() / math.sqrt(n)  # weights over their mean: scale-free, no underflow
    return log_p, rel_se


def _toy_joint(toy, x, label):
    return Density(f"log p(x, z) of the toy {label}", lambda z: toy.log_joint(x, z).sum(-1))


def _gauss_q(mean, std, label):
    return Density(f"log q(z), {label}", lambda z: _normal_logpdf(z, mean, std).sum(-1))


def check_importance_log_marginal(student_fn: Callable) -> CheckResult:
    """Notebook 01: ``importance_log_marginal(log_joint, log_q, z) -> (log_p_hat, rel_se)``.

    ``z`` holds ``n`` draws ``(n, D)`` of a proposal q; ``log_joint(z)`` and ``log_q(z)`` return ``(n,)``. The
    answer is the log of the importance-sampling estimate (1/n) sum_i p(x, z_i)/q(z_i) and its relative standard
    error, the sample standard deviation of the weights over their mean and over sqrt(n). The 50-D case has weights
    that underflow to 0 outside log space.
    """
    gen = torch.Generator().manual_seed(31)
    t = torch.tensor
    toy1, x1 = _toy(2.0, 0.5, 1.0), t([3.0], dtype=F64)
    prior = Density("log p(z), the prior N(0, I)", lambda z: _normal_logpdf(z, 0.0, 1.0).sum(-1))
    toy3, x3 = _toy(1.0, 0.0, 0.5), t([0.5, -1.0, 2.0], dtype=F64)
    pm3, ps3 = toy3.posterior(x3)
    q3_mean, q3_std = pm3 + 0.2, 1.3 * ps3
    z3 = q3_mean + q3_std * torch.randn(40, 3, generator=gen, dtype=F64)
    z_post = pm3 + ps3 * torch.randn(30, 3, generator=gen, dtype=F64)
    toy2, x2 = _toy(-1.5, 0.8, 0.6), t([2.0, -0.5], dtype=F64)
    pm2, ps2 = toy2.posterior(x2)
    student_t = torch.distributions.StudentT(torch.tensor(3.0, dtype=F64), pm2, 1.5 * ps2)
    z_t = pm2 + 1.5 * ps2 * _student_draws(gen, 60, 2, 3.0)  # (60, 2) draws of the Student-t proposal
    sharp, x50 = _toy(1.0, 0.0, 0.05), torch.full((50,), 2.0, dtype=F64)
    cases = [
        ("1-D toy, q = the prior, five fixed draws",
         (_toy_joint(toy1, x1, "w = 2, b = 0.5, s = 1 at x = 3"), prior,
          t([[-1.0], [0.0], [0.5], [1.0], [2.0]], dtype=F64)), {}),
        ("3-D toy, a Gaussian q shifted from the posterior and 30% too wide",
         (_toy_joint(toy3, x3, "w = 1, b = 0, s = 0.5 (3-D)"), _gauss_q(q3_mean, q3_std, "shifted, 30% wide"), z3), {}),
        ("q = the exact posterior: every weight is p(x), relative error 0",
         (_toy_joint(toy3, x3, "w = 1, b = 0, s = 0.5 (3-D)"), _gauss_q(pm3, ps3, "the posterior"), z_post), {}),
        ("2-D toy, a Student-t proposal (3 degrees of freedom)",
         (_toy_joint(toy2, x2, "w = -1.5, b = 0.8, s = 0.6 (2-D)"),
          Density("log q(z), Student-t(3) per coordinate", lambda z: student_t.log_prob(z).sum(-1)), z_t), {}),
        ("50-D sharp toy, q = the prior (the weights underflow outside log space)",
         (_toy_joint(sharp, x50, "w = 1, b = 0, s = 0.05 (50-D)"), prior,
          torch.randn(100, 50, generator=gen, dtype=F64)), {}),
    ]

    def make(g):
        d = int(torch.randint(1, 5, (), generator=g))
        n = int(torch.randint(20, 200, (), generator=g))
        toy = _toy(round(float(torch.empty(()).uniform_(0.5, 2.0, generator=g)), 3), 0.3,
                   round(float(torch.empty(()).uniform_(0.4, 1.2, generator=g)), 3))
        x = 2 * torch.randn(d, generator=g, dtype=F64)
        mean = torch.randn(d, generator=g, dtype=F64)
        std = torch.empty(d, dtype=F64).uniform_(0.5, 1.5, generator=g)
        z = mean + std * torch.randn(n, d, generator=g, dtype=F64)
        return (_toy_joint(toy, x, f"w = {toy.w}, s = {toy.s}"), _gauss_q(mean, std, "random Gaussian"), z), {}

    cases += random_cases(make, 3, seed=32)

    def log_r(lj, lq, z):
        return lj(z) - lq(z)

    def with_rel(fn):
        def wrong(lj, lq, z):
            return _importance_reference(lj, lq, z)[0], fn(lj, lq, z)
        return wrong

    def with_log_p(fn):
        def wrong(lj, lq, z):
            return fn(lj, lq, z), _importance_reference(lj, lq, z)[1]
        return wrong

    n_of = lambda z: z.shape[0]  # noqa: E731
    diagnoses = [
        ("rel_se does not shrink with n: that is the relative spread of ONE weight; the error of the mean of n "
         "weights is smaller by a factor sqrt(n).",
         with_rel(lambda lj, lq, z: _importance_reference(lj, lq, z)[1] * math.sqrt(n_of(z)))),
        ("rel_se is the standard error of the mean of the log-weights (notebook 02's ELBO estimate). The relative "
         "error of p_hat is the spread of the weights themselves, relative to their mean.",
         with_rel(lambda lj, lq, z: log_r(lj, lq, z).std() / math.sqrt(n_of(z)))),
        ("rel_se: did you divide the weights' spread by the largest weight? Relative error means relative to the "
         "mean weight (the estimate itself).",
         with_rel(lambda lj, lq, z: torch.exp(log_r(lj, lq, z) - log_r(lj, lq, z).max()).std() / math.sqrt(n_of(z)))),
        ("rel_se uses the standard deviation with 1/n; use the sample standard deviation (1/(n - 1), torch's default).",
         with_rel(lambda lj, lq, z: _importance_reference(lj, lq, z)[1] * math.sqrt((n_of(z) - 1) / n_of(z)))),
        ("log_p_hat averages the log-weights: that estimates the ELBO, a lower bound (notebook 02), not log p(x). "
         "Average the weights, then take the log.", with_log_p(lambda lj, lq, z: log_r(lj, lq, z).mean())),
        ("Your weights ignore the proposal: a weight is p(x, z) divided by q(z), the density the draws came from.",
         lambda lj, lq, z: _importance_reference(lj, Density("zero", lambda zz: torch.zeros(zz.shape[0], dtype=F64)),
                                                 z)),
        ("log_p_hat: you might be missing the 1/n of the average (your value is the log of the sum of the weights).",
         with_log_p(lambda lj, lq, z: torch.logsumexp(log_r(lj, lq, z), 0))),
    ]
    return compare(student_fn, _importance_reference, cases, name="importance_log_marginal", diagnoses=diagnoses,
                   names=("log_p_hat", "rel_se"))


EXERCISES = (
    Exercise("mean_field_q", check_mean_field_q, _mean_field_reference, (
        "Write KL(q || p) for q = N(mu, diag(sigma^2)) and a Gaussian posterior N(mu*, Sigma*) with precision "
        "matrix Lambda (the inverse of its covariance), and minimise it over mu and over each sigma_i^2 separately.",
        "The mean term is a quadratic form in mu - mu* with a positive definite matrix: smallest at mu = mu*. Each "
        "variance appears as Lambda_ii sigma_i^2 / 2 - log(sigma_i^2) / 2; set its derivative to zero. You need the "
        "diagonal of the precision matrix, so invert the whole covariance first.",
        "q_mean = mu*; q_var_i = 1 / Lambda_ii with Lambda = Sigma*^(-1): invert the whole covariance, then take "
        "the diagonal of the inverse, then one over each entry."), "02"),
    Exercise("log_q_tril", check_log_q_tril, _log_q_tril_reference, (
        "z = mu + L eps is an invertible map of eps ~ N(0, I): the density of z is the density of the eps that maps "
        "to it, divided by the absolute determinant of the map's Jacobian.",
        "Recover eps from z by solving the triangular system L eps = z - mu (no matrix inverse needed). The "
        "Jacobian of the map is L itself, and the determinant of a triangular matrix is the product of its diagonal.",
        "eps = L^(-1) (z - mu) (one triangular solve per point, on columns of shape (D, 1)); "
        "log q(z) = -(D/2) log(2 pi) - (1/2) ||eps||^2 - sum_j log L_jj."), "04",
        replaces=("vae_course.theory.toy2d.log_normal_tril",)),
    Exercise("importance_log_marginal", check_importance_log_marginal, _importance_reference, (
        "Importance sampling: p(x) is the mean under q of the weight r(z) = p(x, z) / q(z), so average the weights of "
        "the n draws. Its relative standard error is the spread of the weights, relative to their mean, over sqrt(n).",
        "Work with log-weights log r_i = log p(x, z_i) - log q(z_i) only: the log of their mean comes from a "
        "log-sum-exp, and the weights divided by their mean, exp(log r_i - log p_hat), never underflow. Use the "
        "sample standard deviation (n - 1).",
        "log p_hat = logsumexp_i(log r_i) - log n; rel_se = sd_i( exp(log r_i - log p_hat) ) / sqrt(n). "
        "Skeleton: log_r = ___ - ___; log_p = torch.logsumexp(___, 0) - ___; rel = torch.exp(___ - ___); "
        "return log_p, rel.___() / ___."), "01"),
)
