"""The exercise rules of issue 24 as tests: nothing above a checker shows its answer, no third hint ends in the
reference's code, a learner's function that hands the work to the package gets ``REFERENCE``, and a prediction that
is a choice is never told "within 10%".

*The answer* of an exercise is every significant line of its reference's source and of the package functions it
``replaces`` (:func:`reference_lines`: code lines of at least :data:`MIN_CHARS` characters without spaces, not a
``def``/``class``/decorator/import line, not a docstring or comment). For each course notebook, its student edition
(:func:`vae_course.teaching.student_edition.student_notebook`) must not hold such a line in any cell above the
exercise's first checker cell, nor in the stored outputs (``notebooks/*.ipynb``) of those cells, which the learner
sees again on running them, nor a ``getsource`` of the reference or of a replaced function; and no third hint may
hold one. Each finding names the exercise, the notebook, the cell (numbered as in the student edition, whose cell 0
is the edition's introduction) and the line.

``python -m tests.test_exercise_rules [REPORT.md]`` prints (or writes) the findings, one section per notebook.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import re
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
import torch

from vae_course.teaching import exercises, student_edition
from vae_course.teaching.execute import course_notebooks
from vae_course.teaching.exercises.tripwire import Tripwire, code_objects, resolve
from vae_course.teaching.exercises.registry import exercise_of_checker

MIN_CHARS = 22  # a line shorter than this without its spaces (``loss.backward()``) is no answer on its own
_CALL = re.compile(r"\b(check_\w+)\s*\(")
_GETSOURCE = re.compile(r"getsource\(\s*([\w.]+)\s*\)")
_COMMENT = re.compile(r"""\s#(?=(?:[^'"]|'[^']*'|"[^"]*")*$).*$""")


def squash(text: str) -> str:
    """``text`` without whitespace, so that ``mu ** 2`` and ``mu**2`` match."""
    return re.sub(r"\s+", "", text)


def _source(obj) -> str | None:
    try:
        return textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        return None


def significant_lines(source: str) -> list[str]:
    """The code lines of ``source`` that can give an answer away (see the module doc), comments removed."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
                    and isinstance(first.value.value, str):
                skip.update(range(first.lineno, first.end_lineno + 1))
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            skip.update(range(node.lineno, node.end_lineno + 1))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            skip.update(range(start, node.body[0].lineno))  # decorators and a signature over several lines
    out = []
    for number, line in enumerate(source.splitlines(), start=1):
        code = _COMMENT.sub("", line).strip()
        if number in skip or not code or code.startswith(("#", "def ", "async def ", "class ", "@")):
            continue
        if len(squash(code)) >= MIN_CHARS:
            out.append(code)
    return out


def answer_objects(ex) -> list[tuple[str, object]]:
    """``(label, object)`` of an exercise's reference and of every function it replaces."""
    found = [(f"the reference {getattr(ex.reference, '__qualname__', ex.reference)}", ex.reference)]
    for dotted in ex.replaces:
        try:
            found.append((dotted, resolve(dotted)))
        except (ImportError, AttributeError):
            continue  # test_every_replaced_function_resolves_to_code says so
    return found


@functools.lru_cache(maxsize=None)
def reference_lines(name: str) -> dict[str, str]:
    """``{squashed line: line}`` of exercise ``name``'s answer."""
    ex = exercises.EXERCISES[name]
    lines: dict[str, str] = {}
    for _, obj in answer_objects(ex):
        source = _source(obj)
        for line in significant_lines(source or ""):
            lines.setdefault(squash(line), line)
    return lines


def _names(ex) -> set[str]:
    """The names a ``getsource(...)`` of the answer would use: the reference's and each replaced function's."""
    out = {getattr(ex.reference, "__name__", "")}
    out |= {d.rsplit(".", 1)[-1] for d in ex.replaces}
    return {n for n in out if n}


def _text(out) -> str:
    if out.get("output_type") == "stream":
        return out.get("text", "")
    data = out.get("data", {})
    return "\n".join(str(data.get(k, "")) for k in ("text/plain", "text/markdown", "text/html") if k in data)


