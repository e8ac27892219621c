"""The exercise registry: every exercise by name, its three-step hints, and the helpers a notebook calls.

Used by the notebooks through :mod:`vae_course.teaching.exercises` (``hint``, ``mine_or_reference``, ``reveal``) and by the
grader (:mod:`vae_course.teaching.grade`), which maps the ``check_*`` calls in a cell to exercise names with
:func:`exercise_of_checker`.

Each part module (:mod:`.theory`, :mod:`.practice`, :mod:`.practice_models`, :mod:`.beyond`, :mod:`.beyond_models`)
lists its exercises in ``EXERCISES``, each an :class:`~vae_course.teaching.exercises.core.Exercise` ``(name, check,
reference, hints, notebook)``. An exercise's name is the ``name`` its checker reports (``"gaussian_kl"``), usually
the name of the function the learner writes. Hints come in three steps, one per call of :func:`hint`: the idea,
the key step in words, the math (never a complete line of the reference's code; ``tests/test_exercise_rules.py``
checks it). ``replaces`` names the package functions that compute the answer: a learner's function that calls one of
them, or the reference, while it is checked gets the verdict ``REFERENCE``, and :func:`mine_or_reference` treats it
as not written yet.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Callable, Sequence

from . import beyond, beyond_models, bounds, collapse_cvae, deeper, diffusion, disentangle, practice, practice_models, priors, theory, theory_builds, theory_limits, vq
from .core import Exercise

EXERCISES: dict[str, Exercise] = {}
for _part in (theory, theory_limits, theory_builds, practice, practice_models, beyond, beyond_models, bounds, collapse_cvae, priors, vq, deeper, disentangle, diffusion):
    for _exercise in _part.EXERCISES:
        if _exercise.name in EXERCISES:
            raise ValueError(f"two exercises are called {_exercise.name!r}")
        EXERCISES[_exercise.name] = _exercise

# The checker's function name (``check_gaussian_kl``) -> the exercise it checks (``gaussian_kl``).
CHECKERS: dict[str, str] = {ex.check.__name__: name for name, ex in EXERCISES.items()}


_CHECK_CALL = re.compile(r"\b(check_\w+)\s*\(")
_NUMBER = re.compile(r"^(\d\d)(?:[_\-. ]|$)")
_TITLE = re.compile(r"^#\s+(\d\d)\b")


def without_comments(source: str) -> str:
    """``source`` without its comments (a commented-out checker call checks nothing)."""
    return "\n".join(line.split("#", 1)[0] for line in source.splitlines())


def course_number(nb, filename: str = "") -> str | None:
    """Which course notebook a submission is: ``"03"`` from a file name ``03_kl_divergence.ipynb`` (``03-...``),
    else from the first title ``# 03 · ...`` of a markdown cell; None when neither says."""
    if (m := _NUMBER.match(Path(filename).name)):
        return m[1]
    for cell in nb.cells:
        for line in cell.source.splitlines() if cell.cell_type == "markdown" else ():
            if (t := _TITLE.match(line.strip())):
                return t[1]
    return None


def notebook_exercises(number: str | None) -> list[str]:
    """The exercises of course notebook ``number`` (for the grader's MISSING): those whose checkers the solved
    notebook calls, in order, then any other filed under it (``Exercise.notebook``)."""
    import nbformat

    from ..execute import course_notebooks

    if number is None:
        return []
    found: list[str] = []
    for path in course_notebooks():
        if path.name.startswith(number + "_"):
            for cell in nbformat.read(path, as_version=4).cells:
                calls = _CHECK_CALL.findall(without_comments(cell.source)) if cell.cell_type == "code" else []
                found.extend(name for name in map(exercise_of_checker, calls) if name)
    found.extend(name for name, ex in EXERCISES.items() if ex.notebook == number)
    return list(dict.fromkeys(found))


def get(name: str) -> Exercise:
    """The exercise called ``name``, or a ``KeyError`` that lists the known names."""
    if name not in EXERCISES:
        raise KeyError(f"no exercise called {name!r}: the exercises are {', '.join(sorted(EXERCISES))}.")
    return EXERCISES[name]


def exercise_of_checker(function_name: str) -> str | None:
    """``"check_mc_marginal"`` -> ``"mc_log_marginal"``; None for a name that is no checker."""
    return CHECKERS.get(function_name)


