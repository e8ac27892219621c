"""The build exercises of notebooks 02-04 (issue 24): the Monte-Carlo ELBO with its standard error (notebook 02), the
KL between two diagonal Gaussians in log-variances (notebook 03), the score-function gradient of a VAE's code
parameters with a baseline and the sticking-the-landing estimate (notebook 04).

Each checker compares the learner's function with the reference on fixed and seeded cases (the toy, a small Bernoulli
VAE decoder); the ``diagnoses`` are known wrong variants whose FAIL gets a sentence on the likely mistake (never the
formula). :data:`EXERCISES` lists them with their three-step hints for :mod:`vae_course.teaching.exercises.registry`.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .core import CheckResult, Exercise, compare, random_cases
from .theory import LOG_OF_LOGVAR, retell_nonfinite
from .theory_limits import F64, LOG_2PI, Density, _bernoulli_loglik, _normal_logpdf, _tiny_decoder, _toy


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
        ("You seem to average the 1-D KLs over the D coordinates instead of summing them: the KL of a product of "
         "independent coordinates is the sum of their KLs.",
         lambda m1, l1, m2, l2: ref(m1, l1, m2, l2) / m1.shape[-1]),
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
        ("Inside log q you cut the sample z's path as well as q's parameters, so log q adds nothing to the gradient: "
         "the sample z must keep its path to mu and logvar; only q's parameters are constants.",
         _stl_run(lambda f, mu, lv, eps: f(z_of(mu, lv, eps)) - log_q_of(z_of(mu, lv, eps).detach(), mu.detach(),
                                                                          lv.detach()))),
    ]
    return compare(_stl_run(student_fn), _stl_run(_stl_reference), cases, name="stl_elbo", diagnoses=diagnoses,
                   names=("estimate", "d/dmu", "d/dlogvar"))


EXERCISES = (
    Exercise("mc_elbo", check_mc_elbo, _mc_elbo_reference, (
        "The ELBO is the mean under q of the log-weight log p(x, z) - log q(z); estimate it by the sample mean over "
        "the draws z_i = mu + sigma eps_i, and its standard error by the sample standard deviation over sqrt(n).",
        "Build the draws from eps, evaluate log p(x, z_i) with the given function and log q(z_i) from the Gaussian "
        "density (with its normalising terms), subtract, then take the mean and the standard error.",
        "z_i = mu + sigma eps_i; log q(z_i) = -1/2 log(2 pi) - log sigma - eps_i^2 / 2; log w_i = log p(x, z_i) - "
        "log q(z_i); elbo_hat = mean_i log w_i; se = sd_i(log w_i) / sqrt(n)."), "02"),
    Exercise("kl_diag", check_kl_diag, _kl_diag_reference, (
        "Both Gaussians factor over the coordinates, so their KL is a sum of 1-D KLs, one per latent dimension "
        "(section 5's argument), each the 1-D two-Gaussian KL that section 9 has you derive (expand "
        "(z - mu_2)^2 around mu_1 and take the expectation term by term).",
        "Rewrite the 1-D formula in log-variances: the log of the ratio of the standard deviations is half the "
        "difference of the logvars, and each variance is the exponential of its logvar. Sum over the last axis only.",
        "KL = sum_j [ log(sigma_2j / sigma_1j) + (sigma_1j^2 + (mu_1j - mu_2j)^2) / (2 sigma_2j^2) - 1/2 ] with "
        "sigma_ij^2 = e^(l_ij): write log(sigma_2 / sigma_1) and sigma_1^2 / sigma_2^2 in l_1 and l_2."), "03",
        replaces=("vae_course.theory.toy.kl_normal", "vae_course.models.hierarchical.gaussian_kl_pair")),
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
        "log q_stop(z)."), "04"),
)
