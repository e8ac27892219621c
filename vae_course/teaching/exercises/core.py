"""The machinery of the exercise checks: :class:`CheckResult`, :func:`compare`, :func:`random_cases`, the
:class:`Exercise` record, and the helpers of hand-written checkers (:func:`checker`, :func:`attempt`, :func:`require`,
:func:`seeded`).

Used by every checker in :mod:`vae_course.teaching.exercises` (notebooks 01-10) and by the grader (:mod:`vae_course.teaching.grade`).
A checker builds a list of cases, each ``(description, args, kwargs)``, from fixed inputs and :func:`random_cases`,
and hands them to :func:`compare` with the learner's function and the package's reference implementation; a checker
of a whole model or training step is written by hand on the same helpers.

The verdict is one of ``PASS``, ``FAIL``, ``TODO`` (the function still raises ``NotImplementedError``) or
``REFERENCE`` (the function handed the work to the package: while it ran, it called the exercise's reference or one
of the package functions the exercise ``replaces``; see :class:`Tripwire`). It shows
as one line, and it is also recorded in the output's metadata, ``{"vae_course": {"exercise": ..., "verdict": ...}}``,
so that grading never parses prose. A ``FAIL`` names the failing case, its inputs, and the largest absolute
difference and where it sits (or a wrong shape or dtype as such), and may add a diagnosis from a known wrong
variant ("you might be missing a sum"); it never prints the formula. The hints, in three steps, and
``mine_or_reference`` are in :mod:`vae_course.teaching.exercises.registry`.
"""
from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from ...models.code_prior import one_thread  # checks run on one thread: small tensors, no fight with other work
from .tripwire import Tripwire

VERDICTS = ("PASS", "FAIL", "TODO", "REFERENCE")
# Tolerance for comparing with the reference: relative to the size of the values, loose enough for float32 answers
# and for equivalent formulas (torch.distributions, logsumexp against a hand-written max shift).
RTOL, ATOL_SCALE, ATOL_FLOOR = 2e-5, 2e-6, 1e-6


class CheckResult:
    """The verdict of one exercise check: truthy only for PASS; its repr is the one-line message.

    ``CheckResult(passed, message)`` still works; ``verdict`` overrides ``passed`` (``"TODO"`` is falsy).
    """

    def __init__(self, passed: bool, message: str, *, verdict: str | None = None, exercise: str | None = None):
        verdict = verdict or ("PASS" if passed else "FAIL")
        if verdict not in VERDICTS:
            raise ValueError(f"verdict={verdict!r} must be one of {VERDICTS}.")
        self.verdict = verdict
        self.passed = verdict == "PASS"
        self.message = message
        self.exercise = exercise or (message.split(":")[0].split(" ", 1)[-1] if " " in message else None)

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return self.message

    def record(self) -> dict:
        """The machine-readable verdict, as stored in the output's metadata."""
        return {"exercise": self.exercise, "verdict": self.verdict}

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": self.message}, {"vae_course": self.record()}


Case = tuple[str, Sequence[Any], dict]


def todo(name: str) -> CheckResult:
    return CheckResult(False, f"TODO {name}: not written yet (it raises NotImplementedError).", verdict="TODO",
                       exercise=name)


def fail(name: str, why: str) -> CheckResult:
    return CheckResult(False, f"FAIL {name}: {why} Run exercises.hint({name!r}) for a hint.", verdict="FAIL",
                       exercise=name)


def passed(name: str, what: str) -> CheckResult:
    return CheckResult(True, f"PASS {name}: {what}", verdict="PASS", exercise=name)


def handed_over(name: str, called: str) -> CheckResult:
    """The REFERENCE verdict: the learner's function called ``called`` (a package function that computes the
    answer) while it was checked."""
    return CheckResult(False, f"REFERENCE {name}: your code calls {called}, which computes the answer for you, "
                              f"so this check cannot tell what you wrote: write it yourself from the math. Run "
                              f"exercises.hint({name!r}) for a hint.", verdict="REFERENCE", exercise=name)


