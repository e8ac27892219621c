"""The build exercise of notebook 13: the Ladder VAE's top-down step, the precision-weighted merge of the bottom-up
message with the generative Gaussian p(z1|z2), and the KL term of the lower layer, ``KL(q(z1|z2, x) || p(z1|z2))``.

Written from the derivation in the notebook's markdown (product of two Gaussians, then the KL of notebook 03 between
two diagonal Gaussians), which the notebook does not show as code above the checker. The checker compares the three
outputs (``mu``, ``logvar``, ``kl``) with :mod:`vae_course.models.hierarchical`'s functions on fixed and seeded
random cases, and names the known mistakes: variances added instead of precisions, means weighted by variances,
the KL's direction reversed, a missing sum over the latent axis, log-variances averaged.
"""
from __future__ import annotations

from typing import Callable

import torch

from .core import CheckResult, Exercise, attempt, checker, describe_inputs, fail, mismatch, passed, recognise

NAMES = ("mu", "logvar", "kl")


def _ladder_reference(mu_hat, logvar_hat, mu_p, logvar_p):
    from ...models.hierarchical import gaussian_kl_pair, precision_weighted_merge

    mu, logvar = precision_weighted_merge(mu_hat, logvar_hat, mu_p, logvar_p)
    return mu, logvar, gaussian_kl_pair(mu, logvar, mu_p, logvar_p)


def _kl(mu_q, lv_q, mu_p, lv_p, total=True):
    kl = 0.5 * (lv_p - lv_q + (lv_q.exp() + (mu_q - mu_p) ** 2) / lv_p.exp() - 1)
    return kl.sum(-1) if total else kl


def _variant(mu_hat, logvar_hat, mu_p, logvar_p, *, merge="right", kl="right"):
    a, b = mu_hat.double(), logvar_hat.double()
    c, d = mu_p.double(), logvar_p.double()
    if merge == "variances_add":
        lv = torch.logaddexp(b, d)
        mu = (a * (-b).exp() + c * (-d).exp()) / ((-b).exp() + (-d).exp())
    elif merge == "weights_by_variance":
        lv = -torch.logaddexp(-b, -d)
        mu = (a * b.exp() + c * d.exp()) / (b.exp() + d.exp())
    elif merge == "average_logvar":
        lv = (b + d) / 2
        mu = (a * (-b).exp() + c * (-d).exp()) * (-torch.logaddexp(-b, -d)).exp()
    else:
        lv = -torch.logaddexp(-b, -d)
        mu = (a * (-b).exp() + c * (-d).exp()) * lv.exp()
    if kl == "reversed":
        k = _kl(c, d, mu, lv)
    elif kl == "no_sum":
        k = _kl(mu, lv, c, d, total=False)
    elif kl == "to_standard_normal":
        k = _kl(mu, lv, torch.zeros_like(c), torch.zeros_like(d))
    else:
        k = _kl(mu, lv, c, d)
    return mu, lv, k


DIAGNOSES = [
    ("Your logvar adds the two variances: when two Gaussians in z1 are multiplied, their precisions 1/sigma^2 add.",
     lambda *a: _variant(*a, merge="variances_add")),
    ("Your mean weights each Gaussian's mean by its variance: the more certain Gaussian (the smaller variance) must "
     "count more.", lambda *a: _variant(*a, merge="weights_by_variance")),
    ("Your logvar is the average of the two log-variances: the merged q is narrower than either of the two.",
     lambda *a: _variant(*a, merge="average_logvar")),
    ("Your KL seems to be KL(p || q): the ELBO's term is KL(q(z1|z2, x) || p(z1|z2)), the expectation under q.",
     lambda *a: _variant(*a, kl="reversed")),
    ("Your KL measures q against N(0, I): the lower layer's prior is p(z1|z2), with mean mu_p and log-variance "
     "logvar_p.", lambda *a: _variant(*a, kl="to_standard_normal")),
]


