"""The nbgrader route (issue 24 §4): :func:`vae_course.teaching.student_edition.nbgrader_source` makes a course notebook
into an nbgrader source notebook whose checker cells are autograded tests, and ``nbgrader generate_assignment``,
``autograde`` and ``export`` then give a solved submission its points and a fresh one none.

The fast tests check the metadata and the cells' behaviour without nbgrader. The end-to-end test (``slow``) runs the
real nbgrader on notebook 03 in quick mode, in the current environment when nbgrader is importable, else with the
Python named by ``VAE_COURSE_NBGRADER_PYTHON``, else in a virtual environment it creates with the current packages
visible and ``pip install nbgrader``; it skips, saying why, where nbgrader cannot be installed (no network).
"""
from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
import venv
from pathlib import Path

import nbformat
import pytest

from vae_course.teaching import NOTEBOOK_DIR, exercises
from vae_course.teaching import student_edition as se

NOTEBOOK = NOTEBOOK_DIR / "03_kl_divergence.ipynb"

SOLVED = '''def kl(mu, logvar):
    """KL per row."""
    ### BEGIN SOLUTION
    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)
    ### END SOLUTION'''
PREDICT = "my_prediction = None  # your guess\n### BEGIN SOLUTION\nmy_prediction = 26.0\n### END SOLUTION"


def _tiny():
    nb = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_markdown_cell("**Answers.** 1. Because KL >= 0.")
    answer.metadata["tags"] = ["answer"]
    nb.cells = [nbformat.v4.new_code_cell("import torch\nfrom vae_course.teaching import exercises"),
                nbformat.v4.new_code_cell(SOLVED),
                nbformat.v4.new_code_cell("r = 1  # before\nexercises.check_gaussian_kl(\n    kl)  # the checker"),
                nbformat.v4.new_code_cell(PREDICT), answer,
                nbformat.v4.new_markdown_cell("Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION")]
    nb.metadata["widgets"] = {"state": {}}
    return nb


def test_cells_get_nbgrader_metadata():
    nb = _tiny()
    marked = se.nbgrader_source(nb, points=2)
    meta = [c.metadata.get("nbgrader") for c in marked.cells]
    assert meta[0] is None
    assert meta[1] == {"grade": False, "solution": True, "locked": False, "task": False, "schema_version": 3,
                       "grade_id": f"solution-{nb.cells[1].id}"}
    assert meta[2] == {"grade": True, "solution": False, "locked": True, "task": False, "points": 2,
                       "schema_version": 3, "grade_id": "check-gaussian_kl"}
    assert meta[3] is None  # the prediction: no solution cell, its instructor's value a comment
    assert meta[4]["solution"] and meta[4]["grade"] and meta[4]["grade_id"].startswith("answer-")
    assert len(marked.cells) == 5 and not any("Answers." in c.source for c in marked.cells)
    assert "widgets" not in marked.metadata and "nbgrader" not in nb.cells[1].metadata  # the input is unchanged
    assert len({m["grade_id"] for m in meta if m}) == 3
    nbformat.validate(marked)


def test_the_cells_run_and_the_test_cell_scores_only_a_pass():
    marked = se.nbgrader_source(_tiny())
    check, predict = marked.cells[2].source, marked.cells[3].source
    assert check.splitlines()[0] == se.MUST_PASS_IMPORT and "_must_pass(exercises.check_gaussian_kl(\n    kl))" in check
    assert "26.0" not in predict and se.BEGIN not in predict
    namespace: dict = {}
    exec(predict, namespace)  # the "predict, then run" cell runs
    assert namespace["my_prediction"] is None
    exec(marked.cells[0].source, namespace)
    exec(marked.cells[1].source, namespace)  # the instructor's solution: the test cell passes
    exec(check, namespace)
    namespace["kl"] = lambda mu, logvar: (mu ** 2).sum(-1)  # wrong: the test cell raises
    with pytest.raises(AssertionError, match="^FAIL gaussian_kl: case"):
        exec(check, namespace)
    namespace["kl"] = exercises.EXERCISES["gaussian_kl"].reference  # the package's answer: no points either
    with pytest.raises(AssertionError, match="^REFERENCE gaussian_kl"):
        exec(check, namespace)


def test_top_level_regions_only_are_stripped():
    src = "x = 1\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION\ndef f():\n    ### BEGIN SOLUTION\n    return 3\n" \
          "    ### END SOLUTION"
    out = se.strip_top_level(src)
    assert "x = 2" not in out and "return 3" in out and out.count(se.BEGIN) == 1


