"""The exercises of the theory part, notebooks 01-04: the naive Monte-Carlo marginal, the toy's exact posterior (by
completing the square), the toy ELBO, the Gaussian KL, reparameterization and the score-function estimator.

Each checker compares the learner's function with the package's reference on fixed and seeded random cases; the
``diagnoses`` are known wrong variants whose FAIL gets a sentence on the likely mistake (never the formula).
:data:`EXERCISES` lists them with their three-step hints for :mod:`vae_course.teaching.exercises.registry`.
"""
from __future__ import annotations

import math
import re
from typing import Callable

import torch

from .core import CheckResult, Exercise, compare, random_cases

F64 = torch.float64
_GENERIC_NONFINITE = re.compile(r" Some of your values are inf or NaN[^?]*\?")


def retell_nonfinite(result: CheckResult, sentence: str) -> CheckResult:
    """A FAIL whose values are inf or NaN gets ``sentence`` in place of the generic overflow guess ("work in log
    space"), for exercises whose inputs cannot overflow: there the cause is a log of 0 or of a negative number, or
    the square root of a negative one."""
    if result.verdict != "FAIL" or not _GENERIC_NONFINITE.search(result.message):
        return result
    return CheckResult(False, _GENERIC_NONFINITE.sub(" " + sentence, result.message, count=1), verdict="FAIL",
                       exercise=result.exercise)


def _theory_toy(w: float, b: float, s: float):
    from ...theory.toy import LinearGaussian

    return LinearGaussian(w, b, s)


def _uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    return float(torch.empty((), dtype=F64).uniform_(lo, hi, generator=gen))


def _random_toy(gen: torch.Generator):
    sign = 1.0 if _uniform(gen, 0, 1) < 0.5 else -1.0
    return _theory_toy(round(sign * _uniform(gen, 0.3, 2.5), 3), round(_uniform(gen, -1, 1), 3),
                       round(_uniform(gen, 0.3, 1.5), 3))


# --- Notebook 01: the naive Monte-Carlo estimate of log p(x) ---
def _mc_reference(toy, x, z):
    return toy.mc_log_marginal(x, z)


def check_mc_marginal(student_fn: Callable) -> CheckResult:
    """Notebook 01: ``mc_log_marginal(toy, x, z)``, the log of the naive Monte-Carlo estimate of p(x).

    ``x`` is one observation ``(D,)``; ``z`` holds ``n`` prior draws ``(n, D)``; the answer is the scalar
    ``log (1/n) sum_i prod_d N(x_d; w z_id + b, s^2)``. The last case is 50-dimensional with a sharp likelihood, where
    ``exp`` underflows to 0, so only a log-space implementation passes it.
    """
    def make(gen):
        d = int(torch.randint(1, 7, (), generator=gen))
        n = int(torch.randint(20, 201, (), generator=gen))
        x = 2 * torch.randn(d, generator=gen, dtype=F64)
        return (_random_toy(gen), x, torch.randn(n, d, generator=gen, dtype=F64)), {}

    gen = torch.Generator().manual_seed(1)
    cases = [
        ("1-D toy, five fixed draws", (_theory_toy(2.0, 0.5, 1.0), torch.tensor([3.0], dtype=F64),
                                        torch.tensor([[-1.0], [0.0], [0.5], [1.0], [2.0]], dtype=F64)), {}),
        ("3-D, four fixed draws", (_theory_toy(1.0, 0.0, 0.5), torch.tensor([0.5, -1.0, 2.0], dtype=F64),
                                   torch.tensor([[0.0, 0.0, 0.0], [1.0, -1.0, 2.0], [0.5, 0.5, 0.5],
                                                 [-1.0, 2.0, 1.0]], dtype=F64)), {}),
        *random_cases(make, 4, seed=11),
        ("50-D with a sharp likelihood (exp underflows)",
         (_theory_toy(1.0, 0.0, 0.05), torch.full((50,), 2.0, dtype=F64),
          torch.randn(100, 50, generator=gen, dtype=F64)), {}),
    ]
    diagnoses = [
        ("You might be averaging the log-likelihoods: the estimate averages the likelihoods themselves, and only "
         "then takes the log (the log of a mean is not the mean of the logs).",
         lambda toy, x, z: toy.log_likelihood(x, z).sum(-1).mean()),
        ("You might be missing the 1/n of the average: your value is the log of the sum over the draws.",
         lambda toy, x, z: torch.logsumexp(toy.log_likelihood(x, z).sum(-1), 0)),
    ]
    return compare(student_fn, _mc_reference, cases, name="mc_log_marginal", diagnoses=diagnoses)


