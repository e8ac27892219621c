"""CI's run of the student edition: build it, then execute every student notebook top to bottom in quick mode.

A learner who has written nothing yet must be able to Run All: no cell may raise, and every checker cell (a cell
that calls an ``exercises.check_*`` function) must print a line that starts with ``TODO``. A checker cell that prints
``PASS`` instead means that its solution cell has no ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers, so the
student edition still holds the answer. Each notebook is one test (named after it) and runs in its own kernel, one
after the other in this process. Marked ``student``: ``pytest -m "not student"`` leaves it out.
"""
from __future__ import annotations

import re

import nbformat
import pytest

from vae_course.teaching import course_notebooks
from vae_course.teaching import student_edition
from vae_course.teaching.execute import _env
from vae_course.teaching.exercises.registry import exercise_of_checker

pytestmark = pytest.mark.student

NOTEBOOKS = course_notebooks()
_CALL = re.compile(r"\b(check_\w+)\s*\(")
CELL_TIMEOUT = 900


def checker_cell(source: str) -> bool:
    return any(exercise_of_checker(name) for name in _CALL.findall(source))


def _text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") in ("execute_result", "display_data"):
        return output.get("data", {}).get("text/plain", "")
    return ""


def _first_line(source: str) -> str:
    return source.strip().splitlines()[0][:60] if source.strip() else ""


def problems_of(nb, name: str) -> list[str]:
    """Every reason this executed student notebook fails the Run All rule, one line each (cells are numbered as
    in the student edition, whose first cell is the edition's introduction)."""
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        first = _first_line(cell.source)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"student {name}, cell {index} ({first!r}) raised {out.get('ename')}: "
                                f"{str(out.get('evalue')).splitlines()[0] if out.get('evalue') else ''}")
        if checker_cell(cell.source):
            lines = [line for out in cell.get("outputs", []) for line in _text(out).splitlines()]
            if not any(line.startswith("TODO") for line in lines):
                shown = lines[0][:90] if lines else "nothing"
                problems.append(f"student {name}, cell {index} ({first!r}) is a checker cell that printed no TODO line "
                                f"(it printed {shown!r}): is its solution cell marked with ### BEGIN SOLUTION?")
    return problems


def unmarked_solution_cells(nb, name: str) -> list[str]:
    return [f"notebooks/{name}, cell {i} ({_first_line(c.source)!r}): tagged 'solution' but has no "
            f"{student_edition.BEGIN} marker"
            for i, c in enumerate(nb.cells)
            if "solution" in c.metadata.get("tags", []) and not student_edition.has_solution(c.source)]


def converted(nb) -> bool:
    """Does the solved notebook follow the student-edition convention (any solution marker at all)?"""
    return any(student_edition.has_solution(c.source) for c in nb.cells if c.cell_type == "code")


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    student_edition.build(out)
    return out


def test_the_edition_has_every_notebook(edition):
    assert sorted(p.name for p in edition.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_notebook_runs_top_to_bottom(edition, source):
    from nbclient import NotebookClient

    path = edition / source.name
    nb = nbformat.read(path, as_version=4)
    solved = nbformat.read(source, as_version=4)
    if not converted(solved):
        pytest.skip(f"{source.name} is not converted to the student-edition convention yet (no solution markers): "
                    f"issue 12 is open for it")
    problems = unmarked_solution_cells(solved, source.name)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=True,
                            record_timing=False, resources={"metadata": {"path": str(edition)}})
    with _env(VAE_COURSE_QUICK="1", PYTHONHASHSEED="0", PYDEVD_DISABLE_FILE_VALIDATION="1"):
        client.execute()
    problems += problems_of(nb, source.name)
    assert not problems, "the student edition does not Run All cleanly:\n" + "\n".join(problems)


# --- the rule itself can fail: a tiny executed notebook with each kind of problem -------------------------------------
def test_the_rule_catches_errors_and_checker_cells_without_todo():
    nb = nbformat.v4.new_notebook()
    ok = nbformat.v4.new_code_cell("exercises.check_gaussian_kl(kl)")
    ok.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "TODO gaussian_kl: not written yet"},
                                         execution_count=1)]
    passed = nbformat.v4.new_code_cell("exercises.check_toy_elbo(toy_elbo)")
    passed.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "PASS toy_elbo: all 7 cases"},
                                             execution_count=2)]
    broken = nbformat.v4.new_code_cell("x = kl(mu, logvar)")
    broken.outputs = [nbformat.v4.new_output("error", ename="NotImplementedError", evalue="your code here",
                                             traceback=[])]
    helper = nbformat.v4.new_code_cell("def check_my_shapes(x):\n    return x")  # not a course checker
    nb.cells = [ok, passed, broken, helper]
    problems = problems_of(nb, "demo.ipynb")
    assert problems == [
        "student demo.ipynb, cell 1 ('exercises.check_toy_elbo(toy_elbo)') is a checker cell that printed no TODO line (it "
        "printed 'PASS toy_elbo: all 7 cases'): is its solution cell marked with ### BEGIN SOLUTION?",
        "student demo.ipynb, cell 2 ('x = kl(mu, logvar)') raised NotImplementedError: your code here"]
    tagged = nbformat.v4.new_code_cell("def f():\n    return 1")
    tagged.metadata["tags"] = ["solution"]
    nb.cells = [tagged]
    assert unmarked_solution_cells(nb, "demo.ipynb") == [
        "notebooks/demo.ipynb, cell 0 ('def f():'): tagged 'solution' but has no ### BEGIN SOLUTION marker"]