def reason_of(message: str, name: str, verdict: str) -> str:
    """The part of a checker's one line that says why: ``FAIL kl: case 3 (...): largest ... Run
    exercises.hint('kl') for a hint.`` -> ``case 3 (...): largest ...`` (for the grader's table)."""
    text = message.strip().splitlines()[0] if message.strip() else ""
    prefix = f"{verdict} {name}: "
    text = text[len(prefix):] if text.startswith(prefix) else text
    tail = f" Run exercises.hint({name!r}) for a hint."
    return (text[:-len(tail)] if text.endswith(tail) else text)[:300]


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        if value.numel() <= 4:
            return f"tensor({[round(v, 4) for v in value.detach().flatten().tolist()]}, shape={tuple(value.shape)})"
        return f"tensor of shape {tuple(value.shape)}"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_describe(v) for v in value) + ")"
    if callable(value):
        return getattr(value, "__name__", type(value).__name__)
    return repr(value)


def describe_inputs(args: Sequence[Any], kwargs: dict) -> str:
    parts = [_describe(a) for a in args] + [f"{k}={_describe(v)}" for k, v in kwargs.items()]
    text = ", ".join(parts)
    return text if len(text) <= 160 else text[:157] + "..."


def close(got: torch.Tensor, want: torch.Tensor, atol: float = 0.0, rtol: float = 0.0) -> torch.Tensor:
    """Elementwise: is ``got`` within the float32-aware tolerance of ``want`` (both float64)?"""
    scale = float(want.abs().max()) if want.numel() and torch.isfinite(want).all() else 1.0
    tol = max(atol, ATOL_FLOOR, ATOL_SCALE * scale) + max(rtol, RTOL) * want.abs()
    both_inf = torch.isinf(got) & torch.isinf(want) & (torch.sign(got) == torch.sign(want))
    return both_inf | ((got - want).abs() <= tol)


def _diagnose(got: torch.Tensor, want: torch.Tensor) -> str:
    """A guess at the kind of mistake, without the formula."""
    if not torch.isfinite(got).all() and torch.isfinite(want).all():
        return " Some of your values are inf or NaN: does something overflow or underflow (work in log space)?"
    flat_g, flat_w = got.flatten(), want.flatten()
    if bool((flat_w.abs() > 1e-6).any()) and bool(close(-flat_g, flat_w).all()):
        return " Every value has the wrong sign."
    big = flat_w.abs() > 1e-6
    if big.sum() >= 2:
        ratio = flat_g[big] / flat_w[big]
        r = float(ratio.median())
        if torch.allclose(ratio, torch.full_like(ratio, r), rtol=1e-3, atol=1e-6) and abs(r - 1) > 1e-3:
            if abs(r + 1) < 1e-3:
                return " Every value has the wrong sign."
            return f" Every value is {r:.4g} times the expected one: a factor is missing or extra."
    diff = flat_g - flat_w
    if diff.numel() > 1 and torch.allclose(diff, diff[:1].expand_as(diff), atol=1e-6, rtol=1e-4):
        return f" Every value is off by the same constant, {float(diff[0]):.4g}: a constant term is missing or extra."
    return ""