# --- Notebooks 01-02: the toy's exact posterior, by completing the square ---
def _posterior_reference(w, b, s, x):
    mean, std = _theory_toy(w, b, s).posterior(x)
    return mean, std ** 2


def _posterior_run(fn: Callable) -> Callable:
    """The learner's ``(mean, variance)``; a variance given as one number is broadcast to the shape of the mean."""
    def run(w, b, s, x):
        out = fn(w, b, s, x)
        if isinstance(out, (tuple, list)) and len(out) == 2:
            mean, var = out
            shape = torch.as_tensor(x).shape
            if isinstance(var, (int, float)) and not isinstance(var, bool):
                var = torch.full(shape, float(var), dtype=F64)
            elif isinstance(var, torch.Tensor) and var.numel() == 1 and var.is_floating_point():
                var = var.reshape(()).expand(shape)
            return mean, var
        return out

    return run


def check_toy_posterior(student_fn: Callable) -> CheckResult:
    """Notebooks 01-02: ``toy_posterior(w, b, s, x) -> (mean, variance)`` of the exact posterior p(z|x).

    For the toy ``z ~ N(0, 1)``, ``x | z ~ N(w z + b, s^2)``; ``w, b, s`` are Python numbers and ``x`` a float64
    tensor of observations ``(N,)`` (or a number). The mean has the shape of ``x``; the variance, which does not
    depend on ``x``, may be one number. Checked against :meth:`vae_course.theory.LinearGaussian.posterior` on
    several toys.
    """
    def make(gen):
        toy = _random_toy(gen)
        return (toy.w, toy.b, toy.s, 3 * torch.randn(5, generator=gen, dtype=F64)), {}

    t = torch.tensor
    cases = [("w = 2, b = 0.5, s = 1, x = 3 (mean 1, variance 0.2)", (2.0, 0.5, 1.0, t([3.0], dtype=F64)), {}),
             ("a negative slope, w = -1, b = 0, s = 0.5", (-1.0, 0.0, 0.5, t([-1.0, 0.0, 2.0], dtype=F64)), {}),
             ("a weak slope and wide noise, w = 0.3, b = -1, s = 2", (0.3, -1.0, 2.0, t([0.5, 4.0], dtype=F64)), {}),
             ("x given as a number", (1.5, 1.0, 0.8, 2.5), {}),
             *random_cases(make, 4, seed=16)]

    def variant(mean_of, var_of):
        def wrong(w, b, s, x):
            mean, var = _posterior_reference(w, b, s, x)
            return mean_of(w, b, s, x, mean, var), var_of(w, b, s, var)
        return wrong

    keep_mean, keep_var = (lambda w, b, s, x, m, v: m), (lambda w, b, s, v: v)
    diagnoses = [
        ("Did you return the standard deviation where the variance belongs?", variant(keep_mean, lambda w, b, s, v: v.sqrt())),
        ("You might have returned the precision (one over the variance) instead of the variance.",
         variant(keep_mean, lambda w, b, s, v: 1 / v)),
        ("Your mean and variance ignore the prior: they describe the z that explains x on its own. The prior's "
         "z^2 term belongs in the square too.",
         variant(lambda w, b, s, x, m, v: (torch.as_tensor(x, dtype=F64) - b) / w,
                 lambda w, b, s, v: torch.full_like(v, s ** 2 / w ** 2))),
        ("Your mean ignores the prior (the variance is right): collect every z term of the exponent.",
         variant(lambda w, b, s, x, m, v: (torch.as_tensor(x, dtype=F64) - b) / w, keep_var)),
        ("Your mean ignores the offset b.", variant(lambda w, b, s, x, m, v: m + w * b / (w ** 2 + s ** 2), keep_var)),
    ]
    return compare(_posterior_run(student_fn) if callable(student_fn) else student_fn, _posterior_reference, cases,
                   name="toy_posterior", diagnoses=diagnoses, names=("mean", "variance"))