def test_every_course_notebook_converts():
    from vae_course.teaching import course_notebooks

    for path in course_notebooks():
        nb = nbformat.read(path, as_version=4)
        marked = se.nbgrader_source(nb)
        nbformat.validate(marked)
        ids = [c.metadata["nbgrader"]["grade_id"] for c in marked.cells if "nbgrader" in c.metadata]
        assert len(ids) == len(set(ids)), f"{path.name}: repeated grade_id"
        checks = [c for c in marked.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
        assert all(se.MUST_PASS in c.source for c in checks)
        assert not any(se.BEGIN in c.source and "nbgrader" not in c.metadata for c in marked.cells), path.name


def test_the_cli_writes_nbgrader_sources(tmp_path, capsys):
    from vae_course.__main__ import main

    try:
        code = main(["student-edition", str(tmp_path / "src"), str(NOTEBOOK), "--nbgrader"])
    except SystemExit:
        pytest.skip("python -m vae_course student-edition has no --nbgrader option yet")
    assert code == 0 and "wrote 1 nbgrader source notebook" in capsys.readouterr().out
    nb = nbformat.read(tmp_path / "src" / NOTEBOOK.name, as_version=4)
    assert any(c.metadata.get("nbgrader", {}).get("grade") for c in nb.cells)


# --- end to end with the real nbgrader --------------------------------------------------------------------------------
def _nbgrader_python(tmp_path_factory) -> str:
    if importlib.util.find_spec("nbgrader") is not None:
        return sys.executable
    if os.environ.get("VAE_COURSE_NBGRADER_PYTHON"):
        return os.environ["VAE_COURSE_NBGRADER_PYTHON"]
    env_dir = tmp_path_factory.mktemp("nbgrader-venv")
    venv.create(env_dir, system_site_packages=True, with_pip=True)  # torch and vae_course stay visible
    python = str(env_dir / "bin" / "python")
    try:
        done = subprocess.run([python, "-m", "pip", "install", "-q", "nbgrader"], capture_output=True, text=True,
                              timeout=900)
    except subprocess.TimeoutExpired:
        pytest.skip("pip install nbgrader took more than 15 minutes")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        pytest.skip(f"nbgrader could not be installed with pip ({last[:200]})")
    return python


def _run(python: str, root: Path, *args: str) -> str:
    done = subprocess.run([python, "-m", "nbgrader", *args], cwd=root, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "VAE_COURSE_QUICK": "1", "PYTHONHASHSEED": "0",  # nbgrader runs alembic
                               "PATH": os.path.dirname(python) + os.pathsep + os.environ.get("PATH", "")})
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


@pytest.mark.slow
def test_nbgrader_generate_autograde_export(tmp_path_factory):
    python = _nbgrader_python(tmp_path_factory)
    root = tmp_path_factory.mktemp("course")
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'vae-course'\n"
        f"c.CourseDirectory.root = {str(root)!r}\nc.ExecutePreprocessor.timeout = 900\n")
    source = se.build(root / "source" / "ps1", [NOTEBOOK], nbgrader=True)[0]
    graded = [c for c in nbformat.read(source, as_version=4).cells if c.metadata.get("nbgrader", {}).get("grade")]
    points = sum(c.metadata["nbgrader"]["points"] for c in graded if c.cell_type == "code")  # autograded
    by_hand = sum(c.metadata["nbgrader"]["points"] for c in graded if c.cell_type == "markdown")  # written answers
    assert points >= 1
    _run(python, root, "generate_assignment", "ps1", "--force")
    release = root / "release" / "ps1" / NOTEBOOK.name
    student = nbformat.read(release, as_version=4)
    assert not any(se.BEGIN in c.source for c in student.cells)
    assert any("raise NotImplementedError" in c.source for c in student.cells)

    instructor = {c.get("id"): c.source for c in nbformat.read(source, as_version=4).cells}
    solved = nbformat.read(release, as_version=4)
    for cell in solved.cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            cell.source = instructor[cell.get("id")]
    for who, nb in (("alice", solved), ("bob", student)):
        folder = root / "submitted" / who / "ps1"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / NOTEBOOK.name)
        _run(python, root, "db", "student", "add", who)
    _run(python, root, "autograde", "ps1", "--force")
    _run(python, root, "export", "--to", str(root / "grades.csv"))
    with open(root / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    print(f"\nnbgrader export: alice (solved) {rows['alice']['score']} / {rows['alice']['max_score']}, "
          f"bob (fresh) {rows['bob']['score']} / {rows['bob']['max_score']}")
    assert float(rows["alice"]["max_score"]) == points + by_hand
    assert float(rows["alice"]["score"]) == points > 0
    assert float(rows["bob"]["score"]) == 0
