"""The grader: every submission runs in a fresh kernel in quick mode, every checker's verdict comes from the output
metadata, and a submission that raises, hangs or is not a notebook is reported as such without stopping the grader.

Three fixtures are built from one course notebook (notebooks/04_reparameterization.ipynb): the solved edition (all
PASS), the fresh student edition (all TODO) and the solved edition with a wrong answer in one solution (that
exercise FAIL with its case and largest difference as the reason, the others PASS); a fourth has one checker cell
deleted and one commented out (both MISSING). Tiny synthetic ones raise in a non-checker cell, hang, hand the work to
the reference (REFERENCE), or are not notebooks at all, and a text file beside them is listed as not a notebook.
"""
from __future__ import annotations

import csv
import re
import shutil

import nbformat
import pytest

from vae_course.teaching import NOTEBOOK_DIR
from vae_course.teaching import grade, student_edition
from vae_course.teaching.exercises.registry import course_number
from vae_course.teaching.exercises.registry import notebook_exercises as exercises_of_notebook

SOURCE = NOTEBOOK_DIR / "04_reparameterization.ipynb"
WRONG = "    return mu + torch.exp(logvar) * eps  # the variance where the standard deviation belongs"


def _wrong_answer(nb):
    """The solved notebook with the reparameterize solution region holding a wrong formula."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "def reparameterize(" in cell.source and student_edition.has_solution(
                cell.source):
            lines = cell.source.splitlines()
            start = next(i for i, line in enumerate(lines) if student_edition.BEGIN in line)
            end = next(i for i, line in enumerate(lines) if student_edition.END in line)
            cell.source = "\n".join(lines[:start + 1] + [WRONG] + lines[end:])
            return nb
    pytest.skip("notebook 04's reparameterize cell has no solution markers yet")


def _synthetic(cells: list[str]):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    return nb


HANG_LIMIT = 30  # seconds: enough to start a kernel and pass the first checker, far less than the sleep
KL = "def kl(mu, logvar):\n    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)"
STUB = "def reparameterize(mu, logvar, eps):\n    raise NotImplementedError('your code here')"


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    shutil.copy(SOURCE, folder / "a_solved.ipynb")
    built = student_edition.build(tmp_path_factory.mktemp("edition"), [SOURCE])
    shutil.copy(built[0], folder / "b_student.ipynb")
    nbformat.write(_wrong_answer(nbformat.read(SOURCE, as_version=4)), folder / "c_wrong.ipynb")
    nbformat.write(_synthetic(["import torch\nfrom vae_course.teaching import exercises", KL,
                               "exercises.check_gaussian_kl(kl)", "1 / 0  # a bug outside any checker", STUB,
                               "exercises.check_reparameterize(reparameterize)",
                               "exercises.check_toy_elbo(toy_elbo)  # never defined: the checker cell raises"]),
                   folder / "d_raises.ipynb")
    nbformat.write(_synthetic(["import torch\nfrom vae_course.teaching import exercises", KL,
                               "exercises.check_gaussian_kl(kl)", "import time\ntime.sleep(600)",
                               "exercises.check_reparameterize(None)"]), folder / "e_hangs.ipynb")
    (folder / "f_notes.ipynb").write_text("these are my notes, not a notebook\n", encoding="utf-8")
    other = folder / "more"
    other.mkdir()
    nbformat.write(_without_checkers(nbformat.read(SOURCE, as_version=4)), other / "g_missing.ipynb")
    nbformat.write(_synthetic(["import torch\nfrom vae_course.teaching import exercises", KL, HANDED_OVER,
                               "exercises.check_gaussian_kl(kl)", "exercises.check_reparameterize(reparameterize)"]),
                   other / "h_reference.ipynb")
    (other / "notes.txt").write_text("my notes\n", encoding="utf-8")
    return folder


HANDED_OVER = ("kl = exercises.EXERCISES['gaussian_kl'].reference  # hands the work to the package\n"
               "_answer = exercises.EXERCISES['reparameterize'].reference\n"
               "def reparameterize(mu, logvar, eps):\n    return _answer(mu, logvar, eps)  # a wrapper that calls it")


def _without_checkers(nb):
    """The solved notebook with its first checker cell deleted and its last one commented out."""
    cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and grade.checker_names(c.source)]
    if len(cells) < 2:
        pytest.skip("notebook 04 has fewer than two checker cells")
    last = nb.cells[cells[-1]]
    last.source = "\n".join("# " + line for line in last.source.splitlines())
    del nb.cells[cells[0]]
    return nb


@pytest.fixture(scope="module")
def graded(submissions, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "grades.csv"
    fixtures = sorted(submissions.glob("[abc]_*.ipynb"))
    main = grade.grade_all(fixtures, csv_path=out, timeout=300)
    others = [grade.grade_notebook(submissions / "d_raises.ipynb", timeout=300),
              grade.grade_notebook(submissions / "e_hangs.ipynb", timeout=HANG_LIMIT),
              grade.grade_notebook(submissions / "f_notes.ipynb")]
    more = grade.grade_all([submissions / "more"], csv_path=out.parent / "more.csv", timeout=300)
    return main, others, out, more


@pytest.mark.slow
def test_the_three_fixtures(graded, capsys):
    reports, _, out, _ = graded
    by_name = {r.name: r for r in reports}
    names = exercises_of_notebook("04")  # the exercises of notebook 04, from its checker cells and the registry
    assert "reparameterize" in names and len(names) >= 3
    n = len(names)
    assert by_name["a_solved.ipynb"].status == "ok", by_name["a_solved.ipynb"].detail
    assert by_name["a_solved.ipynb"].verdicts == dict.fromkeys(names, "PASS")
    assert by_name["b_student.ipynb"].verdicts == dict.fromkeys(names, "TODO")
    assert by_name["b_student.ipynb"].status == "ok", by_name["b_student.ipynb"].detail
    assert by_name["c_wrong.ipynb"].verdicts == {**dict.fromkeys(names, "PASS"), "reparameterize": "FAIL"}
    assert by_name["c_wrong.ipynb"].status == "ok", by_name["c_wrong.ipynb"].detail
    header, rows = grade.table(reports)
    columns = [c for name in names for c in (name, f"{name} reason")]
    assert header == ["submission", "status", "score", "passed", "exercises", *columns, "detail"]
    cell = {(row[0], h): value for row in rows for h, value in zip(header, row)}
    assert [row[:5] for row in rows] == [["a_solved.ipynb", "ok", "1.000", str(n), str(n)],
                                         ["b_student.ipynb", "ok", "0.000", "0", str(n)],
                                         ["c_wrong.ipynb", "ok", f"{(n - 1) / n:.3f}", str(n - 1), str(n)]]
    why = cell["c_wrong.ipynb", "reparameterize reason"]
    assert re.match(r"case \d+ \(", why) and "largest absolute difference" in why and "hint" not in why, why
    assert cell["b_student.ipynb", "reparameterize reason"] == "not written yet (it raises NotImplementedError)."
    assert all(cell["a_solved.ipynb", f"{name} reason"] == "" for name in names)
    with open(out, newline="") as f:
        assert list(csv.reader(f)) == [header, *rows]
    text = grade.format_table(header, rows)
    assert re.search(r"^c_wrong\.ipynb +ok +0\.\d{3} ", text, re.M) and f"c_wrong.ipynb, reparameterize: {why}" in text
    print("\n" + text)


@pytest.mark.slow
def test_missing_checkers_reference_answers_and_other_files(graded):
    *_, more = graded
    by_name = {r.name: r for r in more}
    assert list(by_name) == ["g_missing.ipynb", "h_reference.ipynb", "notes.txt"]
    missing = by_name["g_missing.ipynb"]
    names = exercises_of_notebook("04")
    assert missing.status == "ok", missing.detail
    assert list(missing.verdicts.values()).count("MISSING") == 2, missing.verdicts
    assert all(v in ("PASS", "MISSING") for v in missing.verdicts.values()) and set(missing.verdicts) == set(names)
    assert "deleted or commented out" in next(missing.reasons[e] for e, v in missing.verdicts.items() if v == "MISSING")
    assert missing.exercises == len(names) and missing.passed == len(names) - 2
    handed = by_name["h_reference.ipynb"]
    assert handed.verdicts == {"gaussian_kl": "REFERENCE", "reparameterize": "REFERENCE"}, handed.verdicts
    assert "exercise's reference" in handed.reasons["gaussian_kl"], handed.reasons
    assert (by_name["notes.txt"].status, by_name["notes.txt"].verdicts) == ("not a notebook", {})
    assert "not an .ipynb file" in by_name["notes.txt"].detail


@pytest.mark.slow
def test_raising_hanging_and_non_notebooks_are_reported_not_fatal(graded):
    _, reports, out, _ = graded
    by_name = {r.name: r for r in reports}
    raised, hung, notes = by_name["d_raises.ipynb"], by_name["e_hangs.ipynb"], by_name["f_notes.ipynb"]
    assert raised.status == "raised" and raised.detail.startswith("cell 3 raised ZeroDivisionError")
    assert raised.verdicts == {"gaussian_kl": "PASS", "reparameterize": "TODO", "toy_elbo": "ERROR"}
    assert hung.status == "timeout" and hung.detail == f"still running after {HANG_LIMIT} s"
    assert hung.verdicts["gaussian_kl"] == "PASS" and "reparameterize" not in hung.verdicts
    assert notes.status == "not a notebook" and notes.verdicts == {}
    assert raised.reasons["toy_elbo"].startswith("cell 6 raised NameError")
    header, rows = grade.table(reports, reasons=False)
    assert header == ["submission", "status", "score", "passed", "exercises", "gaussian_kl", "reparameterize",
                      "toy_elbo", "detail"]
    assert [r[:8] for r in rows] == [["d_raises.ipynb", "raised", "0.333", "1", "3", "PASS", "TODO", "ERROR"],
                                     ["e_hangs.ipynb", "timeout", "1.000", "1", "1", "PASS", "-", "-"],
                                     ["f_notes.ipynb", "not a notebook", "", "0", "0", "-", "-", "-"]]
    text = grade.format_table(header, rows)
    assert re.search(r"^d_raises\.ipynb +raised +0\.333 +PASS +TODO +ERROR", text, re.M)
    assert "f_notes.ipynb: " in text


def test_checker_calls_map_to_exercise_names():
    assert grade.checker_names("r = exercises.check_mc_marginal(f)\nexercises.check_cb_log_normalizer(g)") == \
        ["mc_log_marginal", "cb_log_norm"]
    assert grade.checker_names("def check_my_shapes(x):\n    check_my_shapes(1)") == []


def test_folders_expand_and_missing_files_are_reported(submissions, tmp_path, capsys):
    assert [p.name for p in grade.submissions([submissions])][:3] == ["a_solved.ipynb", "b_student.ipynb",
                                                                      "c_wrong.ipynb"]
    reports = grade.grade_all([tmp_path / "nope.ipynb"], csv_path=None)
    assert reports[0].status == "not a notebook" and reports[0].detail == "no such file"


def test_the_cli(submissions, tmp_path, capsys):
    from vae_course.__main__ import main

    out = tmp_path / "table.csv"
    assert main(["grade", str(submissions / "f_notes.ipynb"), "--csv", str(out), "--timeout", "30"]) == 0
    printed = capsys.readouterr().out
    assert "f_notes.ipynb  not a notebook" in printed and f"wrote {out}" in printed
    assert out.read_text().splitlines()[0] == "submission,status,score,passed,exercises,detail"
    with pytest.raises(SystemExit):
        main(["grade", "x.ipynb", "--timeout", "0"])


def test_repeated_file_names_are_told_apart_by_their_folder(tmp_path):
    for who in ("alice", "bob"):
        (tmp_path / who).mkdir()
        (tmp_path / who / "03_kl_divergence.ipynb").write_text("{}", encoding="utf-8")
    (tmp_path / "bob" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "bob" / ".ipynb_checkpoints" / "03_kl_divergence-checkpoint.ipynb").write_text("{}")
    found = grade.submissions([tmp_path])
    assert grade.display_names(found) == ["alice/03_kl_divergence.ipynb", "bob/03_kl_divergence.ipynb"]
    assert grade.display_names([tmp_path / "alice" / "03_kl_divergence.ipynb"]) == ["03_kl_divergence.ipynb"]
    reports = grade.grade_all([tmp_path], csv_path=None)
    assert [(r.name, r.status) for r in reports] == [("alice/03_kl_divergence.ipynb", "not a notebook"),
                                                    ("bob/03_kl_divergence.ipynb", "not a notebook")]


# --- the table's parts, without a kernel ------------------------------------------------------------------------------
def _signed(key, run, exercise, verdict, text):
    from vae_course.teaching import sandbox
    import hashlib
    import hmac

    mac = hmac.new(key, sandbox.signed_message(run, exercise, verdict), hashlib.sha256).hexdigest()
    return nbformat.v4.new_output("execute_result", data={"text/plain": text}, execution_count=1,
                                  metadata={"vae_course": {"exercise": exercise, "verdict": verdict,
                                                           "signature": mac}})


def test_verdicts_reasons_and_commented_checkers():
    key, run = b"k" * 32, "run"
    nb = _synthetic(["exercises.check_gaussian_kl(kl)", "exercises.check_reparameterize(r)",
                     "# exercises.check_toy_elbo(t)\n1 / 0", "exercises.check_mc_marginal(m)"])
    nb.cells[0].outputs = [_signed(key, run, "gaussian_kl", "REFERENCE", "REFERENCE gaussian_kl: your code calls the "
                                   "package's gaussian_kl (x), which computes ... Run exercises.hint('gaussian_kl') "
                                   "for a hint.")]
    nb.cells[1].outputs = [_signed(key, run, "reparameterize", "FAIL", "FAIL reparameterize: case 2 (s): largest "
                                   "absolute difference 2 at index (0, 0). Run exercises.hint('reparameterize') for "
                                   "a hint.")]
    nb.cells[2].outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                                  traceback=[])]
    nb.cells[3].outputs = [_signed(key, run, "mc_log_marginal", "PASS", "PASS mc_log_marginal: all 7 cases match.")]
    reasons: dict = {}
    verdicts, errors, forged = grade.verdicts_of(nb, key=key, run=run, reasons=reasons)
    assert verdicts == {"gaussian_kl": "REFERENCE", "reparameterize": "FAIL", "mc_log_marginal": "PASS"}
    assert reasons == {"gaussian_kl": "your code calls the package's gaussian_kl (x), which computes ...",
                       "reparameterize": "case 2 (s): largest absolute difference 2 at index (0, 0)."}
    assert errors == ["cell 2 raised ZeroDivisionError: division by zero"]  # a commented-out checker is no ERROR
    assert forged == []


def test_score_missing_and_the_table():
    reports = [grade.Report("a.ipynb", verdicts={"kl": "PASS", "z": "MISSING"}, expected=["kl", "z"],
                            reasons={"z": "no checker ran"}),
               grade.Report("=b.ipynb", verdicts={"kl": "FAIL"}, reasons={"kl": "-1 off: case 1"}, expected=["kl", "z"]),
               grade.Report("notes.txt", "not a notebook", detail="not an .ipynb file (listed, not graded)")]
    header, rows = grade.table(reports)
    assert header == ["submission", "status", "score", "passed", "exercises", "kl", "kl reason", "z", "z reason",
                      "detail"]
    assert rows[0] == ["a.ipynb", "ok", "0.500", "1", "2", "PASS", "", "MISSING", "no checker ran", ""]
    assert rows[1] == ["=b.ipynb", "ok", "0.000", "0", "2", "FAIL", "-1 off: case 1", "-", "", ""]
    assert rows[2] == ["notes.txt", "not a notebook", "", "0", "0", "-", "", "-", "",
                       "not an .ipynb file (listed, not graded)"]
    assert [grade.csv_cell(x) for x in rows[1]][:7] == ["'=b.ipynb", "ok", "0.000", "0", "2", "FAIL", "'-1 off: case 1"]
    text = grade.format_table(header, rows)
    assert text.splitlines()[0].split() == ["submission", "status", "score", "kl", "z"]
    assert "a.ipynb, z: no checker ran" in text and "notes.txt: not an .ipynb file" in text


def test_which_course_notebook_a_submission_is():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("**Student edition.**"), nbformat.v4.new_markdown_cell("# 04 · Title")]
    assert course_number(nb, "03_kl_divergence.ipynb") == "03"
    assert course_number(nb, "alice.ipynb") == "04"
    assert course_number(nbformat.v4.new_notebook(), "alice.ipynb") is None
    assert exercises_of_notebook(None) == []
    names = exercises_of_notebook("03")
    assert names[0] == "gaussian_kl"  # in the order of the solved notebook's checker cells


def test_other_files_in_a_folder_are_listed(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden").write_text("x")
    (tmp_path / "a.ipynb").write_text("{}")
    assert [p.name for p in grade.submissions([tmp_path])] == ["a.ipynb"]
    assert [p.name for p in grade.submissions([tmp_path], others=True)] == ["a.ipynb", "notes.txt"]
    reports = grade.grade_all([tmp_path], csv_path=None)
    assert [(r.name, r.status, r.detail) for r in reports] == [
        ("a.ipynb", "not a notebook", reports[0].detail), ("notes.txt", "not a notebook",
                                                           "not an .ipynb file (listed, not graded)")]