# --- Notebook 02: the toy ELBO in closed form ---
def _toy_elbo_reference(toy, x, m, v):
    return toy.elbo(x, m, v)


def check_toy_elbo(student_fn: Callable) -> CheckResult:
    """Notebook 02: ``toy_elbo(toy, x, q_mean, q_std)``, the closed-form ELBO of the linear-Gaussian toy."""
    def make(gen):
        toy = _random_toy(gen)
        x = 2 * torch.randn((), generator=gen, dtype=F64)
        q_mean = torch.randn(6, generator=gen, dtype=F64)
        q_std = torch.empty(6, dtype=F64).uniform_(0.1, 2.0, generator=gen)
        return (toy, x, q_mean, q_std), {}

    t = torch.tensor
    cases = [
        ("q = exact posterior of x = 3 (ELBO = log p(x))",
         (_theory_toy(2.0, 0.5, 1.0), t(3.0, dtype=F64), t(1.0, dtype=F64), t(0.2, dtype=F64).sqrt()), {}),
        ("q = prior N(0, 1)", (_theory_toy(2.0, 0.5, 1.0), t(3.0, dtype=F64), t(0.0, dtype=F64), t(1.0, dtype=F64)),
         {}),
        ("narrow q far from the posterior",
         (_theory_toy(-1.0, 0.0, 0.5), t(-1.0, dtype=F64), t(-2.0, dtype=F64), t(0.1, dtype=F64)), {}),
        *random_cases(make, 4, seed=12),
    ]
    diagnoses = [
        ("Did you use the standard deviation where the variance belongs (or the other way round)?",
         lambda toy, x, m, v: toy.elbo(x, m, v * v)),
        ("Did you use the standard deviation where the variance belongs (or the other way round)?",
         lambda toy, x, m, v: toy.elbo(x, m, v.sqrt())),
        ("You might be missing the part of the expected log-likelihood that comes from q's spread (z is random "
         "under q, not fixed at its mean).",
         lambda toy, x, m, v: toy.elbo(x, m, v) + toy.w ** 2 * v ** 2 / (2 * toy.s ** 2)),
        ("The KL term seems to have the wrong sign: the ELBO subtracts it.",
         lambda toy, x, m, v: toy.expected_log_likelihood(x, m, v) + toy.kl_to_prior(m, v)),
        ("That is log p(x), the evidence itself: the ELBO depends on q and equals log p(x) only when q is the "
         "posterior.", lambda toy, x, m, v: toy.log_marginal(x) + 0 * m),
    ]
    return compare(student_fn, _toy_elbo_reference, cases, name="toy_elbo", diagnoses=diagnoses)


# --- Notebook 03: the Gaussian KL to the standard normal ---
def _gaussian_kl_reference(mu, logvar):
    from ...objectives.losses import gaussian_kl

    return gaussian_kl(mu, logvar)


