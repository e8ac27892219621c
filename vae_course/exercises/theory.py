"""The checkers of the theory part, notebooks 01-04: the naive Monte-Carlo marginal, the toy ELBO, the Gaussian KL,
reparameterization and the score-function estimator.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .core import CheckResult, compare, random_cases


# --- Notebooks 01-04 (theory): the naive Monte-Carlo marginal, the toy ELBO, the Gaussian KL, reparameterization ---

def _theory_toy(w: float, b: float, s: float):
    from ..toy import LinearGaussian

    return LinearGaussian(w, b, s)


def _uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    return float(torch.empty((), dtype=torch.float64).uniform_(lo, hi, generator=gen))


def _random_toy(gen: torch.Generator):
    sign = 1.0 if _uniform(gen, 0, 1) < 0.5 else -1.0
    return _theory_toy(round(sign * _uniform(gen, 0.3, 2.5), 3), round(_uniform(gen, -1, 1), 3),
                       round(_uniform(gen, 0.3, 1.5), 3))


def check_mc_marginal(student_fn: Callable) -> CheckResult:
    """Notebook 01: ``mc_log_marginal(toy, x, z)``, the log of the naive Monte-Carlo estimate of p(x).

    ``x`` is one observation ``(D,)``; ``z`` holds ``n`` prior draws ``(n, D)``; the answer is the scalar
    ``log (1/n) sum_i prod_d N(x_d; w z_id + b, s^2)``. The last case is 50-dimensional with a sharp likelihood, where
    ``exp`` underflows to 0, so only a log-space (``logsumexp``) implementation passes it.
    """
    def make(gen):
        d = int(torch.randint(1, 7, (), generator=gen))
        n = int(torch.randint(20, 201, (), generator=gen))
        x = 2 * torch.randn(d, generator=gen, dtype=torch.float64)
        return (_random_toy(gen), x, torch.randn(n, d, generator=gen, dtype=torch.float64)), {}

    gen = torch.Generator().manual_seed(1)
    f64 = torch.float64
    cases = [
        ("1-D toy, five fixed draws", (_theory_toy(2.0, 0.5, 1.0), torch.tensor([3.0], dtype=f64),
                                        torch.tensor([[-1.0], [0.0], [0.5], [1.0], [2.0]], dtype=f64)), {}),
        ("3-D, four fixed draws", (_theory_toy(1.0, 0.0, 0.5), torch.tensor([0.5, -1.0, 2.0], dtype=f64),
                                   torch.tensor([[0.0, 0.0, 0.0], [1.0, -1.0, 2.0], [0.5, 0.5, 0.5],
                                                 [-1.0, 2.0, 1.0]], dtype=f64)), {}),
        *random_cases(make, 4, seed=11),
        ("50-D with a sharp likelihood (exp underflows)",
         (_theory_toy(1.0, 0.0, 0.05), torch.full((50,), 2.0, dtype=f64),
          torch.randn(100, 50, generator=gen, dtype=f64)), {}),
    ]
    return compare(student_fn, lambda toy, x, z: toy.mc_log_marginal(x, z), cases, name="mc_log_marginal",
                   hint="sum log N(x_d; w*z_id + b, s^2) over d (toy.log_likelihood(x, z).sum(-1)) to get log p(x|z_i) "
                        "for each draw, then average the p(x|z_i) in log space: torch.logsumexp(log_p, 0) - log(n). "
                        "log(mean(exp(...))) underflows to -inf in high dimensions.",
                   atol=1e-8, rtol=1e-8)


def check_toy_elbo(student_fn: Callable) -> CheckResult:
    """Notebook 02: ``toy_elbo(toy, x, q_mean, q_std)``, the closed-form ELBO of the linear-Gaussian toy."""
    f64 = torch.float64

    def make(gen):
        toy = _random_toy(gen)
        x = 2 * torch.randn((), generator=gen, dtype=f64)
        q_mean = torch.randn(6, generator=gen, dtype=f64)
        q_std = torch.empty(6, dtype=f64).uniform_(0.1, 2.0, generator=gen)
        return (toy, x, q_mean, q_std), {}

    t = torch.tensor
    cases = [
        ("q = exact posterior of x = 3 (ELBO = log p(x))",
         (_theory_toy(2.0, 0.5, 1.0), t(3.0, dtype=f64), t(1.0, dtype=f64), t(0.2, dtype=f64).sqrt()), {}),
        ("q = prior N(0, 1)", (_theory_toy(2.0, 0.5, 1.0), t(3.0, dtype=f64), t(0.0, dtype=f64), t(1.0, dtype=f64)),
         {}),
        ("narrow q far from the posterior",
         (_theory_toy(-1.0, 0.0, 0.5), t(-1.0, dtype=f64), t(-2.0, dtype=f64), t(0.1, dtype=f64)), {}),
        *random_cases(make, 4, seed=12),
    ]
    return compare(student_fn, lambda toy, x, m, v: toy.elbo(x, m, v), cases, name="toy_elbo",
                   hint="ELBO = E_q[log p(x|z)] - KL(q || p(z)) with E_q[log p(x|z)] = -1/2 log(2 pi s^2) "
                        "- ((x - w m - b)^2 + w^2 v^2) / (2 s^2) and KL = 1/2 (m^2 + v^2 - 1 - log v^2); "
                        "use toy.w, toy.b, toy.s and torch functions so tensors of q's work.",
                   atol=1e-8, rtol=1e-8)


def check_gaussian_kl(student_fn: Callable) -> CheckResult:
    """Notebook 03: ``kl(mu, logvar)``, KL(N(mu, diag(exp(logvar))) || N(0, I)) per row, shape ``(B,)``."""
    from ..losses import gaussian_kl

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
    return compare(student_fn, gaussian_kl, cases, name="gaussian_kl",
                   hint="KL = -1/2 * sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j)); sum over the last (latent) axis "
                        "only (dim=-1), so a (B, D) input gives a (B,) output.")


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
    def reference(mu, logvar, eps):
        return mu + torch.exp(0.5 * logvar) * eps

    def make(gen):
        b, d = int(torch.randint(1, 6, (), generator=gen)), int(torch.randint(1, 5, (), generator=gen))
        return tuple(torch.randn(b, d, generator=gen) for _ in range(3)), {}

    cases = [
        ("eps = 0 gives z = mu", (torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, 1.0]]), torch.zeros(1, 2)), {}),
        ("sigma = 2, eps = 1", (torch.tensor([[0.5]]), torch.tensor([[math.log(4.0)]]), torch.ones(1, 1)), {}),
        *random_cases(make, 4, seed=14),
    ]
    if not callable(student_fn):
        return compare(student_fn, reference, cases, name="reparameterize", hint="")
    return compare(_reparam_run(student_fn), _reparam_run(reference), cases, name="reparameterize",
                   hint="z = mu + exp(0.5 * logvar) * eps, built from mu and logvar with torch operations (no "
                        ".detach(), no torch.no_grad(), no sample()), so that dz/dmu = 1 and "
                        "dz/dlogvar = 0.5 * sigma * eps.")


def _score_function_reference(f: Callable, mu: torch.Tensor, sigma: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    fz = f(z)
    d_mu = fz * (z - mu) / sigma ** 2
    d_sigma = fz * ((z - mu) ** 2 - sigma ** 2) / sigma ** 3
    return torch.stack([d_mu.mean(), d_sigma.mean()])


def check_score_function(student_fn: Callable) -> CheckResult:
    """Notebook 04: ``score_function_grad(f, mu, sigma, z)`` -> tensor([d/dmu, d/dsigma]) of E_q[f(z)].

    ``z`` holds ``n`` draws of q = N(mu, sigma^2); the estimate averages f(z) * grad log q(z) over them.
    """
    f64 = torch.float64
    toy = _theory_toy(2.0, 0.5, 1.0)
    fns = [("f(z) = z^2", lambda z: z ** 2), ("f(z) = sin(z)", torch.sin),
           ("f(z) = log p(x=3, z) of the toy", lambda z: toy.log_joint(3.0, z))]

    def make(gen):
        name, f = fns[int(torch.randint(0, 3, (), generator=gen))]
        mu = torch.randn((), generator=gen, dtype=f64)
        sigma = torch.empty((), dtype=f64).uniform_(0.2, 2.0, generator=gen)
        n = int(torch.randint(5, 200, (), generator=gen))
        return (f, mu, sigma, mu + sigma * torch.randn(n, generator=gen, dtype=f64)), {}

    t = torch.tensor
    cases = [(f"{name}, three fixed draws", (f, t(0.5, dtype=f64), t(2.0, dtype=f64), t([-1.0, 0.5, 3.0], dtype=f64)),
              {}) for name, f in fns]
    cases += random_cases(make, 4, seed=15)
    return compare(student_fn, _score_function_reference, cases, name="score_function_grad",
                   hint="average f(z) * d/dtheta log q(z) over the draws, with d/dmu log q = (z - mu) / sigma^2 and "
                        "d/dsigma log q = ((z - mu)^2 - sigma^2) / sigma^3; use only f's values (no autograd "
                        "through f), and return torch.stack([d_mu, d_sigma]).",
                   atol=1e-8, rtol=1e-8)
