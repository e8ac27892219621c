"""The build exercise of notebook 14: the forward process's closed-form marginal q(x_t | x_0) of a diffusion model.

Written from the notebook's derivation (one step of the chain scales the signal by sqrt(1 - beta_t) and adds noise of
variance beta_t; by induction the signal's factor is the square root of the product abar_t and the noise's variance
1 - abar_t), which the notebook does not show as code above the checker. The checker compares the learner's mean and
standard deviation with :func:`vae_course.models.diffusion.forward_marginal` on fixed and seeded random cases, and
names the known mistakes: one step's beta_t in place of abar_t, the square root missing from the mean's factor, the
variance returned in place of the standard deviation, the per-step variances simply added, t counted from 0.
"""
from __future__ import annotations

from typing import Callable

import torch

from .core import CheckResult, Exercise, attempt, checker, describe_inputs, fail, mismatch, passed, recognise

NAMES = ("mean", "std")


def _marginal_reference(x0: torch.Tensor, betas: torch.Tensor, t: torch.Tensor):
    from ...models.diffusion import forward_marginal

    return forward_marginal(x0, betas, t)


def _variant(x0, betas, t, mistake):
    x0, betas = x0.double(), betas.double()
    abar_all = torch.cumprod(1 - betas, 0)
    abar = abar_all[t - 1]
    if mistake == "one_step":
        abar = 1 - betas[t - 1]
    if mistake == "off_by_one":
        abar = abar_all[torch.clamp(t, max=len(betas) - 1)]
    mean = (abar if mistake == "no_sqrt_mean" else abar.sqrt())[:, None] * x0
    var = (1 - abar)[:, None]
    if mistake == "sum_betas":
        var = torch.cumsum(betas, 0)[t - 1][:, None]
    std = var if mistake == "variance" else var.sqrt()
    return mean, std


DIAGNOSES = [
    ("Your answer looks like one step of the chain, with beta_t alone: x_t lies t steps from x_0, and every step "
     "on the way shrinks the signal by its own factor.", lambda x, b, t: _variant(x, b, t, "one_step")),
    ("Your mean's factor looks like the product itself: a step scales x by the square root of (1 - beta), so the "
     "product of t steps' factors is a square root too.", lambda x, b, t: _variant(x, b, t, "no_sqrt_mean")),
    ("Your second value looks like the variance: return the standard deviation, the number that multiplies eps.",
     lambda x, b, t: _variant(x, b, t, "variance")),
    ("Your noise looks like the per-step variances simply added: each later step also shrinks the noise that the "
     "earlier steps added.", lambda x, b, t: _variant(x, b, t, "sum_betas")),
    ("Your answer looks like the one for the next step: t counts from 1 (t = 1 is one step of the chain), while "
     "tensors index from 0.", lambda x, b, t: _variant(x, b, t, "off_by_one")),
]


def _cases():
    gen = torch.Generator().manual_seed(141)
    cases = []
    betas = torch.linspace(0.05, 0.4, 8, dtype=torch.float64)  # T = 8, large steps so that mistakes show
    x0 = torch.tensor([[1.0, -1.0, 0.5], [2.0, 0.0, -0.3], [-1.0, 1.0, 1.0]], dtype=torch.float64)
    cases.append(("T = 8 steps, 3 images of 3 pixels at t = 1, 4, 8", (x0, betas, torch.tensor([1, 4, 8]))))
    for i in range(3):
        steps = int(torch.randint(5, 40, (1,), generator=gen))
        betas = torch.sort(torch.rand(steps, generator=gen, dtype=torch.float64) * 0.2 + 1e-3).values
        b = int(torch.randint(2, 7, (1,), generator=gen))
        x0 = torch.randn(b, 5, generator=gen, dtype=torch.float64)
        t = torch.randint(1, steps, (b,), generator=gen)
        cases.append((f"random schedule #{i + 1} (T = {steps}, B = {b}, 5 pixels)", (x0, betas, t)))
    return cases


def _as_pair(got, batch):
    """The learner's (mean, std) with a std of shape (B,) accepted as (B, 1)."""
    if isinstance(got, (tuple, list)) and len(got) == 2 and isinstance(got[1], torch.Tensor) \
            and tuple(got[1].shape) == (batch,):
        return got[0], got[1][:, None]
    return got


@checker
def check_forward_marginal(student_fn: Callable) -> CheckResult:
    """Notebook 14: ``forward_marginal(x0, betas, t) -> (mean, std)`` of q(x_t | x_0) = N(mean, std^2 I).

    ``x0`` ``(B, n)``, ``betas`` ``(T,)`` the per-step variances beta_1..beta_T, ``t`` ``(B,)`` int64 steps in 1..T
    (one per image). ``mean`` ``(B, n)``, ``std`` ``(B, 1)`` (or ``(B,)``). Compared with relative 1e-5.
    """
    name = "forward_marginal"
    if not callable(student_fn):
        return fail(name, "pass your function itself, without calling it: check_forward_marginal(forward_marginal), "
                          "not check_forward_marginal(forward_marginal()).")
    tol = dict(atol=1e-6, rtol=1e-5)
    cases = _cases()
    for i, (desc, args) in enumerate(cases, start=1):
        want = _marginal_reference(*args)
        got = attempt(name, f"case {i} ({desc})", student_fn, *(a.clone() for a in args))
        got = _as_pair(got, args[0].shape[0])
        why = mismatch(got, want, names=NAMES, **tol)
        if why is None:
            continue
        known = recognise(got, DIAGNOSES, args, {}, **tol)
        if known:
            why = mismatch(got, want, names=NAMES, generic=False, **tol)
        return fail(name, f"case {i} ({desc}): {why}{known} Inputs: {describe_inputs(args, {})}.")
    return passed(name, f"all {len(cases)} cases match the reference (mean and standard deviation of q(x_t | x_0)).")


EXERCISES = (
    Exercise("forward_marginal", check_forward_marginal, _marginal_reference, (
        "Each step of the chain scales the previous x by a number and adds fresh Gaussian noise; a Gaussian pushed "
        "through a linear map plus independent Gaussian noise stays Gaussian, so only its mean and variance have to "
        "be tracked from x_0 to x_t.",
        "Suppose x_{t-1} is sqrt(abar_{t-1}) x_0 plus noise of variance 1 - abar_{t-1}. One more step multiplies the "
        "mean by sqrt(alpha_t) and the old noise's variance by alpha_t = 1 - beta_t, then adds beta_t. Pick each "
        "image's own t (counted from 1) from the product over the steps.",
        "abar_t = prod_{s=1}^{t} (1 - beta_s),  mean = sqrt(abar_t) * x_0,  std = sqrt(1 - abar_t)  "
        "(per image, with its own t)."),
        "14", replaces=("vae_course.models.diffusion.forward_marginal",)),
)
