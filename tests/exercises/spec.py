"""What every exercise's test tries, as data: the solved answer, a float32 (or float64) version, equivalent formulas,
an unwritten stub and typical wrong answers, each with what its FAIL must say.

``tests/exercises/test_*.py`` hold one :class:`Spec` per exercise and hand them to :func:`run_spec`; the list of
wrong answers tried is printed by ``python -m tests.exercises.spec`` (for the issue's note).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from vae_course.teaching import exercises

VALUE_OR_SHAPE = ("largest absolute difference", "wrong shape", "wrong dtype")


@dataclass
class Wrong:
    """A typical wrong answer: its label, the function, and substrings its FAIL message must contain."""

    label: str
    fn: Any
    expect: tuple[str, ...] = ()
    names_case: bool = True  # False for a mistake found before any case runs (a class passed as an instance)


@dataclass
class Spec:
    name: str  # the exercise's name, as the checker reports it
    check: Callable
    solved: Any
    low_precision: Any  # the same answer computed in float32 (or, where inputs are float32 already, in float64)
    equivalents: list[tuple[str, Any]] = field(default_factory=list)
    wrong: list[Wrong] = field(default_factory=list)
    stub: Any = None  # default: a function that raises NotImplementedError


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


def cast(value, dtype):
    """Tensors (also inside tuples/lists) cast to ``dtype``; anything else unchanged."""
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.to(dtype)
    if isinstance(value, (tuple, list)):
        return type(value)(cast(v, dtype) for v in value)
    return value


def in_dtype(fn, dtype):
    """``fn`` run on its tensor inputs cast to ``dtype``, its answer left in that dtype."""
    def wrapped(*args, **kwargs):
        return fn(*cast(args, dtype), **{k: cast(v, dtype) for k, v in kwargs.items()})
    return wrapped


def formula_pieces(name: str) -> list[str]:
    """The code fragments of the exercise's third hint (between backticks), the ones long enough to be telling."""
    step3 = exercises.EXERCISES[name].hints[2]
    return [p for p in re.findall(r"`([^`]+)`", step3) if len(p) >= 10]


def assert_gives_no_formula(name: str, message: str) -> None:
    step3 = exercises.EXERCISES[name].hints[2]
    assert step3 not in message
    for piece in formula_pieces(name):
        assert piece not in message, f"the FAIL of {name} prints the hint's formula {piece!r}: {message}"


def assert_verdict(result, verdict: str, name: str) -> None:
    assert isinstance(result, exercises.CheckResult), type(result)
    assert result.verdict == verdict, result.message
    assert bool(result) is (verdict == "PASS")
    assert result.message.startswith(f"{verdict} {name}:"), result.message
    data, meta = result._repr_mimebundle_()
    assert data == {"text/plain": result.message}
    assert meta == {"vae_course": {"exercise": name, "verdict": verdict}}


def run_spec(spec: Spec) -> None:
    """Every answer of ``spec`` gets the verdict it should, with the message it should."""
    assert_verdict(spec.check(spec.solved), "PASS", spec.name)
    assert_verdict(spec.check(spec.low_precision), "PASS", spec.name)
    for label, fn in spec.equivalents:
        result = spec.check(fn)
        assert result.verdict == "PASS", f"equivalent answer {label!r}: {result.message}"
    todo = spec.check(spec.stub or stub)
    assert_verdict(todo, "TODO", spec.name)
    assert todo.message == f"TODO {spec.name}: not written yet (it raises NotImplementedError)."
    assert sum(any(m in " ".join(w.expect) for m in VALUE_OR_SHAPE) for w in spec.wrong) >= 2, \
        "at least two wrong answers must be told by their values or their shape"
    for wrong in spec.wrong:
        result = spec.check(wrong.fn)
        assert result.verdict == "FAIL", f"wrong answer {wrong.label!r} passed: {result.message}"
        assert_verdict(result, "FAIL", spec.name)
        if wrong.names_case:
            assert re.search(r"case \d+ \(", result.message), f"{wrong.label!r}: no case named in {result.message}"
        for text in wrong.expect:
            assert text in result.message, f"{wrong.label!r}: {text!r} not in {result.message}"
        assert f"exercises.hint({spec.name!r})" in result.message
        assert_gives_no_formula(spec.name, result.message)


def all_specs() -> list[Spec]:
    from . import test_beyond, test_beyond_models, test_practice, test_practice_models, test_theory

    return [s for m in (test_theory, test_practice, test_practice_models, test_beyond, test_beyond_models)
            for s in m.SPECS]


if __name__ == "__main__":
    for s in all_specs():
        ex = exercises.EXERCISES[s.name]
        print(f"- {s.name} (notebook {ex.notebook}, {s.check.__name__}): " + "; ".join(w.label for w in s.wrong))
