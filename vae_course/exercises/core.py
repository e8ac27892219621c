"""The comparison machinery of the exercise checks: :func:`compare`, :class:`CheckResult` and :func:`random_cases`.

Used by every checker in :mod:`vae_course.exercises` (notebooks 01-10). A checker builds a list of cases, each
``(description, args, kwargs)``, from fixed inputs and :func:`random_cases`, and hands them to :func:`compare` with
the learner's function and the package's reference implementation.
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