def mismatch(got, want, atol: float = 0.0, rtol: float = 0.0, names: Sequence[str] | None = None,
             generic: bool = True) -> str | None:
    """None when ``got`` matches ``want``; otherwise a diagnosis in one or two sentences.

    ``names`` labels the values of a tuple answer (``("mean", "variance")``) in the message; ``generic=False`` leaves
    out the generic guesses (a constant factor or offset), for when a known mistake is named instead.
    """
    if isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            what = f" ({', '.join(names)})" if names else ""
            return f"expected {len(want)} values{what}, got {_describe(got)}."
        for i, (g, w) in enumerate(zip(got, want)):
            why = mismatch(g, w, atol, rtol, generic=generic)
            if why:
                return f"{names[i] if names else f'value {i}'}: {why}"
        return None
    if isinstance(want, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            if isinstance(got, (int, float)) and not isinstance(got, bool) and want.numel() == 1:
                got = torch.tensor(float(got))
            else:
                return f"wrong type: expected a tensor, got {type(got).__name__}."
        if want.is_floating_point() and not (got.is_floating_point() or got.is_complex()):
            return f"wrong dtype: got {got.dtype}, expected a floating-point tensor (like {want.dtype})."
        if got.shape != want.shape:
            extra = ""
            if got.dim() == want.dim() + 1 and got.shape[:-1] == want.shape:
                extra = " It has one more dimension than expected: you might be missing a sum over the last axis."
            elif got.dim() == want.dim() - 1:
                extra = " It has one dimension fewer than expected: did you sum over too many axes?"
            elif got.dim() == want.dim() >= 2 and tuple(got.shape) == tuple(want.shape)[::-1]:
                extra = " It holds the expected axes in the opposite order: is it transposed?"
            return f"wrong shape: got {tuple(got.shape)}, expected {tuple(want.shape)}.{extra}"
        g64, w64 = got.detach().double().cpu(), want.detach().double().cpu()
        ok = close(g64, w64, atol, rtol)
        if bool(ok.all()):
            return None
        err = (g64 - w64).abs()
        err = torch.where(torch.isnan(err), torch.full_like(err, math.inf), err)
        idx = int(err.flatten().argmax())
        where = tuple(int(i) for i in torch.unravel_index(torch.tensor(idx), w64.shape)) if w64.dim() else ()
        return (f"largest absolute difference {float(err.flatten()[idx]):.4g} at index {where} "
                f"(got {float(g64.flatten()[idx]):.6g}, expected {float(w64.flatten()[idx]):.6g})."
                + (_diagnose(g64, w64) if generic else ""))
    if isinstance(want, bool) or not isinstance(want, (int, float)):
        return None if got == want else f"got {got!r}, expected {want!r}."
    try:
        g = float(got)
    except (TypeError, ValueError, RuntimeError):
        return f"wrong type: expected a number, got {_describe(got)}."
    return mismatch(torch.tensor(g, dtype=torch.float64), torch.tensor(float(want), dtype=torch.float64), atol, rtol)


# A known wrong variant of the reference and what to tell the learner whose answer matches it (in words, no formula).
Diagnosis = tuple[str, Callable]


def recognise(got, diagnoses: Sequence[Diagnosis], args: Sequence[Any], kwargs: dict, atol: float = 0.0,
              rtol: float = 0.0) -> str:
    """The messages of the known wrong variants that ``got`` matches on this case (" " + message each, or "")."""
    found = []
    for message, wrong in diagnoses:
        try:
            variant = wrong(*args, **kwargs)
        except Exception:  # noqa: BLE001 - a variant that does not apply to this case says nothing
            continue
        if mismatch(got, variant, atol, rtol) is None:
            found.append(message)
    return "".join(f" {m}" for m in found)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def raised(name: str, where: str, exc: BaseException, inputs: str = "", note: str = "") -> "CheckResult":
    """The FAIL for an exception in the learner's code: its type and first line, never a traceback."""
    text = first_line(exc).rstrip(".")
    return fail(name, f"{where} raised {type(exc).__name__}{': ' + text if text else ''}."
                      f"{' ' + note if note else ''}{f' Inputs: {inputs}.' if inputs else ''}")


def compare(student_fn: Callable, reference_fn: Callable, cases: Sequence[Case], *, name: str, hint: str = "",
            atol: float = 0.0, rtol: float = 0.0, diagnoses: Sequence[Diagnosis] = (),
            names: Sequence[str] | None = None, error_notes: Sequence[tuple[str, str]] = (),
            inputs: str = "fixed and random inputs") -> CheckResult:
    """Run ``student_fn`` and ``reference_fn`` on each ``(description, args, kwargs)`` case and compare the results.

    Tensors are compared shape and dtype first, then within a tolerance relative to the size of the values that
    float32 answers meet (``atol``/``rtol`` can only loosen it). An exception in the learner's code is reported as a
    failure with its one-line message, never a traceback; ``NotImplementedError`` gives ``TODO``. ``diagnoses``
    lists known wrong variants ``(message, wrong_fn)``: a failing answer that matches one gets its message.
    ``names`` labels the values of a tuple answer; ``error_notes`` pairs ``(text, note)`` add ``note`` to the FAIL
    of an error whose message contains ``text``; ``inputs`` says in the PASS line what the cases were. ``hint`` is kept for backward compatibility and is not printed:
    hints come from :func:`vae_course.teaching.exercises.hint`.
    """
    if not callable(student_fn):
        return fail(name, "pass your function itself, without calling it: check_...(my_function), "
                          "not check_...(my_function()).")
    with one_thread():
        return _compare(student_fn, reference_fn, cases, name, atol, rtol, diagnoses, names, error_notes, inputs)


def _compare(student_fn, reference_fn, cases, name, atol, rtol, diagnoses, names, error_notes, inputs) -> CheckResult:
    wire = Tripwire.for_exercise(name, reference_fn)
    for i, (desc, args, kwargs) in enumerate(cases, start=1):
        want = reference_fn(*args, **kwargs)
        try:
            with wire:
                got = student_fn(*args, **kwargs)
        except NotImplementedError:
            return handed_over(name, wire.tripped) if wire.tripped else todo(name)
        except Exception as exc:  # noqa: BLE001 - report the learner's error in one line
            if wire.tripped:
                return handed_over(name, wire.tripped)
            note = " ".join(note for text, note in error_notes if text in str(exc))
            return raised(name, f"case {i} ({desc})", exc, describe_inputs(args, kwargs), note)
        if wire.tripped:
            return handed_over(name, wire.tripped)
        why = mismatch(got, want, atol, rtol, names)
        if why:
            known = recognise(got, diagnoses, args, kwargs, atol, rtol)
            if known:  # a named mistake replaces the generic guesses
                why = mismatch(got, want, atol, rtol, names, generic=False) + known
            return fail(name, f"case {i} ({desc}): {why} Inputs: {describe_inputs(args, kwargs)}.")
    return passed(name, f"all {len(cases)} cases match the reference ({inputs}).")


class Verdict(Exception):
    """Raised inside a hand-written checker to stop with a result (see :func:`checker` and :func:`attempt`)."""

    def __init__(self, result: CheckResult):
        super().__init__(result.message)
        self.result = result


def checker(fn: Callable[..., CheckResult]) -> Callable[..., CheckResult]:
    """Decorator for a hand-written checker: a :class:`Verdict` raised inside it becomes its return value."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with one_thread():
                return fn(*args, **kwargs)
        except Verdict as stop:
            return stop.result

    return wrapper


def attempt(name: str, where: str, fn: Callable, *args, **kwargs):
    """Call the learner's ``fn`` under the exercise's :class:`Tripwire`; a call into the reference (or a function the
    exercise replaces) stops the check with REFERENCE, a ``NotImplementedError`` with TODO, any other error with
    FAIL."""
    wire = Tripwire.for_exercise(name)
    try:
        with wire:
            out = fn(*args, **kwargs)
    except NotImplementedError:
        raise Verdict(handed_over(name, wire.tripped) if wire.tripped else todo(name)) from None
    except Verdict:
        raise
    except Exception as exc:  # noqa: BLE001 - the learner's error, in one line
        raise Verdict(handed_over(name, wire.tripped) if wire.tripped else raised(name, where, exc)) from None
    if wire.tripped:
        raise Verdict(handed_over(name, wire.tripped))
    return out


def require(name: str, ok: bool, why: str) -> None:
    """Stop the check with ``FAIL name: why`` unless ``ok``."""
    if not ok:
        raise Verdict(fail(name, why))


@contextlib.contextmanager
def seeded(seed: int):
    """Run a block under ``torch.manual_seed(seed)`` without touching the caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def random_cases(make_args: Callable[[torch.Generator], tuple[Sequence[Any], dict]], n: int, *, seed: int = 0,
                 label: str = "random input") -> list[Case]:
    """``n`` seeded random cases built by ``make_args(generator) -> (args, kwargs)``."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        args, kwargs = make_args(gen)
        out.append((f"{label} #{i + 1}", args, kwargs))
    return out


@dataclass(frozen=True)
class Exercise:
    """One exercise: its checker, the reference implementation and its three hints."""

    name: str
    check: Callable[[Callable], CheckResult]
    reference: Callable
    hints: tuple[str, str, str]
    notebook: str = ""
    # Dotted names of package functions that compute this exercise's answer ("vae_course.objectives.losses.gaussian_kl"):
    # a learner's function that calls one of them (or the reference) while it is checked gets the verdict REFERENCE.
    replaces: tuple[str, ...] = ()