def checker_cells(nb) -> dict[str, int]:
    """``{exercise: index of the first code cell that calls its checker}``."""
    first: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            for call in _CALL.findall(cell.source):
                name = exercise_of_checker(call)
                if name and name not in first:
                    first[name] = index
    return first


def notebook_findings(solved, label: str, *, lines_of=reference_lines) -> list[str]:
    """Every place above a checker in ``solved``'s student edition (its cells, and the stored outputs of ``solved``
    for those cells) that shows a line of the exercise's answer, or a getsource of it, one line each."""
    student = student_edition.student_notebook(solved, name=label)
    stored = {cell.get("id"): cell for cell in solved.cells if cell.get("id")}
    findings = []
    for name, at in checker_cells(student).items():
        lines = lines_of(name)
        names = _names(exercises.EXERCISES[name])
        for index, cell in enumerate(student.cells[:at]):
            text = squash(cell.source)
            places = [("cell", text)]
            solved_cell = stored.get(cell.get("id"))
            if cell.cell_type == "code" and solved_cell is not None:
                places.append(("its stored output", squash("\n".join(_text(o) for o in solved_cell.get("outputs", [])))))
            for where, blob in places:
                for key, line in lines.items():
                    if key in blob:
                        findings.append(f"{name}: notebook {label}, student cell {index} ({where}) shows a line of "
                                        f"the answer above its checker (cell {at}): {line}")
            if cell.cell_type == "code":
                for target in _GETSOURCE.findall(cell.source):
                    if target.rsplit(".", 1)[-1] in names:
                        findings.append(f"{name}: notebook {label}, student cell {index} prints getsource({target}) "
                                        f"above its checker (cell {at}): show it after the checker")
    return findings


def hint_findings() -> list[str]:
    findings = []
    for name, ex in exercises.EXERCISES.items():
        third = squash(ex.hints[2])
        for key, line in reference_lines(name).items():
            if key in third:
                findings.append(f"{name}: notebook {ex.notebook}, the third hint holds a line of the answer: {line}")
    return findings


def package_callees(name: str) -> list[str]:
    """The package functions that exercise ``name``'s reference calls directly while its checker runs it (those
    outside :mod:`vae_course.teaching`): candidates for ``Exercise.replaces``, listed in the report."""
    ex = exercises.EXERCISES[name]
    own = set(code_objects(ex.reference))
    found: dict[str, None] = {}

    def hook(frame, event, arg):
        if event == "call" and frame.f_back is not None and frame.f_back.f_code in own:
            module = frame.f_globals.get("__name__", "")
            if module.startswith("vae_course.") and not module.startswith("vae_course.teaching"):
                found[f"{module}.{frame.f_code.co_qualname}"] = None

    with Tripwire.suspend():
        sys.setprofile(hook)
        try:
            ex.check(ex.reference)
        finally:
            sys.setprofile(None)
    return list(found)


@functools.lru_cache(maxsize=None)
def course_findings() -> tuple[tuple[str, tuple[str, ...]], ...]:
    out = []
    for path in course_notebooks():
        nb = nbformat.read(path, as_version=4)
        out.append((path.name, tuple(notebook_findings(nb, path.name))))
    return tuple(out)


# --- the rules on the course -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", course_notebooks(), ids=lambda p: p.stem)
def test_nothing_above_a_checker_shows_its_answer(path):
    findings = dict(course_findings())[path.name]
    assert not findings, f"{len(findings)} answer(s) shown above their checker:\n" + "\n".join(findings)


def test_no_third_hint_holds_a_line_of_its_reference():
    findings = hint_findings()
    assert not findings, f"{len(findings)} third hint(s) end in the reference's code:\n" + "\n".join(findings)


def test_every_exercise_has_answer_lines_to_look_for():
    """The rule above can only fail if each exercise's answer has lines to search for."""
    empty = [name for name in exercises.EXERCISES if not reference_lines(name)]
    assert not empty, f"no significant source line found for {empty}: is the reference's source readable?"


