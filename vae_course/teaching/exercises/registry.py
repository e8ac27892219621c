"""The exercise registry: every exercise by name, its three-step hints, and the helpers a notebook calls.

Used by the notebooks through :mod:`vae_course.teaching.exercises` (``hint``, ``mine_or_reference``, ``reveal``) and by the
grader (:mod:`vae_course.teaching.grade`), which maps the ``check_*`` calls in a cell to exercise names with
:func:`exercise_of_checker`.

Each part module (:mod:`.theory`, :mod:`.practice`, :mod:`.practice_models`, :mod:`.beyond`, :mod:`.beyond_models`)
lists its exercises in ``EXERCISES``, each an :class:`~vae_course.teaching.exercises.core.Exercise` ``(name, check,
reference, hints, notebook)``. An exercise's name is the ``name`` its checker reports (``"gaussian_kl"``), usually
the name of the function the learner writes. Hints come in three steps, one per call of :func:`hint`: the idea,
the key step in words, the formula.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

from . import beyond, beyond_models, practice, practice_models, priors, theory, theory_limits, vq
from .core import Exercise

EXERCISES: dict[str, Exercise] = {}
for _part in (theory, theory_limits, practice, practice_models, beyond, beyond_models, priors, vq):
    for _exercise in _part.EXERCISES:
        if _exercise.name in EXERCISES:
            raise ValueError(f"two exercises are called {_exercise.name!r}")
        EXERCISES[_exercise.name] = _exercise

# The checker's function name (``check_gaussian_kl``) -> the exercise it checks (``gaussian_kl``).
CHECKERS: dict[str, str] = {ex.check.__name__: name for name, ex in EXERCISES.items()}


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
    words, the formula), then repeats the last one."""

    def __init__(self, hints: dict[str, Sequence[str]]):
        for name, steps in hints.items():
            if len(steps) != 3:
                raise ValueError(f"the hints of {name!r} must have 3 steps (idea, key step, formula).")
        self.hints = dict(hints)
        self.calls: dict[str, int] = {}

    def next(self, name: str) -> str:
        if name not in self.hints:
            known = ", ".join(sorted(self.hints))
            raise KeyError(f"no exercise called {name!r}: the exercises are {known}.")
        step = min(self.calls.get(name, 0), 2)
        self.calls[name] = step + 1
        label = ("the idea", "the key step", "the formula")[step]
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

    Cells further down a notebook that use the learner's function go through this, so that Run All works on the
    student edition: ``kl = exercises.mine_or_reference(kl, "gaussian_kl")``.
    """
    exercise = get(name)
    result = exercise.check(fn)
    if result.verdict == "PASS":
        print(f"Using your {name} (it passes its check).")
        return fn
    why = "yours is not written yet" if result.verdict == "TODO" else "yours does not pass its check yet"
    print(f"Using the reference {name} ({why}), so that the cells below still run.")
    return exercise.reference


def reveal(prediction, measured: float, *, what: str, explanation: str, rel_tol: float = 0.1) -> None:
    """The "predict, then run" comparison: the learner's ``prediction`` against the ``measured`` value.

    Prints one or two lines: whether the prediction is within ``rel_tol`` of the measurement (a
    ``None`` prediction asks for one first), then the ``explanation``. A ``bool``/``str`` prediction is compared
    for equality (a choice).
    """
    if prediction is None:
        line = (f"TODO prediction: write your guess for {what} in the prediction cell above, then run this cell again. "
                f"(The measured value is printed once you have guessed.)")
        print(line)
        return
    if isinstance(measured, (bool, str)) or isinstance(prediction, (bool, str)):
        verdict = "right" if prediction == measured else "not quite"
        line = f"You predicted {prediction!r}; the answer is {measured!r}: {verdict}."
    else:
        try:
            p = float(prediction)
        except (TypeError, ValueError):
            line = f"Your prediction {prediction!r} is not a number; the measured {what} is {measured:.4g}."
        else:
            ok = math.isclose(p, float(measured), rel_tol=rel_tol, abs_tol=1e-12)
            line = (f"You predicted {p:.4g}; the measured {what} is {float(measured):.4g}: "
                    + (f"within {rel_tol:.0%}, well done." if ok else "not within "
                       f"{rel_tol:.0%}. Read on to see why."))
    print(f"{line}\n{explanation}")


HINTS = HintBook({name: ex.hints for name, ex in EXERCISES.items()})


def hint(name: str) -> Hint:
    """The next hint for exercise ``name``: the idea, then the key step in words, then the formula (then again)."""
    get(name)
    return Hint(HINTS.next(name))
