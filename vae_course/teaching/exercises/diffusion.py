"""The build exercise of notebook 14: the forward process's closed-form marginal q(x_t | x_0) of a diffusion model.

Written from the notebook's derivation (one step of the chain scales the signal by sqrt(alpha_t) and adds noise of
variance 1 - alpha_t; by induction the signal's factor is the square root of the product abar_t and the noise's
variance 1 - abar_t), which the notebook does not show as code above the checker. The course writes the per-step
noise variance 1 - alpha_t, never beta_t: beta is notebook 09's KL weight. The checker compares the learner's mean and
standard deviation with :func:`vae_course.models.diffusion.forward_marginal` on fixed and seeded random cases, and
names the known mistakes: one step's alpha_t in place of abar_t, the square root missing from the mean's factor, the
variance returned in place of the standard deviation, the per-step variances simply added, t counted from 0, the
product taken over the noise variances 1 - alpha_s instead of the alphas, and one step t used for the whole batch.
"""
from __future__ import annotations

from typing import Callable

import torch

from .core import CheckResult, Exercise, attempt, checker, describe_inputs, fail, mismatch, passed, recognise

NAMES = ("mean", "std")


def _marginal_reference(x0: torch.Tensor, alphas: torch.Tensor, t: torch.Tensor):
    from ...models.diffusion import forward_marginal

    return forward_marginal(x0, alphas, t)


def _variant(x0, alphas, t, mistake):
    x0, alphas = x0.double(), alphas.double()
    abar_all = torch.cumprod(alphas, 0)
    abar = abar_all[t - 1]
    if mistake == "one_step":
        abar = alphas[t - 1]
    if mistake == "off_by_one":
        abar = abar_all[torch.clamp(t, max=len(alphas) - 1)]
    if mistake == "noise_product":
        abar = torch.cumprod(1 - alphas, 0)[t - 1]
    if mistake == "first_t":
        abar = abar_all[t[:1] - 1].expand(t.shape[0])
    mean = (abar if mistake == "no_sqrt_mean" else abar.sqrt())[:, None] * x0
    var = (1 - abar)[:, None]
    if mistake == "sum_variances":
        var = torch.cumsum(1 - alphas, 0)[t - 1][:, None]
    std = var if mistake == "variance" else var.sqrt()
    return mean, std


DIAGNOSES = [
    ("Your answer looks like one step of the chain, with alpha_t alone: x_t lies t steps from x_0, and every step "
     "on the way shrinks the signal by its own factor.", lambda x, a, t: _variant(x, a, t, "one_step")),
    ("Your mean's factor looks like the product itself: a step scales x by the square root of its alpha, so the "
     "product of t steps' factors is a square root too.", lambda x, a, t: _variant(x, a, t, "no_sqrt_mean")),
    ("Your second value looks like the variance: return the standard deviation, the number that multiplies eps.",
     lambda x, a, t: _variant(x, a, t, "variance")),
    ("Your noise looks like the per-step variances simply added: each later step also shrinks the noise that the "
     "earlier steps added.", lambda x, a, t: _variant(x, a, t, "sum_variances")),
    ("Your answer looks like the one for the next step: t counts from 1 (t = 1 is one step of the chain), while "
     "tensors index from 0.", lambda x, a, t: _variant(x, a, t, "off_by_one")),
    ("Your product looks like it runs over the steps' noise variances: the signal's factor multiplies what each "
     "step keeps of the signal, not what it adds as noise.", lambda x, a, t: _variant(x, a, t, "noise_product")),
    ("Your answer looks like every image at the first image's step: t holds one step per image, and each row of "
     "x0 needs its own.", lambda x, a, t: _variant(x, a, t, "first_t")),
]


def _cases():
    gen = torch.Generator().manual_seed(141)
    cases = []
    alphas = 1 - torch.linspace(0.05, 0.4, 8, dtype=torch.float64)  # T = 8, large steps so that mistakes show
    x0 = torch.tensor([[1.0, -1.0, 0.5], [2.0, 0.0, -0.3], [-1.0, 1.0, 1.0]], dtype=torch.float64)
    cases.append(("T = 8 steps, 3 images of 3 pixels at t = 1, 4, 8", (x0, alphas, torch.tensor([1, 4, 8]))))
    for i in range(3):
        steps = int(torch.randint(5, 40, (1,), generator=gen))
        alphas = 1 - torch.sort(torch.rand(steps, generator=gen, dtype=torch.float64) * 0.2 + 1e-3).values
        b = int(torch.randint(2, 7, (1,), generator=gen))
        x0 = torch.randn(b, 5, generator=gen, dtype=torch.float64)
        t = torch.randint(1, steps, (b,), generator=gen)
        cases.append((f"random schedule #{i + 1} (T = {steps}, B = {b}, 5 pixels)", (x0, alphas, t)))
    return cases


def _as_pair(got, batch):
    """The learner's (mean, std) with a std of shape (B,) accepted as (B, 1)."""
    if isinstance(got, (tuple, list)) and len(got) == 2 and isinstance(got[1], torch.Tensor) \
            and tuple(got[1].shape) == (batch,):
        return got[0], got[1][:, None]
    return got


@checker
def check_forward_marginal(student_fn: Callable) -> CheckResult:
    """Notebook 14: ``forward_marginal(x0, alphas, t) -> (mean, std)`` of q(x_t | x_0) = N(mean, std^2 I).

    ``x0`` ``(B, n)``, ``alphas`` ``(T,)`` the per-step factors alpha_1..alpha_T (step t keeps alpha_t of the
    variance and adds noise of variance 1 - alpha_t), ``t`` ``(B,)`` int64 steps in 1..T
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
        "mean by sqrt(alpha_t) and the old noise's variance by alpha_t, then adds 1 - alpha_t. Pick each "
        "image's own t (counted from 1) from the product over the steps.",
        "abar_t = prod_{s=1}^{t} alpha_s,  mean = sqrt(abar_t) * x_0,  std = sqrt(1 - abar_t)  "
        "(per image, with its own t)."),
        "14", replaces=("vae_course.models.diffusion.forward_marginal",)),
)
