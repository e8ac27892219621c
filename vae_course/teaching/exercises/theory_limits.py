"""The exercises of the theory part's deeper sections (issue 15) and its build exercises (issue 24): the optimal
mean-field q of a correlated Gaussian posterior (notebook 02), the log-density of a full-covariance q by the change of
variables (notebook 04); the importance-sampling estimate of log p(x) with its relative standard error for any
proposal (notebook 01), the Monte-Carlo ELBO with its standard error (notebook 02), the KL between two diagonal
Gaussians (notebook 03), the score-function gradient of a VAE's code parameters with a baseline and the
sticking-the-landing estimate (notebook 04).

Each checker compares the learner's function with the package's reference on fixed and seeded random cases; the
``diagnoses`` are known wrong variants whose FAIL gets a sentence on the likely mistake (never the formula).
:data:`EXERCISES` lists them with their three-step hints for :mod:`vae_course.teaching.exercises.registry`.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .core import CheckResult, Exercise, compare, random_cases
from .theory import LOG_OF_LOGVAR, retell_nonfinite

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


# --- Notebook 02: the Monte-Carlo ELBO with its standard error ---
def _mc_elbo_reference(log_joint: Callable, q_mean: torch.Tensor, q_std: torch.Tensor, eps: torch.Tensor):
    z = q_mean + q_std * eps  # (n,) draws of q
    log_q = -0.5 * LOG_2PI - torch.log(q_std) - 0.5 * eps ** 2  # (n,) log N(z; q_mean, q_std^2)
    log_w = log_joint(z) - log_q  # (n,)
    return log_w.mean(), log_w.std() / math.sqrt(eps.shape[0])


def check_mc_elbo(student_fn: Callable) -> CheckResult:
    """Notebook 02: ``mc_elbo(log_joint, q_mean, q_std, eps) -> (elbo_hat, se)`` for q = N(q_mean, q_std^2) of one
    latent: ``eps`` ``(n,)`` is standard-normal noise, ``log_joint(z)`` maps ``(n,)`` to ``(n,)``."""
    t = lambda v: torch.tensor(v, dtype=F64)  # noqa: E731
    toy = _toy(2.0, 0.5, 1.0)
    joint = Density("log p(x = 3, z) of the toy w = 2, b = 0.5, s = 1", lambda z: toy.log_joint(3.0, z))
    pm, ps = toy.posterior(3.0)
    logistic = Density("log N(z; 0, 1) + log sigmoid(3 z - 1)",
                       lambda z: _normal_logpdf(z, 0.0, 1.0) + torch.nn.functional.logsigmoid(3 * z - 1))
    gen = torch.Generator().manual_seed(41)
    cases = [
        ("q = the prior N(0, 1), four fixed draws", (joint, t(0.0), t(1.0), t([-1.0, 0.0, 0.5, 2.0])), {}),
        ("q = N(1.5, 0.3^2), 50 draws", (joint, t(1.5), t(0.3), torch.randn(50, generator=gen, dtype=F64)), {}),
        ("q = the exact posterior: every log-weight is log p(x), standard error 0",
         (joint, pm, ps, torch.randn(40, generator=gen, dtype=F64)), {}),
        ("a non-Gaussian joint (a prior times a logistic likelihood), q = N(0.4, 0.8^2)",
         (logistic, t(0.4), t(0.8), torch.randn(60, generator=gen, dtype=F64)), {}),
    ]

    def make(g):
        w = round(float(torch.empty(()).uniform_(-2.0, 2.0, generator=g)), 3)
        s_ = round(float(torch.empty(()).uniform_(0.3, 1.5, generator=g)), 3)
        x = round(float(2 * torch.randn((), generator=g)), 3)
        toy_r = _toy(w, 0.2, s_)
        f = Density(f"log p(x = {x}, z) of the toy w = {w}, b = 0.2, s = {s_}", lambda z: toy_r.log_joint(x, z))
        n = int(torch.randint(10, 200, (), generator=g))
        return (f, torch.randn((), generator=g, dtype=F64), torch.empty((), dtype=F64).uniform_(0.2, 2.0, generator=g),
                torch.randn(n, generator=g, dtype=F64)), {}

    cases += random_cases(make, 3, seed=42)

    def log_w(lj, m, sd, eps):
        return lj(m + sd * eps) - (-0.5 * LOG_2PI - torch.log(sd) - 0.5 * eps ** 2)

    def estimate(values):
        return values.mean(), values.std() / math.sqrt(values.shape[0])

    diagnoses = [
        ("se does not shrink with n: that is the spread of one log-weight; the error of their mean is smaller by a "
         "factor sqrt(n).", lambda lj, m, sd, eps: (estimate(log_w(lj, m, sd, eps))[0], log_w(lj, m, sd, eps).std())),
        ("elbo_hat is the log of the mean weight, notebook 01's estimate of log p(x), not the ELBO: average the "
         "log-weights themselves.",
         lambda lj, m, sd, eps: (torch.logsumexp(log_w(lj, m, sd, eps), 0) - math.log(eps.shape[0]),
                                 estimate(log_w(lj, m, sd, eps))[1])),
        ("You might be missing -log q(z): the ELBO averages log p(x, z) - log q(z), not log p(x, z) alone.",
         lambda lj, m, sd, eps: estimate(lj(m + sd * eps))),
        ("Your log q(z) misses its normalising constant: the Gaussian's log-density has a term in its standard "
         "deviation (and one in 2 pi) besides the squared distance.",
         lambda lj, m, sd, eps: estimate(lj(m + sd * eps) + 0.5 * eps ** 2)),
        ("Did you scale the noise by the variance? A draw of q is its mean plus its standard deviation times eps.",
         lambda lj, m, sd, eps: estimate(lj(m + sd ** 2 * eps) - (-0.5 * LOG_2PI - torch.log(sd) - 0.5 * eps ** 2))),
        ("You evaluate the joint at the noise eps, not at the sample z built from it.",
         lambda lj, m, sd, eps: estimate(lj(eps) - (-0.5 * LOG_2PI - torch.log(sd) - 0.5 * eps ** 2))),
        ("se uses the standard deviation with 1/n; use the sample standard deviation (1/(n - 1), torch's default).",
         lambda lj, m, sd, eps: (estimate(log_w(lj, m, sd, eps))[0],
                                 log_w(lj, m, sd, eps).std(unbiased=False) / math.sqrt(eps.shape[0]))),
    ]
    return compare(student_fn, _mc_elbo_reference, cases, name="mc_elbo", diagnoses=diagnoses,
                   names=("elbo_hat", "se"))


# --- Notebook 03: the KL between two diagonal Gaussians ---
def _kl_diag_reference(mu1, logvar1, mu2, logvar2):
    return 0.5 * (logvar2 - logvar1 + (logvar1.exp() + (mu1 - mu2) ** 2) / logvar2.exp() - 1).sum(-1)


def check_kl_diag(student_fn: Callable) -> CheckResult:
    """Notebook 03: ``kl_diag(mu1, logvar1, mu2, logvar2)``, KL(N(mu1, diag e^logvar1) || N(mu2, diag e^logvar2))
    per row: inputs ``(B, D)``, answer ``(B,)``."""
    t = torch.tensor
    z = torch.zeros

    def make(g):
        b = int(torch.randint(1, 7, (), generator=g))
        d = int(torch.randint(1, 12, (), generator=g))
        return tuple(f * torch.randn(b, d, generator=g) for f in (2.0, 1.0, 2.0, 1.0)), {}

    g43 = torch.Generator().manual_seed(43)
    m1, l1 = torch.randn(3, 4, generator=g43), torch.randn(3, 4, generator=g43)
    cases = [
        ("two equal Gaussians (KL must be 0)", (t([[0.5, -1.0]]), t([[0.3, -2.0]]), t([[0.5, -1.0]]), t([[0.3, -2.0]])),
         {}),
        ("1-D: N(0.3, 0.5^2) against N(-1, 2^2)",
         (t([[0.3]]), t([[math.log(0.25)]]), t([[-1.0]]), t([[math.log(4.0)]])), {}),
        ("the second Gaussian is N(0, I) (the VAE's KL)", (2 * m1, l1, z(3, 4), z(3, 4)), {}),
        ("same means, different variances", (t([[1.0, 1.0, 1.0]]), t([[0.0, 1.0, -1.0]]), t([[1.0, 1.0, 1.0]]),
                                              t([[1.0, -0.5, 0.0]])), {}),
        *random_cases(make, 4, seed=44),
    ]
    ref = _kl_diag_reference
    diagnoses = [
        ("That is the KL the other way round, KL(second || first): the expectation is under the FIRST Gaussian, and "
         "KL is not symmetric.", lambda m1, l1, m2, l2: ref(m2, l2, m1, l1)),
        ("Did you use the standard deviation where the variance belongs? logvar is the log of the variance.",
         lambda m1, l1, m2, l2: 0.5 * (l2 - l1 + ((0.5 * l1).exp() + (m1 - m2) ** 2) / (0.5 * l2).exp() - 1).sum(-1)),
        ("The squared distance between the means is measured in the wrong Gaussian's variance: it comes from the "
         "log-density of the second one.",
         lambda m1, l1, m2, l2: 0.5 * (l2 - l1 + l1.exp() / l2.exp() + (m1 - m2) ** 2 / l1.exp() - 1).sum(-1)),
        ("The term with the two log-variances has the wrong sign.",
         lambda m1, l1, m2, l2: 0.5 * (l1 - l2 + (l1.exp() + (m1 - m2) ** 2) / l2.exp() - 1).sum(-1)),
        ("The ratio of the variances is upside down.",
         lambda m1, l1, m2, l2: 0.5 * (l2 - l1 + l2.exp() / l1.exp() + (m1 - m2) ** 2 / l2.exp() - 1).sum(-1)),
        ("You might be missing a constant per latent dimension (the KL of two equal Gaussians must be 0).",
         lambda m1, l1, m2, l2: 0.5 * (l2 - l1 + (l1.exp() + (m1 - m2) ** 2) / l2.exp()).sum(-1)),
    ]
    return retell_nonfinite(compare(student_fn, _kl_diag_reference, cases, name="kl_diag", diagnoses=diagnoses),
                            LOG_OF_LOGVAR)


# --- Notebook 04: the score-function gradient of a VAE's code parameters, with a baseline ---
def _code_score_reference(log_lik: Callable, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor,
                          baseline: torch.Tensor):
    sigma = torch.exp(0.5 * logvar)  # (B, D)
    z = mu + sigma * eps  # (n, B, D)
    with torch.no_grad():
        centred = (log_lik(z) - baseline).unsqueeze(-1)  # (n, B, 1): f(z) - c(x), values only
    grad_mu = (centred * eps / sigma).mean(0)  # score for mu: (z - mu) / sigma^2 = eps / sigma
    grad_logvar = (centred * 0.5 * (eps ** 2 - 1)).mean(0)  # score for l = log sigma^2: (eps^2 - 1) / 2
    return grad_mu, grad_logvar


def check_code_score_grad(student_fn: Callable) -> CheckResult:
    """Notebook 04: ``code_score_grad(log_lik, mu, logvar, eps, baseline) -> (grad_mu, grad_logvar)``.

    The score-function estimate of the gradient of E_q[log p(x|z)] with respect to each image's code parameters
    (mu, logvar), both ``(B, D)``, from ``n`` noise draws ``eps`` ``(n, B, D)``, with a per-image baseline
    ``baseline`` ``(B,)`` subtracted from ``log_lik(z)`` (which maps ``(n, B, D)`` to ``(n, B)``).
    """
    gen = torch.Generator().manual_seed(51)
    dec = _tiny_decoder()
    x_img = torch.rand(3, 6, generator=gen, dtype=F64)  # (3, 6) grey levels
    vae_lik = Density("log p(x|z) of a small Bernoulli VAE decoder (3 images)", _bernoulli_loglik(dec, x_img))
    toy = _toy(1.5, 0.2, 0.7)
    x_toy = torch.tensor([[1.0, -0.5], [2.0, 0.3]], dtype=F64)  # (2 images, D = 2)
    toy_lik = Density("log p(x|z) of the toy w = 1.5, b = 0.2, s = 0.7 (2 images, D = 2)",
                      lambda z: toy.log_likelihood(x_toy, z).sum(-1))
    mu3, lv3 = 0.5 * torch.randn(3, 2, generator=gen, dtype=F64), torch.randn(3, 2, generator=gen, dtype=F64) - 1
    with torch.no_grad():
        c3 = vae_lik(mu3)  # (3,) the reconstruction at the code's mean
    t = torch.tensor
    cases = [
        ("toy likelihood, two fixed draws, no baseline",
         (toy_lik, t([[0.5, 0.0], [1.0, -1.0]], dtype=F64), t([[0.0, -1.0], [0.5, 0.0]], dtype=F64),
          t([[[1.0, -0.5], [0.0, 2.0]], [[-1.0, 0.3], [1.5, -0.2]]], dtype=F64), t([0.0, 0.0], dtype=F64)), {}),
        ("toy likelihood, 30 draws, baseline (-2, -3)",
         (toy_lik, t([[0.5, 0.0], [1.0, -1.0]], dtype=F64), t([[0.0, -1.0], [0.5, 0.0]], dtype=F64),
          torch.randn(30, 2, 2, generator=gen, dtype=F64), t([-2.0, -3.0], dtype=F64)), {}),
        ("the small VAE decoder, 40 draws, no baseline", (vae_lik, mu3, lv3, torch.randn(40, 3, 2, generator=gen,
                                                                                           dtype=F64), 0 * c3), {}),
        ("the small VAE decoder, 40 draws, baseline c(x) = log p(x | z = mu)",
         (vae_lik, mu3, lv3, torch.randn(40, 3, 2, generator=gen, dtype=F64), c3), {}),
    ]
    ref = _code_score_reference

    def variant(g_mu, g_lv):
        def wrong(f, mu, lv, eps, c):
            sigma = torch.exp(0.5 * lv)
            with torch.no_grad():
                fz = f(mu + sigma * eps)
            return g_mu(fz, c, eps, sigma).mean(0), g_lv(fz, c, eps, sigma).mean(0)
        return wrong

    right_mu = lambda fz, c, eps, sd: (fz - c).unsqueeze(-1) * eps / sd  # noqa: E731
    right_lv = lambda fz, c, eps, sd: (fz - c).unsqueeze(-1) * 0.5 * (eps ** 2 - 1)  # noqa: E731
    diagnoses = [
        ("Your estimate ignores the baseline: subtract each image's c(x) from the values of log p(x|z).",
         lambda f, mu, lv, eps, c: ref(f, mu, lv, eps, torch.zeros_like(c))),
        ("The baseline is added, not subtracted.", lambda f, mu, lv, eps, c: ref(f, mu, lv, eps, -c)),
        ("grad_logvar is the score for sigma, not for logvar = log sigma^2: the chain rule through sigma = "
         "e^(logvar / 2) changes it.", variant(right_mu, lambda fz, c, eps, sd: (fz - c).unsqueeze(-1) *
                                               (eps ** 2 - 1) / sd)),
        ("grad_logvar is twice the expected value: a factor 1/2 from the chain rule through logvar is missing.",
         variant(right_mu, lambda fz, c, eps, sd: (fz - c).unsqueeze(-1) * (eps ** 2 - 1))),
        ("Check the power of sigma in the score for mu (the draw's distance from mu, over the variance).",
         variant(lambda fz, c, eps, sd: (fz - c).unsqueeze(-1) * eps * sd, right_lv)),
        ("Check the power of sigma in the score for mu (the draw's distance from mu, over the variance).",
         variant(lambda fz, c, eps, sd: (fz - c).unsqueeze(-1) * eps, right_lv)),
        ("You might be summing over the draws where the estimate averages them.",
         lambda f, mu, lv, eps, c: tuple(g * eps.shape[0] for g in ref(f, mu, lv, eps, c))),
    ]
    return compare(student_fn, _code_score_reference, cases, name="code_score_grad", diagnoses=diagnoses,
                   names=("grad_mu", "grad_logvar"))


# --- Notebook 04: sticking the landing ---
def _stl_reference(log_joint: Callable, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    z = mu + torch.exp(0.5 * logvar) * eps  # (B, D): keeps its path to mu and logvar
    mu_stop, logvar_stop = mu.detach(), logvar.detach()  # q's parameters cut from the graph inside log q
    log_q = (-0.5 * (LOG_2PI + logvar_stop + (z - mu_stop) ** 2 / logvar_stop.exp())).sum(-1)  # (B,)
    return log_joint(z) - log_q  # (B,)


def _stl_run(fn: Callable) -> Callable:
    """Wrap ``stl_elbo(log_joint, mu, logvar, eps)``: its value (B,) and the gradients of its sum to mu and logvar."""
    def run(log_joint, mu, logvar, eps):
        mu = mu.clone().requires_grad_(True)
        logvar = logvar.clone().requires_grad_(True)
        out = fn(log_joint, mu, logvar, eps)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"expected a tensor of per-image estimates, got {type(out).__name__}")
        if out.grad_fn is None:
            raise ValueError("your estimate carries no gradient to mu and logvar (was z detached, or built under "
                             "torch.no_grad()?)")
        grads = torch.autograd.grad(out.sum(), (mu, logvar), allow_unused=True)
        grads = [g if g is not None else torch.zeros_like(p) for g, p in zip(grads, (mu, logvar))]
        return out.detach(), grads[0], grads[1]
    return run


def check_stl_elbo(student_fn: Callable) -> CheckResult:
    """Notebook 04: ``stl_elbo(log_joint, mu, logvar, eps) -> (B,)``: the one-sample estimate
    log p(x, z) - log q(z) whose gradient is the sticking-the-landing (path-only) gradient. ``mu``, ``logvar``,
    ``eps``: ``(B, D)``; ``log_joint`` maps ``(B, D)`` to ``(B,)``. Checks the value and both gradients."""
    gen = torch.Generator().manual_seed(61)
    toy = _toy(2.0, 0.5, 1.0)
    x_toy = torch.tensor([3.0, -1.0], dtype=F64)
    toy_joint = Density("log p(x, z) of the toy w = 2, b = 0.5, s = 1, x = (3, -1)",
                        lambda z: toy.log_joint(x_toy, z).sum(-1))
    pm, ps = toy.posterior(x_toy)
    dec = _tiny_decoder()
    x_img = torch.rand(3, 6, generator=gen, dtype=F64)
    lik = _bernoulli_loglik(dec, x_img)
    vae_joint = Density("log p(x, z) of a small Bernoulli VAE (3 images)",
                        lambda z: lik(z) + _normal_logpdf(z, 0.0, 1.0).sum(-1))
    t = torch.tensor
    cases = [
        ("toy, q = N(0, I), one fixed draw per image",
         (toy_joint, t([[0.0, 0.0]], dtype=F64), t([[0.0, 0.0]], dtype=F64), t([[1.0, -0.5]], dtype=F64)), {}),
        ("toy, a random q, four draws", (toy_joint, torch.randn(4, 2, generator=gen, dtype=F64),
                                         torch.randn(4, 2, generator=gen, dtype=F64) - 0.5,
                                         torch.randn(4, 2, generator=gen, dtype=F64)), {}),
        ("toy, q = the exact posterior (the STL gradient is 0)",
         (toy_joint, pm.expand(5, 2).clone(), (2 * ps.log()).expand(5, 2).clone(),
          torch.randn(5, 2, generator=gen, dtype=F64)), {}),
        ("the small VAE, three images", (vae_joint, 0.5 * torch.randn(3, 2, generator=gen, dtype=F64),
                                         torch.randn(3, 2, generator=gen, dtype=F64) - 1,
                                         torch.randn(3, 2, generator=gen, dtype=F64)), {}),
    ]
    if not callable(student_fn):
        return compare(student_fn, _stl_reference, cases, name="stl_elbo")

    def log_q_of(z, mu, lv):
        return (-0.5 * (LOG_2PI + lv + (z - mu) ** 2 / lv.exp())).sum(-1)

    def z_of(mu, lv, eps):
        return mu + torch.exp(0.5 * lv) * eps

    diagnoses = [
        ("Your gradient still holds the score term: that is the full estimator. Inside log q, cut q's parameters "
         "(mu and logvar) from the graph, and leave the sample z its path.",
         _stl_run(lambda f, mu, lv, eps: f(z_of(mu, lv, eps)) - log_q_of(z_of(mu, lv, eps), mu, lv))),
        ("You detached the sample inside log q and kept q's parameters: that keeps the score term and drops log q's "
         "path term, the opposite of sticking the landing.",
         _stl_run(lambda f, mu, lv, eps: f(z_of(mu, lv, eps)) - log_q_of(z_of(mu, lv, eps).detach(), mu, lv))),
        ("d/dlogvar still holds its score term: inside log q, cut logvar from the graph as well as mu.",
         _stl_run(lambda f, mu, lv, eps: f(z_of(mu, lv, eps)) - log_q_of(z_of(mu, lv, eps), mu.detach(), lv))),
        ("d/dmu still holds its score term: inside log q, cut mu from the graph as well as logvar.",
         _stl_run(lambda f, mu, lv, eps: f(z_of(mu, lv, eps)) - log_q_of(z_of(mu, lv, eps), mu, lv.detach()))),
        ("Your estimate is missing -log q(z): the one-sample ELBO is log p(x, z) - log q(z).",
         _stl_run(lambda f, mu, lv, eps: f(z_of(mu, lv, eps)))),
    ]
    return compare(_stl_run(student_fn), _stl_run(_stl_reference), cases, name="stl_elbo", diagnoses=diagnoses,
                   names=("estimate", "d/dmu", "d/dlogvar"))


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
    Exercise("mc_elbo", check_mc_elbo, _mc_elbo_reference, (
        "The ELBO is the mean under q of the log-weight log p(x, z) - log q(z); estimate it by the sample mean over "
        "the draws z_i = mu + sigma eps_i, and its standard error by the sample standard deviation over sqrt(n).",
        "Build the draws from eps, evaluate log p(x, z_i) with the given function and log q(z_i) from the Gaussian "
        "density (with its normalising terms), subtract, then take the mean and the standard error.",
        "z_i = mu + sigma eps_i; log q(z_i) = -1/2 log(2 pi) - log sigma - eps_i^2 / 2; log w_i = log p(x, z_i) - "
        "log q(z_i); elbo_hat = mean_i log w_i; se = sd_i(log w_i) / sqrt(n)."), "02"),
    Exercise("kl_diag", check_kl_diag, _kl_diag_reference, (
        "Both Gaussians factor over the coordinates, so their KL is a sum of 1-D KLs, one per latent dimension "
        "(section 5's argument), each the two-Gaussian formula of section 9.",
        "Rewrite the 1-D formula in log-variances: the log of the ratio of the standard deviations is half the "
        "difference of the logvars, and each variance is the exponential of its logvar. Sum over the last axis only.",
        "KL = sum_j [ log(sigma_2j / sigma_1j) + (sigma_1j^2 + (mu_1j - mu_2j)^2) / (2 sigma_2j^2) - 1/2 ] with "
        "sigma_ij^2 = e^(l_ij): write log(sigma_2 / sigma_1) and sigma_1^2 / sigma_2^2 in l_1 and l_2."), "03",
        replaces=("vae_course.theory.toy.kl_normal",)),
    Exercise("code_score_grad", check_code_score_grad, _code_score_reference, (
        "The score-function estimator multiplies the value f(z) - c(x) by the score of q, the gradient of log q(z) "
        "with respect to the parameters, and averages over the draws; here the parameters are mu and "
        "logvar = log sigma^2.",
        "For z = mu + sigma eps, the score for mu is (z - mu) / sigma^2 in terms of eps; for logvar, differentiate "
        "log q = -1/2 log(2 pi) - logvar / 2 - (z - mu)^2 / (2 e^logvar) with z held fixed. Use only the values of "
        "log_lik (no autograd through it), and average over the draws axis 0.",
        "d/dmu ~ mean_i (f(z_i) - c) eps_i / sigma; d/dlogvar ~ mean_i (f(z_i) - c) (eps_i^2 - 1) / 2, "
        "with z_i = mu + sigma eps_i and sigma = e^(logvar / 2); f(z_i) - c has shape (n, B): give it a last axis "
        "of size 1 to multiply it with the (n, B, D) scores."), "04"),
    Exercise("stl_elbo", check_stl_elbo, _stl_reference, (
        "Sticking the landing keeps the path term of the gradient and drops the score term, whose mean is 0: "
        "log q must see z with its path to mu and logvar, but q's own parameters as constants.",
        "Build z = mu + sigma eps from the live mu and logvar; evaluate log q(z) from its Gaussian formula with "
        "DETACHED copies of mu and logvar (the sample itself is not detached); return log p(x, z) - log q(z) per "
        "image (sum log q over the latent axis).",
        "log q_stop(z) = sum_j [ -1/2 log(2 pi) - l_j' / 2 - (z_j - mu_j')^2 / (2 e^(l_j')) ] with "
        "mu' = stop(mu), l' = stop(logvar), and z = mu + e^(logvar/2) eps NOT stopped; answer = log p(x, z) - "
        "log q_stop(z). Skeleton: mu_c, lv_c = mu.___(), logvar.___()."), "04"),
)
