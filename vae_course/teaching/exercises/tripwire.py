"""The REFERENCE verdict's tripwire: notices when the learner's code, while a checker runs it, calls the exercise's
reference or a package function the exercise ``replaces`` (issue 24 §4).

Used by no notebook directly; by every checker through :func:`vae_course.teaching.exercises.core.compare` and
:func:`~vae_course.teaching.exercises.core.attempt`, which arm a :class:`Tripwire` around each call of the learner's
code, after the checker has computed what it expects. It watches code objects (``sys.setprofile``), not names; see
:class:`Tripwire` for what that catches and CONTRIBUTING.md for what it does not.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import sys
from typing import Callable


def _registry() -> dict:
    """Every exercise by name. The registry imports every checker module, which imports this one through
    :mod:`~vae_course.teaching.exercises.core`, so it is looked up once loaded, never imported from here."""
    registry = sys.modules.get(__name__.rsplit(".", 1)[0] + ".registry")
    return getattr(registry, "EXERCISES", {}) if registry is not None else {}


def resolve(dotted: str):
    """The object a dotted name stands for: ``"vae_course.objectives.losses.gaussian_kl"``, or a method,
    ``"vae_course.theory.toy.LinearGaussian.elbo"`` (the longest importable module, then attributes)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"{dotted!r} names no module")


def code_objects(obj) -> list:
    """The code objects that running ``obj`` enters first: a function's (unwrapped through ``__wrapped__``, so that
    a decorator's shared wrapper is never one), a method's, a ``functools.partial``'s function's, and for a class
    every function defined in its own body. A builtin has none."""
    if isinstance(obj, functools.partial):
        return code_objects(obj.func)
    if isinstance(obj, (staticmethod, classmethod)) or inspect.ismethod(obj):
        return code_objects(obj.__func__)
    if isinstance(obj, property):
        return [c for f in (obj.fget, obj.fset) if f is not None for c in code_objects(f)]
    if inspect.isclass(obj):
        return [c for member in vars(obj).values() if inspect.isfunction(member) or isinstance(
            member, (staticmethod, classmethod, property)) for c in code_objects(member)]
    obj = inspect.unwrap(obj) if callable(obj) else obj
    code = getattr(obj, "__code__", None)
    return [code] if code is not None else []


def _label(obj, dotted: str | None = None) -> str:
    if dotted:
        return f"the package's {dotted.rsplit('.', 1)[-1]} ({dotted})"
    return f"the exercise's reference ({getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', obj)})"


class Tripwire:
    """Notices a call into given functions while the learner's code runs (the REFERENCE verdict of issue 24).

    ``with wire: student_fn(...)`` runs the block under a profile hook (``sys.setprofile``, chained to any hook
    already set) that records the first entry into one of the watched code objects: the exercise's reference and
    every function it ``replaces``. It watches code objects, not names, so it catches every way of reaching them:
    the reference itself passed as the answer, a wrapper or a lambda that calls it, a ``functools.partial``, a
    subclass that inherits the package's methods, and a name bound before the check (``from
    vae_course.objectives.losses import gaussian_kl as kl``). ``tripped`` is the label of what was called, or "".
    Arm it only around the learner's calls, after the checker has computed what it expects.
    """

    suspended = 0  # > 0 inside :meth:`suspend` (the course's own tests: does the reference pass its checker?)

    def __init__(self, watched: dict | None = None, excused: set | None = None):
        self.watched = dict(watched or {})  # code object -> label
        self.excused = set(excused or ())  # code objects whose calls into the watched ones do not count
        self.tripped = ""

    @classmethod
    @contextlib.contextmanager
    def suspend(cls):
        """Checks inside this block give no REFERENCE verdict: for the course's tests, which check each exercise's
        checker with its own reference."""
        cls.suspended += 1
        try:
            yield
        finally:
            cls.suspended -= 1

    @classmethod
    def for_exercise(cls, name: str, *extra_references: Callable) -> "Tripwire":
        """The tripwire of exercise ``name`` (its reference and ``replaces``, from the registry) plus
        ``extra_references`` (the reference a checker compares with)."""
        watched: dict = {}
        everything = _registry()
        exercise = everything.get(name)
        # A checker's closure around the reference (``_reparam_run(_reparam_reference)``) shares its code object
        # with the same closure around the learner's function, so only plain functions are watched from the extras.
        references = [*(r for r in extra_references if not getattr(r, "__closure__", None)),
                      *([exercise.reference] if exercise is not None else [])]
        for ref in references:
            for code in code_objects(ref):
                watched.setdefault(code, _label(ref))
        for dotted in (exercise.replaces if exercise is not None else ()):
            obj = resolve(dotted)
            for code in code_objects(obj):
                watched[code] = _label(obj, dotted)
        # Another exercise's reference, handed out by mine_or_reference when the learner's own is not ready (their
        # train_step calling the reference vae_loss), may call the watched functions: that is not this learner's
        # function handing over its work.
        excused = set()
        if exercise is not None:
            for other in everything.values():
                if other.name != name and other.reference is not exercise.reference:
                    excused.update(c for c in code_objects(other.reference) if c not in watched)
        return cls(watched, excused)

    def __enter__(self) -> "Tripwire":
        self._before = sys.getprofile()
        if not self.watched or self.tripped or Tripwire.suspended:
            return self
        before, watched, excused = self._before, self.watched, self.excused

        def hook(frame, event, arg):
            if event == "call" and frame.f_code in watched and not self.tripped:
                caller = frame.f_back
                while caller is not None and caller.f_code not in excused:
                    caller = caller.f_back
                if caller is None:
                    self.tripped = watched[frame.f_code]
            if before is not None:
                before(frame, event, arg)

        sys.setprofile(hook)
        return self

    def __exit__(self, *exc) -> None:
        sys.setprofile(self._before)