def check_gaussian_kl(student_fn: Callable) -> CheckResult:
    """Notebook 03: ``kl(mu, logvar)``, KL(N(mu, diag(exp(logvar))) || N(0, I)) per row, shape ``(B,)``."""
    def make(gen):
        b = int(torch.randint(1, 9, (), generator=gen))
        d = int(torch.randint(1, 21, (), generator=gen))
        return (2 * torch.randn(b, d, generator=gen), torch.randn(b, d, generator=gen)), {}

    cases = [
        ("q = prior: mu = 0, logvar = 0 (KL must be 0)", (torch.zeros(3, 2), torch.zeros(3, 2)), {}),
        ("one image, mu = (1, 0), sigma^2 = (1, 4)", (torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(4.0)]])),
         {}),
        ("one latent dimension", (torch.tensor([[0.5], [-2.0]]), torch.tensor([[-1.0], [1.5]])), {}),
        *random_cases(make, 4, seed=13),
    ]
    diagnoses = [
        ("Did you use the standard deviation where the variance belongs? logvar is the log of the variance.",
         lambda mu, lv: -0.5 * torch.sum(1 + lv - mu ** 2 - torch.exp(0.5 * lv), dim=-1)),
        ("You might be missing the 1 inside the sum: every dimension contributes a constant too.",
         lambda mu, lv: -0.5 * torch.sum(lv - mu ** 2 - lv.exp(), dim=-1)),
    ]
    return retell_nonfinite(
        compare(student_fn, _gaussian_kl_reference, cases, name="gaussian_kl", diagnoses=diagnoses),
        LOG_OF_LOGVAR)


# The cause of inf or NaN in a KL or a sample computed from logvar, whose inputs are all finite and moderate.
LOG_OF_LOGVAR = ("Some of your values are inf or NaN although every input is finite: is there a log or a square "
                 "root of logvar itself (or of something that can be 0 or negative)? logvar is already the log of "
                 "the variance: it may be 0 or negative, where a log gives -inf or NaN and a square root NaN.")


# --- Notebook 04: reparameterization and the score-function estimator ---
def _reparam_reference(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * eps


def _reparam_run(fn: Callable) -> Callable:
    """Wrap a ``reparameterize(mu, logvar, eps)`` so that it also returns dz/dmu and dz/dlogvar (via autograd)."""
    def run(mu, logvar, eps):
        mu = mu.clone().requires_grad_(True)
        logvar = logvar.clone().requires_grad_(True)
        z = fn(mu, logvar, eps)
        if not isinstance(z, torch.Tensor):
            raise TypeError(f"expected a tensor z, got {type(z).__name__}")
        if z.grad_fn is None:
            raise ValueError("z carries no gradient to mu and logvar (was it detached, or drawn with sample()?)")
        z.sum().backward()
        grads = [g if g is not None else torch.zeros_like(p) for g, p in ((mu.grad, mu), (logvar.grad, logvar))]
        return z.detach(), grads[0], grads[1]

    return run


def check_reparameterize(student_fn: Callable) -> CheckResult:
    """Notebook 04: ``reparameterize(mu, logvar, eps)`` -> z; checks z AND that gradients reach mu and logvar."""
    def make(gen):
        b, d = int(torch.randint(1, 6, (), generator=gen)), int(torch.randint(1, 5, (), generator=gen))
        return tuple(torch.randn(b, d, generator=gen) for _ in range(3)), {}

    cases = [
        ("eps = 0 gives z = mu", (torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, 1.0]]), torch.zeros(1, 2)), {}),
        ("sigma = 2, eps = 1", (torch.tensor([[0.5]]), torch.tensor([[math.log(4.0)]]), torch.ones(1, 1)), {}),
        *random_cases(make, 4, seed=14),
    ]
    if not callable(student_fn):
        return compare(student_fn, _reparam_reference, cases, name="reparameterize")
    diagnoses = [
        ("Did you use the variance where the standard deviation belongs? exp(logvar) is the variance.",
         _reparam_run(lambda mu, lv, eps: mu + torch.exp(lv) * eps)),
        ("Did you use logvar itself as the standard deviation? It is the log of the variance.",
         _reparam_run(lambda mu, lv, eps: mu + lv * eps)),
        ("No gradient reaches logvar: was the standard deviation computed from a detached logvar?",
         _reparam_run(lambda mu, lv, eps: mu + torch.exp(0.5 * lv.detach()) * eps)),
        ("No gradient reaches mu: was mu detached (or copied out of the graph) before it was used?",
         _reparam_run(lambda mu, lv, eps: mu.detach() + torch.exp(0.5 * lv) * eps)),
    ]
    return retell_nonfinite(
        compare(_reparam_run(student_fn), _reparam_run(_reparam_reference), cases, name="reparameterize",
                diagnoses=diagnoses, names=("z", "dz/dmu", "dz/dlogvar")), LOG_OF_LOGVAR)