def _cases():
    f64, f32 = torch.float64, torch.float32
    gen = torch.Generator().manual_seed(131)
    cases = [("one image, D1 = 1: mu_hat = 1, logvar_hat = 0, mu_p = -1, logvar_p = 0 (float64)",
              tuple(torch.tensor([[v]], dtype=f64) for v in (1.0, 0.0, -1.0, 0.0))),
             ("one image, D1 = 2, a confident message (logvar_hat = -6) (float64)",
              (torch.tensor([[0.5, -2.0]], dtype=f64), torch.tensor([[-6.0, -6.0]], dtype=f64),
               torch.tensor([[0.0, 1.0]], dtype=f64), torch.tensor([[0.0, 1.0]], dtype=f64)))]
    for i, (b, d, dtype) in enumerate([(3, 4, f64), (5, 2, f32), (2, 7, f64), (4, 3, f32)]):
        mu_hat, mu_p = torch.randn(b, d, generator=gen, dtype=f64), torch.randn(b, d, generator=gen, dtype=f64)
        lv_hat = 3 * torch.rand(b, d, generator=gen, dtype=f64) - 2
        lv_p = 3 * torch.rand(b, d, generator=gen, dtype=f64) - 2
        cases.append((f"random batch #{i + 1}, B = {b}, D1 = {d} ({'float32' if dtype == f32 else 'float64'})",
                      tuple(t.to(dtype) for t in (mu_hat, lv_hat, mu_p, lv_p))))
    return cases


@checker
def check_ladder_kl(student_fn: Callable) -> CheckResult:
    """Notebook 13: ``ladder_kl(mu_hat, logvar_hat, mu_p, logvar_p) -> (mu, logvar, kl)``.

    The inputs are ``(B, D1)``: the bottom-up message N(mu_hat, e^logvar_hat) and the generative p(z1|z2) =
    N(mu_p, e^logvar_p). The outputs: the merged q(z1|z2, x) = N(mu, e^logvar), ``(B, D1)`` each, and
    ``kl = KL(q || p(z1|z2))`` summed over the latent axis, ``(B,)``. Compared in float64 (relative 1e-4 for float32
    inputs) with the package's precision-weighted merge and Gaussian KL.
    """
    name = "ladder_kl"
    if not callable(student_fn):
        return fail(name, "pass your function itself, without calling it: check_ladder_kl(my_function), not "
                          "check_ladder_kl(my_function()).")
    cases = _cases()
    for i, (desc, args) in enumerate(cases, start=1):
        want = tuple(v.double() for v in _ladder_reference(*(a.double() for a in args)))
        got = attempt(name, f"case {i} ({desc})", student_fn, *(a.clone() for a in args))
        f32 = args[0].dtype == torch.float32
        got64 = tuple(g.double() if isinstance(g, torch.Tensor) and g.is_floating_point() else g
                      for g in got) if isinstance(got, (tuple, list)) else got
        tol = dict(atol=1e-5, rtol=1e-4) if f32 else {}
        why = mismatch(got64, want, names=NAMES, **tol)
        if why is None:
            continue
        known = recognise(got64, DIAGNOSES, args, {}, **tol)
        if not known and isinstance(got64, (tuple, list)) and len(got64) == 3 and isinstance(got64[2], torch.Tensor) \
                and got64[2].shape == want[0].shape:
            known = (" Your kl has one value per latent coordinate: the KL of the layer sums them over the latent "
                     "axis, one number per image.")
        if known:
            why = mismatch(got64, want, names=NAMES, generic=False, **tol)
        return fail(name, f"case {i} ({desc}): {why}{known} Inputs: {describe_inputs(args, {})}.")
    return passed(name, f"all {len(cases)} cases match the reference (mu, logvar and the KL term, float64 and "
                        f"float32).")


EXERCISES = (
    Exercise("ladder_kl", check_ladder_kl, _ladder_reference, (
        "The top-down q of the lower layer is the normalised product of two Gaussians in z1, the bottom-up message "
        "and the generative p(z1|z2); its KL term is notebook 03's KL between two diagonal Gaussians, with p(z1|z2) "
        "in place of N(0, I).",
        "Work with precisions (1 / variance): they add, and the merged mean is the precision-weighted average of the "
        "two means. Then take the KL coordinate by coordinate and sum it over the latent axis. Stay in log-variances "
        "(exp of minus logvar is a precision).",
        "1/sigma^2 = 1/sigma_hat^2 + 1/sigma_p^2,  mu = (mu_hat/sigma_hat^2 + mu_p/sigma_p^2) sigma^2,  "
        "KL = 1/2 sum_j [ log sigma_p,j^2 - log sigma_j^2 + (sigma_j^2 + (mu_j - mu_p,j)^2) / sigma_p,j^2 - 1 ]."),
        "13", replaces=("vae_course.models.hierarchical.precision_weighted_merge",
                        "vae_course.models.hierarchical.gaussian_kl_pair")),
)