def test_every_replaced_function_resolves_to_code():
    problems = []
    for name, ex in exercises.EXERCISES.items():
        for dotted in ex.replaces:
            try:
                obj = resolve(dotted)
            except (ImportError, AttributeError) as exc:
                problems.append(f"{name}: replaces {dotted!r}, which does not resolve ({exc})")
                continue
            if not code_objects(obj):
                problems.append(f"{name}: replaces {dotted!r}, which has no Python code the tripwire can watch")
    assert not problems, "\n".join(problems)


def test_every_exercise_is_checked_in_its_notebook():
    """The grader's MISSING verdict knows a notebook's exercises from ``Exercise.notebook``: each must name a course
    notebook whose cells call the exercise's checker."""
    calls: dict[str, set[str]] = {}
    for path in course_notebooks():
        nb = nbformat.read(path, as_version=4)
        for name in checker_cells(nb):
            calls.setdefault(name, set()).add(path.name[:2])
    wrong = [f"{name}: Exercise.notebook = {ex.notebook!r}, but its checker is called in "
             f"{sorted(calls.get(name, [])) or 'no notebook'}"
             for name, ex in exercises.EXERCISES.items() if ex.notebook not in calls.get(name, set())]
    assert not wrong, "\n".join(wrong)


# --- the rules can fail ----------------------------------------------------------------------------------------------
def _tiny(cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) if not c.startswith("md:") else nbformat.v4.new_markdown_cell(c[3:])
                for c in cells]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"c{i}"
    return nb


def test_the_rule_finds_a_line_a_getsource_and_a_printed_source():
    line = next(iter(reference_lines("gaussian_kl").values()))
    nb = _tiny(["import inspect\nfrom vae_course.objectives import losses",
                f"md:The answer is `{line}`, as you see.",
                "print(inspect.getsource(losses.gaussian_kl))",
                "def kl(mu, logvar):\n    ### BEGIN SOLUTION\n    " + line + "\n    ### END SOLUTION",
                "exercises.check_gaussian_kl(kl)",
                "print(inspect.getsource(losses.gaussian_kl))  # after the checker: fine"])
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text=f"def gaussian_kl(mu, logvar):\n    {line}\n")]
    findings = notebook_findings(nb, "demo.ipynb", lines_of=lambda name: {squash(line): line})
    assert any("student cell 2 (cell)" in f and line in f for f in findings), findings  # the markdown cell
    assert any("student cell 3 prints getsource(losses.gaussian_kl)" in f for f in findings), findings
    assert any("student cell 3 (its stored output)" in f for f in findings), findings
    assert not any("student cell 4" in f or "student cell 6" in f for f in findings), findings  # the stub; after
    assert all(f.startswith("gaussian_kl: notebook demo.ipynb, student cell ") for f in findings)


def test_significant_lines_leave_out_docstrings_comments_and_signatures():
    source = ('def f(mu, logvar):\n    """A docstring line that is long enough to count."""\n'
              "    from vae_course.objectives.losses import gaussian_kl as a_long_imported_name\n"
              "    # a comment line that is long enough to count as well\n"
              "    return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(-1)  # the answer\n"
              "    x = y\n")
    assert significant_lines(source) == ["return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(-1)"]