class HintBook:
    """Step-by-step hints: each call of :meth:`next` for an exercise gives its next step (the idea, the key step in
    words, the math), then repeats the last one."""

    def __init__(self, hints: dict[str, Sequence[str]]):
        for name, steps in hints.items():
            if len(steps) != 3:
                raise ValueError(f"the hints of {name!r} must have 3 steps (idea, key step, math).")
        self.hints = dict(hints)
        self.calls: dict[str, int] = {}

    def next(self, name: str) -> str:
        if name not in self.hints:
            known = ", ".join(sorted(self.hints))
            raise KeyError(f"no exercise called {name!r}: the exercises are {known}.")
        step = min(self.calls.get(name, 0), 2)
        self.calls[name] = step + 1
        label = ("the idea", "the key step", "the math")[step]
        return f"Hint {step + 1}/3 for {name} ({label}): {self.hints[name][step]}"

    def reset(self, name: str | None = None) -> None:
        if name is None:
            self.calls.clear()
        else:
            self.calls.pop(name, None)


class Hint(str):
    """A hint that shows as plain text (no quotes) when it is the last line of a cell."""

    def __repr__(self) -> str:
        return str(self)


def mine_or_reference(fn: Callable, name: str):
    """``fn`` when it passes the check of exercise ``name``, else the reference; prints one line saying which is used.
    A function that hands the work to the reference (verdict ``REFERENCE``) counts as not written yet.

    Cells further down a notebook that use the learner's function go through this, so that Run All works on the
    student edition: ``kl = exercises.mine_or_reference(kl, "gaussian_kl")``.
    """
    exercise = get(name)
    result = exercise.check(fn)
    if result.verdict == "PASS":
        print(f"Using your {name} (it passes its check).")
        return fn
    why = {"TODO": "yours is not written yet",
           "REFERENCE": "yours calls the package's answer instead of computing it"}.get(
        result.verdict, "yours does not pass its check yet")
    print(f"Using the reference {name} ({why}), so that the cells below still run.")
    return exercise.reference


def must_pass(result):
    """``result`` (a checker's) when its verdict is PASS; otherwise an ``AssertionError`` carrying its one line.

    The nbgrader edition (:func:`vae_course.teaching.student_edition.nbgrader_source`) wraps each checker call in
    it, so that nbgrader's autograder, which scores a test cell by whether it raises, gives points only for a PASS.
    """
    if getattr(result, "verdict", None) != "PASS":
        raise AssertionError(getattr(result, "message", repr(result)))
    return result


def reveal(prediction, measured, *, what: str, explanation: str, rel_tol: float = 0.1,
           choices: Sequence | None = None) -> None:
    """The "predict, then run" comparison: the learner's ``prediction`` against the ``measured`` value.

    Prints one or two lines: whether the prediction is right (a ``None`` prediction asks for one first), then the
    ``explanation``. A choice is compared for equality and told "right" or "not quite", never "within 10%": a
    ``bool``/``str`` prediction or measurement, any prediction when ``choices`` (the options, such as the slopes of
    a table) is given, and a number equal to the measured one. Any other number is right within ``rel_tol``.
    """
    if prediction is None:
        line = (f"TODO prediction: write your guess for {what} in the prediction cell above, then run this cell again. "
                f"(The measured value is printed once you have guessed.)")
        print(line)
        return

    def number(value):
        if isinstance(value, bool) or isinstance(value, str):
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            return None

    def shown(value):
        v = number(value)
        return f"{v:.4g}" if v is not None else repr(value)

    p, m = number(prediction), number(measured)
    choice = choices is not None or p is None and isinstance(prediction, (bool, str)) or m is None
    if choice or (p is not None and p == m):
        same = prediction == measured if p is None or m is None else p == m
        line = f"You predicted {shown(prediction)}; the answer is {shown(measured)}: " + (
            "right." if same else "not quite. Read on to see why.")
        if choices is not None and not same and not any(
                (c == prediction) if p is None or number(c) is None else number(c) == p for c in choices):
            line += f" (Your prediction is none of the choices: {', '.join(shown(c) for c in choices)}.)"
    elif p is None:
        line = f"Your prediction {prediction!r} is not a number; the measured {what} is {shown(measured)}."
    else:
        ok = math.isclose(p, m, rel_tol=rel_tol, abs_tol=1e-12)
        line = (f"You predicted {p:.4g}; the measured {what} is {m:.4g}: "
                + (f"within {rel_tol:.0%}, well done." if ok else "not within "
                   f"{rel_tol:.0%}. Read on to see why."))
    print(f"{line}\n{explanation}")


HINTS = HintBook({name: ex.hints for name, ex in EXERCISES.items()})


def hint(name: str) -> Hint:
    """The next hint for exercise ``name``: the idea, then the key step in words, then the math (then again)."""
    get(name)
    return Hint(HINTS.next(name))
