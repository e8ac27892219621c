"""The build exercises of notebooks 07 and 08: the continuous Bernoulli's mean everywhere on (0, 1), including near
and at 1/2 (07), and the estimates of ``k * gap`` of the importance-weighted bound, plain and with the control
variate ``E[delta] = 0`` (08).

Both are written from a derivation in the notebook's markdown that the notebook never shows as code. The checkers
are hand-written on :mod:`.core`'s helpers, because their known mistakes need more than a value comparison: a NaN at
``lam = 1/2`` (the closed form is infinity minus infinity there), digits lost in float32 near 1/2 (two large terms
cancel), and standard errors that may use either the divisor ``R`` or ``R - 1``.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .core import (CheckResult, Exercise, attempt, checker, describe_inputs, fail, mismatch, passed, recognise,
                   require)


# --- Notebook 07: the continuous Bernoulli's mean, with the series near 1/2 ---
def _cb_mean_reference(lam):
    from ...evaluation.likelihoods import cb_mean

    return cb_mean(lam)


def _cb_mean_exact(lam):
    """The mean in float64, the truth every case is compared with."""
    from ...evaluation.likelihoods import cb_mean

    return cb_mean(lam.double())


def _cb_closed(lam, factor=2.0, sign=1.0):
    """The closed form without the series (NaN at 1/2), with a wrong factor or sign where asked, in float64."""
    lam = lam.double()
    t = 1 - 2 * lam
    return lam / (2 * lam - 1) + sign / (factor * torch.atanh(t))


def _cb_series_everywhere(lam, cubic=True):
    t = 1 - 2 * lam.double()
    return 0.5 - t / 6 - (2 * t.pow(3) / 45 if cubic else 0)


def _cb_series_flipped(lam):
    t = 1 - 2 * lam.double()
    return torch.where(t.abs() < 0.05, 0.5 + t / 6 + 2 * t.pow(3) / 45, _cb_mean_exact(lam))


CB_MEAN_DIAGNOSES = [
    ("That is lam itself, the mean of the Bernoulli on {0, 1}: the continuous Bernoulli's mean is another "
     "function of lam, squashed towards 1/2.", lambda lam: lam.double()),
    ("The second term of the closed form seems to have the wrong sign.", lambda lam: _cb_closed(lam, sign=-1.0)),
    ("You might be missing the factor 2 in front of artanh.", lambda lam: _cb_closed(lam, factor=1.0)),
    ("Far from 1/2 your values follow the series: the series is for the neighbourhood of 1/2 only; elsewhere the "
     "closed form is exact.", _cb_series_everywhere),
    ("Far from 1/2 your values follow the series: the series is for the neighbourhood of 1/2 only; elsewhere the "
     "closed form is exact.", lambda lam: _cb_series_everywhere(lam, cubic=False)),
    ("Near 1/2 your series moves the wrong way: for lam below 1/2 the mean is below 1/2 too. Check the sign of its "
     "terms in t = 1 - 2 lam.", _cb_series_flipped),
]


def _cb_cases():
    f64, f32 = torch.float64, torch.float32
    gen = torch.Generator().manual_seed(72)
    cases = [
        ("lam = 0.1, 0.3, 0.7, 0.9 (float64)", torch.tensor([0.1, 0.3, 0.7, 0.9], dtype=f64)),
        ("lam near 0 and 1: 1e-4, 0.01, 0.99, 0.9999 (float64)", torch.tensor([1e-4, 0.01, 0.99, 0.9999], dtype=f64)),
        ("lam = 1/2 exactly, and 0.25 (float64)", torch.tensor([0.5, 0.25], dtype=f64)),
        ("lam within 1e-3 of 1/2 (float64)", torch.tensor([0.499, 0.4999, 0.5001, 0.5005], dtype=f64)),
        ("lam within 1e-3 of 1/2 (float32)", torch.tensor([0.499, 0.4999, 0.5001, 0.501], dtype=f32)),
        ("a (2, 3) tensor (float32)", torch.tensor([[0.02, 0.2, 0.45], [0.55, 0.8, 0.98]], dtype=f32)),
        ("a 0-d tensor, lam = 0.2 (float64)", torch.tensor(0.2, dtype=f64)),
    ]
    for i in range(3):
        n = int(torch.randint(1, 7, (), generator=gen))
        cases.append((f"random lam #{i + 1} (float64)", 0.001 + 0.998 * torch.rand(n, generator=gen, dtype=f64)))
    return cases


@checker
def check_cb_mean(student_fn: Callable) -> CheckResult:
    """Notebook 07: ``continuous_bernoulli_mean(lam)``, the mean of CB(lam) elementwise, for every lam in (0, 1).

    Away from 1/2 the closed form ``lam / (2 lam - 1) + 1 / (2 artanh(1 - 2 lam))``; near 1/2 (where it is
    infinity minus infinity) its series in ``t = 1 - 2 lam``. Compared in float64 with
    :func:`vae_course.evaluation.cb_mean` on float64 and float32 inputs, including ``lam = 1/2`` and float32 values
    within 1e-3 of it, where the closed form's two terms cancel and lose digits.
    """
    name = "continuous_bernoulli_mean"
    if not callable(student_fn):
        return fail(name, "pass your function itself, without calling it: check_cb_mean(my_function), not "
                          "check_cb_mean(my_function()).")
    cases = _cb_cases()
    for i, (desc, lam) in enumerate(cases, start=1):
        want = _cb_mean_exact(lam)
        got = attempt(name, f"case {i} ({desc})", student_fn, lam.clone())
        why = mismatch(got, want)
        if why is None:
            continue
        inputs = describe_inputs((lam,), {})
        extra = ""
        if isinstance(got, torch.Tensor) and got.shape == want.shape and got.is_floating_point():
            bad = ~torch.isfinite(got)
            if bool(bad.any()):
                where = [round(v, 6) for v in lam[bad].double().tolist()]
                extra = (f" Your value is inf or NaN at lam = {where}: at lam = 1/2 the closed form divides by zero "
                         "(each of its two terms is infinite), so at and near 1/2 the mean needs another form, the "
                         "series derived above.")
                why = mismatch(got, want, generic=False)
            elif lam.dtype == torch.float32:
                again = attempt(name, f"case {i} ({desc}) in float64", student_fn, lam.double())
                if mismatch(again, want) is None:
                    extra = (" Your function is right in float64, but in float32 near lam = 1/2 it loses digits: the "
                             "two terms of the closed form are large there and cancel. Use the series over a wider "
                             "neighbourhood of 1/2.")
        if not extra:
            extra = recognise(got, CB_MEAN_DIAGNOSES, (lam,), {})
            if extra:
                why = mismatch(got, want, generic=False)
        return fail(name, f"case {i} ({desc}): {why}{extra} Inputs: {inputs}.")
    return passed(name, f"all {len(cases)} cases match the reference (float64 and float32, at and near 1/2).")


# --- Notebook 08: k * gap of the importance-weighted bound, plain and with the control variate ---
def _draws(log_w):
    return torch.logsumexp(log_w, dim=1) - math.log(log_w.shape[1])  # (R,) draws of log p_hat_k


def _gap_parts(log_w, log_px, *, draws=None, excess=None, se_root=True):
    log_w = log_w.double()
    r, k = log_w.shape
    d = _draws(log_w) if draws is None else draws(log_w)
    root = math.sqrt(r) if se_root else 1.0
    ex = torch.expm1(d - log_px) - (d - log_px) if excess is None else excess(d - log_px)
    return (k * (log_px - d.mean()), k * d.std() / root, k * ex.mean(), k * ex.std() / root)


def _k_gap_reference(log_w, log_px):
    """``(plain, its s.e., control variate, its s.e.)``: estimates of ``k (log p(x) - L_k)`` from ``R`` draws."""
    return _gap_parts(log_w, float(log_px))


NAMES = ("the plain k * gap", "its standard error", "the control-variate k * gap", "its standard error")


def _gap_mismatch(got, want, r: int, generic: bool = True) -> str | None:
    """None when the four values match; standard errors may use the divisor R or R - 1 (relative 1/R)."""
    if not isinstance(got, (tuple, list)) or len(got) != 4:
        return f"expected 4 values ({', '.join(NAMES)}), got {type(got).__name__}" + (
            f" of length {len(got)}." if isinstance(got, (tuple, list)) else ".")
    for j, (g, w) in enumerate(zip(got, want)):
        why = mismatch(g, w, rtol=1.0 / r if j in (1, 3) else 0.0, generic=generic)
        if why:
            return f"{NAMES[j]}: {why}"
    return None


def _lognormal_log_w(gen, r, k, log_px, spread):
    """Log-weights whose weights have mean exactly p(x): log p(x) + spread * n - spread^2 / 2, ``(R, k)``."""
    return log_px + spread * torch.randn(r, k, generator=gen, dtype=torch.float64) - spread ** 2 / 2


def _toy_log_w(gen, r, k):
    from ...theory import LinearGaussian

    toy = LinearGaussian(w=2.0, b=0.5, s=0.5)
    x = torch.tensor(3.0, dtype=torch.float64)
    m, s = toy.posterior(x)
    z = toy.sample_q(m + s, 1.5 * s, r * k, gen).reshape(r, k)
    return toy.log_weights(x, z, m + s, 1.5 * s), toy.log_marginal(x).item()


def _gap_cases():
    gen = torch.Generator().manual_seed(83)
    toy_w, toy_lp = _toy_log_w(gen, 300, 10)
    cases = [
        ("k = 1, R = 400, weights spread by a factor e (lognormal, log p(x) = -3)",
         _lognormal_log_w(gen, 400, 1, -3.0, 1.0), -3.0),
        ("the toy of section 1, k = 10, R = 300", toy_w, toy_lp),
        ("k = 100, R = 60, log p(x) = -800 (the weights underflow to 0)", _lognormal_log_w(gen, 60, 100, -800.0, 1.5),
         -800.0),
        ("k = 20, R = 2, log p(x) = 0.5", _lognormal_log_w(gen, 2, 20, 0.5, 0.7), 0.5),
    ]
    for i in range(2):
        r, k = int(torch.randint(5, 200, (), generator=gen)), int(torch.randint(2, 60, (), generator=gen))
        lp = round(float(-200 * torch.rand((), generator=gen)), 3)
        spread = 0.3 + 1.2 * float(torch.rand((), generator=gen))
        cases.append((f"random lognormal weights #{i + 1} (R = {r}, k = {k})", _lognormal_log_w(gen, r, k, lp, spread),
                      lp))
    return cases


GAP_DIAGNOSES = [
    ("Your values are 1/k of the expected ones: the exercise asks for k times the gap, the quantity that tends to "
     "rho / 2.", lambda lw, lp: tuple(v / lw.shape[1] for v in _gap_parts(lw, lp))),
    ("Your standard errors are sqrt(R) times too large: that is the spread of one draw; the standard error of a mean "
     "of R draws divides it by sqrt(R).", lambda lw, lp: _gap_parts(lw, lp, se_root=False)),
    ("Your control-variate column seems to use the small-delta approximation: the estimator of the derivation is "
     "exact for every delta (and at k = 1 delta is not small).",
     lambda lw, lp: _gap_parts(lw, lp, excess=lambda u: torch.expm1(u) ** 2 / 2)),
    ("Your control-variate estimate has the wrong sign: each of its terms is >= 0.",
     lambda lw, lp: _gap_parts(lw, lp, excess=lambda u: u - torch.expm1(u))),
    ("Your control-variate column equals the plain one: it seems to leave out delta, whose mean is 0 but whose "
     "draws cancel most of the noise.", lambda lw, lp: _gap_parts(lw, lp, excess=lambda u: -u)),
    ("Your draws seem to average the log-weights of each row (that is an ELBO estimate): log p_hat_k is the log "
     "of the average of the k weights.", lambda lw, lp: _gap_parts(lw, lp, draws=lambda w: w.mean(dim=1))),
    ("Your plain estimate has the wrong sign: the gap is log p(x) minus the bound, >= 0.",
     lambda lw, lp: (-_gap_parts(lw, lp)[0],) + _gap_parts(lw, lp)[1:]),
]


@checker
def check_k_gap_estimates(student_fn: Callable) -> CheckResult:
    """Notebook 08: ``k_gap_estimates(log_w, log_px) -> (plain, plain_se, cv, cv_se)``.

    ``log_w`` holds ``R`` independent draws of ``k`` log-weights, ``(R, k)``; ``log_px`` is the exact log p(x) (a
    number). Each row gives one draw of ``log p_hat_k``; the plain estimate of ``k * gap`` is ``k`` times
    ``log p(x)`` minus their mean, the control-variate one ``k`` times the mean of ``delta - log(1 + delta)`` with
    ``delta = p_hat_k / p(x) - 1``; each with ``k`` times its standard error over the ``R`` draws (divisor ``R`` or
    ``R - 1``: both pass).
    """
    name = "k_gap_estimates"
    if not callable(student_fn):
        return fail(name, "pass your function itself, without calling it: check_k_gap_estimates(my_function), not "
                          "check_k_gap_estimates(my_function()).")
    cases = _gap_cases()
    for i, (desc, log_w, log_px) in enumerate(cases, start=1):
        want = _k_gap_reference(log_w, log_px)
        got = attempt(name, f"case {i} ({desc})", student_fn, log_w.clone(), log_px)
        r = log_w.shape[0]
        why = _gap_mismatch(got, want, r)
        if why is None:
            continue
        known = []
        for message, variant in GAP_DIAGNOSES:
            if message not in known and _gap_mismatch(got, variant(log_w, log_px), r) is None:
                known.append(message)
        if isinstance(got, (tuple, list)) and any(isinstance(g, torch.Tensor) and not torch.isfinite(g).all()
                                                  for g in got):
            known.append("Some of your values are inf or NaN: with log-weights near -800 the weights themselves "
                         "underflow to 0, so stay in log space until you subtract log p(x).")
        if known:  # a named mistake replaces the generic guesses
            why = _gap_mismatch(got, want, r, generic=False)
        inputs = f"log_w of shape {tuple(log_w.shape)}, log_px = {log_px:.6g}"
        return fail(name, f"case {i} ({desc}): {why}{''.join(' ' + m for m in known)} Inputs: {inputs}.")
    return passed(name, f"all {len(cases)} cases match the reference (lognormal and toy log-weights).")


EXERCISES = (
    Exercise("continuous_bernoulli_mean", check_cb_mean, _cb_mean_reference, (
        "Away from lam = 1/2 the mean is the closed form derived above; at 1/2 both of its terms are infinite, and "
        "near 1/2 they are large and cancel, so there the mean needs its series in t = 1 - 2 lam.",
        "Compute t; where |t| is small (say below 0.01) use the series, elsewhere the closed form; build both with "
        "torch.where, and give the closed form a harmless t (for example 0.5) where it is not used, so that no NaN "
        "is formed. Keep the input's shape and dtype.",
        "E[x] = lam / (2 lam - 1) + 1 / (2 artanh t) for |t| >= 0.01, and E[x] = 1/2 - t / 6 - 2 t^3 / 45 for "
        "|t| < 0.01; skeleton: `torch.where(t.abs() < ___, ___, ___)`."), "07",
        replaces=("vae_course.evaluation.likelihoods.cb_mean",)),
    Exercise("k_gap_estimates", check_k_gap_estimates, _k_gap_reference, (
        "Each row of log_w is one draw of the k log-weights: it gives one draw of log p_hat_k. Both estimates of "
        "k * gap are averages over the R rows, k times; their standard errors are k times the standard deviation "
        "over the rows divided by sqrt(R).",
        "Reduce each row to log p_hat_k in log space (the log of the mean of its k weights). The plain estimate "
        "averages log p(x) - log p_hat_k; the control variate first forms delta = p_hat_k / p(x) - 1 from the "
        "difference of the two logs, and averages delta - log(1 + delta).",
        "With u_r = log p_hat_k^(r) - log p(x): plain = k * mean_r(-u_r), s.e. = k * std_r(u_r) / sqrt(R); "
        "delta_r = e^(u_r) - 1, control variate = k * mean_r(delta_r - u_r), s.e. = k * std_r(delta_r - u_r) / "
        "sqrt(R)."), "08"),
)