# --- REFERENCE: a learner's function that hands the work to the package -------------------------------------------
def _mine(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(-1)


@pytest.fixture
def kl_replaces(monkeypatch):
    """gaussian_kl's exercise with ``replaces`` naming the package's gaussian_kl (whatever its owner chose)."""
    ex = exercises.EXERCISES["gaussian_kl"]
    monkeypatch.setitem(exercises.EXERCISES, "gaussian_kl",
                        dataclasses.replace(ex, replaces=("vae_course.objectives.losses.gaussian_kl",)))
    return ex


def test_handing_the_work_to_the_package_is_reference_not_pass(kl_replaces):
    from vae_course.objectives import losses
    from vae_course.objectives.losses import gaussian_kl as kl  # bound before any tripwire is armed

    reference = exercises.EXERCISES["gaussian_kl"].reference

    class Holder:
        @staticmethod
        def kl(mu, logvar):
            return losses.gaussian_kl(mu, logvar)

    handed = {
        "the reference itself": reference,
        "a wrapper around the reference": lambda mu, logvar: reference(mu, logvar) + 0.0,
        "the package function bound by an earlier import": kl,
        "a wrapper around the earlier binding": lambda mu, logvar: kl(mu, logvar) * 1.0,
        "a partial of the package function": functools.partial(losses.gaussian_kl),
        "a static method calling it through its module": Holder.kl,
        "a stub that calls it, then raises": lambda mu, logvar: (kl(mu, logvar), _raise())[1],
    }
    for label, fn in handed.items():
        result = exercises.check_gaussian_kl(fn)
        assert result.verdict == "REFERENCE" and not result, (label, result.message)
        assert result.message.startswith("REFERENCE gaussian_kl: your code calls ")
        assert result.record() == {"exercise": "gaussian_kl", "verdict": "REFERENCE"}
        assert "0.5 *" not in result.message and "logvar" not in result.message  # it names, never shows, the answer
    assert "vae_course.objectives.losses.gaussian_kl" in exercises.check_gaussian_kl(kl).message
    assert exercises.check_gaussian_kl(_mine).verdict == "PASS"
    assert sys.getprofile() is None  # every tripwire was disarmed


def _raise():
    raise NotImplementedError


def test_mine_or_reference_treats_reference_as_not_written(kl_replaces, capsys):
    from vae_course.objectives.losses import gaussian_kl as kl

    used = exercises.mine_or_reference(kl, "gaussian_kl")
    assert used is exercises.EXERCISES["gaussian_kl"].reference
    assert "yours calls the package's answer" in capsys.readouterr().out
    assert exercises.mine_or_reference(_mine, "gaussian_kl") is _mine


def test_another_exercises_reference_handed_out_as_a_fallback_is_no_reference(monkeypatch):
    """A learner's train_step that uses the reference vae_loss (handed out by mine_or_reference because their own
    vae_loss fails) does not hand train_step's work over, though that reference calls what train_step replaces; a
    train_step that calls the package's loss itself does."""
    from vae_course.objectives import losses

    ex = exercises.EXERCISES["train_step"]
    monkeypatch.setitem(exercises.EXERCISES, "train_step",
                        dataclasses.replace(ex, replaces=("vae_course.objectives.losses.elbo",)))
    vae_loss = exercises.EXERCISES["vae_loss"].reference  # calls losses.elbo inside

    def step_with(loss_of):
        def train_step(model, optimizer, x):
            optimizer.zero_grad()
            mu, logvar = model.encode(x)
            logits = model.decode_logits(model.reparameterize(mu, logvar))
            loss = loss_of(logits, x, mu, logvar) / len(x)
            loss.backward()
            optimizer.step()
            return loss.item()
        return train_step

    fallback = exercises.check_train_step(step_with(vae_loss))
    assert fallback.verdict == "PASS", fallback.message
    own = exercises.check_train_step(step_with(
        lambda logits, x, mu, logvar: losses.elbo(logits, x.reshape(len(x), -1), mu, logvar).total.sum()))
    assert own.verdict == "REFERENCE" and "losses.elbo" in own.message, own.message


def test_a_hand_written_checker_and_a_subclass_are_caught():
    ex = exercises.EXERCISES["vae_module"]

    class Mine(ex.reference):  # inherits every method of the package's VAE
        pass

    assert exercises.check_vae_module(Mine).verdict == "REFERENCE"
    with Tripwire.suspend():
        assert exercises.check_vae_module(ex.reference).verdict == "PASS"


def test_the_tripwire_only_watches_the_learners_calls():
    """The checker's own calls of the reference (before and after the learner's) never trip it, and a hook that was
    set before (a debugger, a profiler) keeps running and is restored."""
    seen = []

    def outer(frame, event, arg):
        seen.append(event)

    sys.setprofile(outer)
    try:
        assert exercises.check_gaussian_kl(_mine).verdict == "PASS"
        assert sys.getprofile() is outer and seen
    finally:
        sys.setprofile(None)


def test_the_verdict_reaches_the_grader_as_signed_metadata():
    from vae_course.teaching import grade

    assert "REFERENCE" in grade.VERDICTS and "REFERENCE" in exercises.core.VERDICTS
    result = exercises.check_gaussian_kl(exercises.EXERCISES["gaussian_kl"].reference)
    bundle, meta = result._repr_mimebundle_()
    assert meta == {"vae_course": {"exercise": "gaussian_kl", "verdict": "REFERENCE"}}
    assert bundle["text/plain"].startswith("REFERENCE gaussian_kl:")


# --- reveal: a choice is right or not, never "within 10%" -----------------------------------------------------------
@pytest.mark.parametrize("prediction, measured, kwargs, expect", [
    (0, 0.0, {}, "You predicted 0; the answer is 0: right."),
    (1, 1.0, {"choices": [0.5, 1, 2]}, "You predicted 1; the answer is 1: right."),
    (2, 1.0, {"choices": [0.5, 1, 2]}, "You predicted 2; the answer is 1: not quite."),
    (1.05, 1.0, {"choices": [0.5, 1, 2]}, "none of the choices: 0.5, 1, 2"),
    ("smaller", "smaller", {}, "You predicted 'smaller'; the answer is 'smaller': right."),
    (26, 26.11, {}, "within 10%, well done."),
])
def test_reveal(prediction, measured, kwargs, expect, capsys):
    exercises.reveal(prediction, measured, what="value", explanation="why", **kwargs)
    out = capsys.readouterr().out
    assert expect in out and out.endswith("why\n")
    if kwargs or isinstance(measured, str) or prediction == measured:
        assert "within" not in out


def longest_solution(nb) -> int:
    """The most code lines (not blank, not comments) in one solution region of ``nb``."""
    best = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        count = None
        for line in cell.source.splitlines():
            marker = student_edition._MARKER.match(line)
            if marker:
                best = max(best, count or 0) if marker["kind"] == "END" else best
                count = 0 if marker["kind"] == "BEGIN" else None
            elif count is not None and line.strip() and not line.strip().startswith("#"):
                count += 1
    return best


def report() -> str:
    """The findings as Markdown, one section per notebook, then the hints."""
    lines = ["# Exercise rules (issue 24): what still fails", "",
             "Generated by `python -m tests.test_exercise_rules /tmp/vc3/RULES-REPORT.md` (GRADE). Each line: exercise:"
             " notebook, student-edition cell (cell 0 is the edition's introduction), what shows the answer above "
             "its checker, and the line.", ""]
    total = 0
    for name, findings in course_findings():
        lines.append(f"## {name}: {len(findings) or 'nothing'} found")
        lines += [f"- {f}" for f in findings]
        lines.append("")
        total += len(findings)
    hints = hint_findings()
    lines.append(f"## Third hints: {len(hints) or 'nothing'} found")
    lines += [f"- {f}" for f in hints]
    lines.append("")
    lines.append("## Build exercises: the longest solution region of each notebook (code lines, for issue 24's "
                 "'at least ~5 lines'; not a test)")
    for path in course_notebooks():
        lines.append(f"- {path.name}: {longest_solution(nbformat.read(path, as_version=4))}")
    lines.append("")
    unlisted = []
    for name, ex in exercises.EXERCISES.items():
        calls = [c for c in package_callees(name) if c not in ex.replaces]
        if calls:
            unlisted.append(f"- {name} (notebook {ex.notebook}): its reference calls {', '.join(calls)}; "
                            f"replaces = {ex.replaces or '()'}")
    if unlisted:
        lines += ["## For the owners: package functions the reference calls that `replaces` does not list", "",
                  "Not a failure: list one in `replaces` if it computes the answer (then a learner's call of it is "
                  "REFERENCE, and its source above the checker fails the rule); leave out helpers the learner may "
                  "use (model.encode in train_step).", "", *unlisted, ""]
    try:
        test_every_exercise_is_checked_in_its_notebook()
    except AssertionError as exc:
        lines += ["## Exercise.notebook against the notebooks' checker calls", *[f"- {x}" for x in str(exc).splitlines()
                                                                           if x.strip()], ""]
    lines.insert(3, f"Total: {total} place(s) above checkers, {len(hints)} third hint(s).\n")
    return "\n".join(lines)


if __name__ == "__main__":
    text = report()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {sys.argv[1]}")
    else:
        print(text)