def _score_function_reference(f: Callable, mu: torch.Tensor, sigma: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    fz = f(z)
    d_mu = fz * (z - mu) / sigma ** 2
    d_sigma = fz * ((z - mu) ** 2 - sigma ** 2) / sigma ** 3
    return torch.stack([d_mu.mean(), d_sigma.mean()])


def check_score_function(student_fn: Callable) -> CheckResult:
    """Notebook 04: ``score_function_grad(f, mu, sigma, z)`` -> tensor([d/dmu, d/dsigma]) of E_q[f(z)].

    ``z`` holds ``n`` draws of q = N(mu, sigma^2); the estimate averages f(z) * grad log q(z) over them.
    """
    toy = _theory_toy(2.0, 0.5, 1.0)
    fns = [("f(z) = z^2", lambda z: z ** 2), ("f(z) = sin(z)", torch.sin),
           ("f(z) = log p(x=3, z) of the toy", lambda z: toy.log_joint(3.0, z))]

    def make(gen):
        name, f = fns[int(torch.randint(0, 3, (), generator=gen))]
        mu = torch.randn((), generator=gen, dtype=F64)
        sigma = torch.empty((), dtype=F64).uniform_(0.2, 2.0, generator=gen)
        n = int(torch.randint(5, 200, (), generator=gen))
        return (f, mu, sigma, mu + sigma * torch.randn(n, generator=gen, dtype=F64)), {}

    t = torch.tensor
    cases = [(f"{name}, three fixed draws", (f, t(0.5, dtype=F64), t(2.0, dtype=F64), t([-1.0, 0.5, 3.0], dtype=F64)),
              {}) for name, f in fns]
    cases += random_cases(make, 4, seed=15)
    diagnoses = [
        ("You might be summing over the draws where the estimate averages them.",
         lambda f, mu, sigma, z: _score_function_reference(f, mu, sigma, z) * z.shape[0]),
        ("Check the power of sigma in the score for mu: your d/dmu is off by a factor of sigma.",
         lambda f, mu, sigma, z: _score_function_reference(f, mu, sigma, z) * torch.stack([sigma, sigma ** 0])),
        ("Check the power of sigma in the score for sigma: your d/dsigma is off by a factor of sigma.",
         lambda f, mu, sigma, z: _score_function_reference(f, mu, sigma, z) * torch.stack([sigma ** 0, sigma])),
    ]
    return compare(student_fn, _score_function_reference, cases, name="score_function_grad", diagnoses=diagnoses)


EXERCISES = (
    Exercise("mc_log_marginal", check_mc_marginal, _mc_reference, (
        "p(x) is the average of the likelihood p(x|z) over the prior, so the Monte-Carlo estimate averages "
        "p(x|z_i) over the n prior draws z_i; the answer is the log of that average.",
        "For each draw, add the log-likelihoods of the D coordinates to get log p(x|z_i) (a sum of logs is the log "
        "of the product). Then take the log of the mean of their exponentials without ever leaving log space: "
        "in high dimensions exp underflows to 0.",
        "With a_i = sum_d log N(x_d; w z_id + b, s^2) (shape (n,)) and m = max_i a_i: "
        "log p_hat = m + log sum_i exp(a_i - m) - log n. Skeleton: a = ___(x, z).sum(___); "
        "answer = torch.logsumexp(___, dim=___) - ___."), "01",
        replaces=("vae_course.theory.toy.LinearGaussian.mc_log_marginal",)),
    Exercise("toy_posterior", check_toy_posterior, _posterior_reference, (
        "Prior and likelihood are both Gaussian in z, so log p(z|x) = log p(x|z) + log p(z) + const is a "
        "quadratic in z: complete the square and read off the mean and the variance.",
        "Collect the z^2 terms: their coefficient is -1/2 times the posterior precision (one over the variance), "
        "the prior's 1 plus the likelihood's w^2/s^2. The z terms give precision times mean.",
        "log p(z|x) = -(lambda/2) z^2 + h z + const with lambda = 1 + w^2/s^2 and h = w (x - b)/s^2; "
        "= -(lambda/2)(z - h/lambda)^2 + const, so the variance is 1/lambda and the mean h/lambda."), "02",
        replaces=("vae_course.theory.toy.LinearGaussian.posterior",)),
    Exercise("toy_elbo", check_toy_elbo, _toy_elbo_reference, (
        "The ELBO is the expected log-likelihood under q minus KL(q || p(z)); for the linear-Gaussian toy both "
        "are closed-form functions of q's mean mu and standard deviation sigma.",
        "Under q, x - w z - b has mean x - w mu - b and variance w^2 sigma^2, so the expected squared error is the "
        "squared mean plus that variance. The KL between two 1-D Gaussians is closed form too. Use toy.w, "
        "toy.b, toy.s and torch functions so that tensors of q's work.",
        "E_q[log p(x|z)] = -1/2 log(2 pi s^2) - [(x - w mu - b)^2 + w^2 sigma^2] / (2 s^2); "
        "KL(q || p(z)) = 1/2 (mu^2 + sigma^2 - 1 - log sigma^2); ELBO = the first minus the second."), "02",
        replaces=("vae_course.theory.toy.LinearGaussian.elbo",
                  "vae_course.theory.toy.LinearGaussian.expected_log_likelihood",
                  "vae_course.theory.toy.LinearGaussian.kl_to_prior")),
    Exercise("gaussian_kl", check_gaussian_kl, _gaussian_kl_reference, (
        "The KL from a diagonal Gaussian to N(0, I) is a sum of independent 1-D KLs, one per latent dimension.",
        "Each 1-D term depends on mu_j^2, on the variance exp(logvar_j) and on logvar_j itself. Sum over the last "
        "(latent) axis only, so that a (B, D) input gives one KL per row, (B,).",
        "KL = 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2) with sigma_j^2 = e^(l_j) and log sigma_j^2 = l_j "
        "(l = logvar): rewrite every sigma_j^2 in l_j, and sum over dim = -1."), "03",
        replaces=("vae_course.objectives.losses.gaussian_kl",)),
    Exercise("reparameterize", check_reparameterize, _reparam_reference, (
        "Write the sample as a deterministic function of mu, logvar and the given noise eps, so that gradients "
        "flow back to mu and logvar.",
        "Scale the standard normal noise by the standard deviation and shift it by the mean. The standard "
        "deviation is the square root of the variance exp(logvar). Use torch operations only (no .detach(), no "
        "torch.no_grad(), no sample()).",
        "z = mu + sigma * eps with sigma = sqrt(e^l) = e^(l/2) (l = logvar); then dz/dmu = 1 and "
        "dz/dl = (1/2) sigma eps."), "04",
        replaces=("vae_course.models.base.VAEBase.reparameterize",)),
    Exercise("score_function_grad", check_score_function, _score_function_reference, (
        "The gradient of E_q[f(z)] equals E_q[f(z) * grad log q(z)]: it needs only f's values, multiplied by "
        "the score of q, averaged over the draws.",
        "Differentiate log N(z; mu, sigma^2) by hand with respect to mu and to sigma; multiply each score by "
        "f(z) and average over the n draws (no autograd through f). Return the two numbers as one tensor.",
        "d/dmu ~ (1/n) sum_i f(z_i) (z_i - mu) / sigma^2 and d/dsigma ~ (1/n) sum_i f(z_i) ((z_i - mu)^2 - "
        "sigma^2) / sigma^3; return them stacked, shape (2,)."), "04",
        replaces=("vae_course.theory.estimators.score_function_samples",)),
)
