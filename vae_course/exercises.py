"""Automatic checks for the notebooks' exercises.

Used by every notebook with an exercise (01-10). Each ``check_*`` function takes the learner's function, runs it
and the package's reference implementation on fixed and seeded random inputs, and returns a :class:`CheckResult`:
it shows as one line, ``PASS ...`` or ``FAIL ...`` with a hint, when it is the last line of a cell, and is truthy
only when every case matches.

Exercise cells follow one convention: the learner's function lives in a cell tagged ``solution`` (the repository
ships the solution; a student edition replaces those cells with a stub), and the next cell calls the checker.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch


class CheckResult:
    """The verdict of one exercise check: truthy when it passed; its repr is the one-line message."""

    def __init__(self, passed: bool, message: str):
        self.passed = bool(passed)
        self.message = message

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return self.message


Case = tuple[str, Sequence[Any], dict]


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        if value.numel() <= 4:
            return f"tensor({[round(v, 4) for v in value.detach().flatten().tolist()]}, shape={tuple(value.shape)})"
        return f"tensor of shape {tuple(value.shape)}"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_describe(v) for v in value) + ")"
    return repr(value)


def _mismatch(got, want, atol: float, rtol: float) -> str | None:
    """None when ``got`` matches ``want``; otherwise a short reason."""
    if isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            return f"expected {len(want)} values, got {_describe(got)}"
        for i, (g, w) in enumerate(zip(got, want)):
            why = _mismatch(g, w, atol, rtol)
            if why:
                return f"value {i}: {why}"
        return None
    if isinstance(want, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            try:
                got = torch.as_tensor(got, dtype=want.dtype)
            except (TypeError, ValueError, RuntimeError):
                return f"expected a tensor, got {type(got).__name__}"
        if got.shape != want.shape:
            return f"shape {tuple(got.shape)}, expected {tuple(want.shape)}"
        if not torch.allclose(got.detach().to(want.dtype), want.detach(), atol=atol, rtol=rtol, equal_nan=False):
            return f"got {_describe(got)}, expected {_describe(want)}"
        return None
    if isinstance(want, (int, float)):
        try:
            g = float(got)
        except (TypeError, ValueError, RuntimeError):
            return f"expected a number, got {_describe(got)}"
        if not math.isclose(g, float(want), rel_tol=rtol, abs_tol=atol):
            return f"got {g:.6g}, expected {float(want):.6g}"
        return None
    return None if got == want else f"got {got!r}, expected {want!r}"


def compare(student_fn: Callable, reference_fn: Callable, cases: Sequence[Case], *, name: str, hint: str,
            atol: float = 1e-5, rtol: float = 1e-4) -> CheckResult:
    """Run ``student_fn`` and ``reference_fn`` on each ``(description, args, kwargs)`` case and compare the results.

    Tensors are compared with ``torch.allclose`` (shape first), numbers with ``math.isclose``, tuples element-wise.
    An exception in the learner's code is reported as a failure with its one-line message, never a traceback.
    """
    if not callable(student_fn):
        return CheckResult(False, f"FAIL {name}: pass your function itself (without calling it), "
                                  f"e.g. check(my_function). Hint: {hint}")
    for i, (desc, args, kwargs) in enumerate(cases, start=1):
        want = reference_fn(*args, **kwargs)
        try:
            got = student_fn(*args, **kwargs)
        except NotImplementedError:
            return CheckResult(False, f"FAIL {name}: the function is still a stub (NotImplementedError). Hint: {hint}")
        except Exception as exc:  # noqa: BLE001 - report the learner's error in one line
            return CheckResult(False, f"FAIL {name}: case {i} ({desc}) raised {type(exc).__name__}: {exc}. "
                                      f"Hint: {hint}")
        why = _mismatch(got, want, atol, rtol)
        if why:
            return CheckResult(False, f"FAIL {name}: case {i} ({desc}): {why}. Hint: {hint}")
    return CheckResult(True, f"PASS {name}: all {len(cases)} cases match the reference (fixed and random inputs).")


def random_cases(make_args: Callable[[torch.Generator], tuple[Sequence[Any], dict]], n: int, *, seed: int = 0,
                 label: str = "random input") -> list[Case]:
    """``n`` seeded random cases built by ``make_args(generator) -> (args, kwargs)``."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        args, kwargs = make_args(gen)
        out.append((f"{label} #{i + 1}", args, kwargs))
    return out


# ---------------------------------------------------------------------------------------------------------------
# The checkers, one per exercise. Each section names its notebook.
# ---------------------------------------------------------------------------------------------------------------


# --- Notebooks 01-04 (theory): the naive Monte-Carlo marginal, the toy ELBO, the Gaussian KL, reparameterization ---

def _theory_toy(w: float, b: float, s: float):
    from .toy import LinearGaussian

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
    from .losses import gaussian_kl

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


# ---------------------------------------------------------------------------------------------------------------
# Notebook 05: the VAE loss, reference style (BCE + KL), from decoder logits.
# ---------------------------------------------------------------------------------------------------------------
def _vae_loss_reference(logits, x, mu, logvar, reduction: str = "sum"):
    from .losses import elbo

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


# --- notebook 07: likelihoods --------------------------------------------------------------------------------------

def check_cb_log_normalizer(student_fn: Callable) -> CheckResult:
    """Notebook 07, exercise 1: ``cb_log_norm(lam)`` = log C(lam) of the continuous Bernoulli, elementwise."""
    from .likelihoods import cb_log_normalizer

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
    from .likelihoods import optimal_gaussian_sigma

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


# --- notebook 08: the importance-weighted bound --------------------------------------------------------------------

def check_iwae_estimate(student_fn: Callable) -> CheckResult:
    """Notebook 08: ``iwae_estimate(log_w)``: (k, B) log-weights -> (B,) log of the mean weight, computed stably."""
    from .iwae import iwae_from_log_weights

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


# ---------------------------------------------------------------------------------------------------------------
# Notebook 06: a straight path through latent space.
# ---------------------------------------------------------------------------------------------------------------
def _interpolation_path_reference(z0, z1, steps):
    from .latent_space import interpolate

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


# ---------------------------------------------------------------------------------------------------------------
# Notebooks 09-10: the KL warm-up schedule, active units, conditioning on a one-hot label.
# ---------------------------------------------------------------------------------------------------------------
def check_kl_weight(student_fn: Callable) -> CheckResult:
    """Notebook 09: ``kl_weight(step, warmup_steps, beta)``, the linear KL warm-up; compared with
    :func:`vae_course.collapse.kl_weight` (including no warm-up, ``warmup_steps == 0``, and steps past the end)."""
    from .collapse import kl_weight

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
    from .collapse import count_active_units

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
    from .cvae import one_hot

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
