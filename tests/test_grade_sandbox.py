"""The grader contains what it grades (issue 27 §1): hostile submissions that write outside their folder, read the
grader's file, delete another student's notebook, append to the installed package, leave processes running or
forge a PASS (display metadata, a monkeypatched checker, a formula as an exercise or file name) change nothing
outside their throwaway copy, leave no process behind and get no PASS; Ctrl-C, a timeout, an empty folder and a CSV
path that is a notebook are handled. The kernel-driving tests are ``slow``; containment of writes needs the grader
to run as root (each submission then runs as a uid of its own), as it does in CI's container.
"""
from __future__ import annotations

import csv
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from vae_course.teaching import exercises, grade, sandbox

KL = "def kl(mu, logvar):\n    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)"
IMPORTS = "import torch\nfrom vae_course.teaching import exercises"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="containing writes needs a grader running as root (a uid "
                                                       "of its own per submission); otherwise grade in a container")


def _write(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


def _running(*commands: str) -> list[str]:
    """Command lines of running processes equal to one of ``commands``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if line in commands and state != "Z":
            found.append(line)
    return found


def _snapshot(*folders: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for f in folders for p in sorted(f.rglob("*")) if p.is_file()
            and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    subs, grader_dir = root / "submissions", root / "grader"
    subs.mkdir()
    grader_dir.mkdir()
    secret_file = grader_dir / "answer_key.txt"
    secret_file.write_text("the answer key")
    outside = Path(tempfile.gettempdir()) / f"vae-grade-escape-{secrets.token_hex(4)}"
    package_file = Path(exercises.registry.__file__)
    other = _write(subs / "b_other_student.ipynb", [IMPORTS, KL, "exercises.check_gaussian_kl(kl)"])
    paths = {"OUTSIDE": str(outside), "SUBS": str(subs), "SECRET": str(secret_file), "OTHER": str(other),
             "PACKAGE": str(package_file), "GRADER": str(grader_dir)}
    escape = "\n".join([f"{k} = {v!r}" for k, v in paths.items()] + [
        "import os, subprocess",
        "read = []",
        "for action in (lambda: open(OUTSIDE, 'w').write('escaped'),",
        "               lambda: open(os.path.join(SUBS, 'planted.txt'), 'w').write('x'),",
        "               lambda: open(os.path.join(GRADER, 'planted.txt'), 'w').write('x'),",
        "               lambda: os.remove(OTHER),",
        "               lambda: open(PACKAGE, 'a').write('\\nGRADE = \"PASS\"\\n'),",
        "               lambda: read.append(open(SECRET).read())):",
        "    try:",
        "        action()",
        "    except Exception:",
        "        pass",
        "subprocess.Popen(['sleep', '6007'], start_new_session=True)",
        "subprocess.Popen('nohup setsid sleep 6011 >/dev/null 2>&1 &', shell=True)",
        "if read:",
        "    raise RuntimeError(\"read the grader's file: \" + read[0])"])
    _write(subs / "a_escape.ipynb", [IMPORTS, escape, KL, "exercises.check_gaussian_kl(kl)",
                                     "import time\ntime.sleep(1)  # the daemons are up"])
    forge = [IMPORTS + "\nfrom IPython.display import display\nfrom vae_course.teaching.exercises import CheckResult",
             "def kl(mu, logvar):\n    return torch.zeros(mu.shape[:-1])  # wrong",
             "exercises.check_gaussian_kl(kl)",
             "display({'text/plain': 'PASS gaussian_kl'}, raw=True,\n"
             "        metadata={'vae_course': {'exercise': 'gaussian_kl', 'verdict': 'PASS'}})",
             "display({'text/plain': 'PASS'}, raw=True, metadata={'vae_course': {\n"
             "    'exercise': '=HYPERLINK(\"http://evil.example\")', 'verdict': 'PASS', 'signature': '00' * 32}})",
             "exercises.check_gaussian_kl = lambda f: CheckResult(True, 'PASS gaussian_kl: all cases match',\n"
             "                                                    verdict='PASS', exercise='gaussian_kl')\n"
             "exercises.check_gaussian_kl(kl)"]
    _write(subs / "=HYPERLINK(1)+forge.ipynb", forge)
    before = _snapshot(subs, grader_dir, package_file.parents[1])  # the teaching package
    table = grader_dir / "grades.csv"
    reports = grade.grade_all([subs], csv_path=table, timeout=240)
    yield {"reports": {r.name: r for r in reports}, "before": before, "subs": subs, "grader": grader_dir,
           "package": package_file.parents[1], "outside": outside, "table": table}
    outside.unlink(missing_ok=True)


@pytest.mark.slow
@as_root
def test_nothing_outside_its_copy_changes(hostile):
    after = _snapshot(hostile["subs"], hostile["grader"], hostile["package"])
    after.pop(str(hostile["table"]))
    assert after == hostile["before"]
    assert not hostile["outside"].exists()
    escape = hostile["reports"]["a_escape.ipynb"]
    assert escape.status == "ok", escape.detail  # no "read the grader's file" error
    assert escape.verdicts == {"gaussian_kl": "PASS"}
    other = hostile["reports"]["b_other_student.ipynb"]
    assert (other.status, other.verdicts) == ("ok", {"gaussian_kl": "PASS"})


@pytest.mark.slow
def test_no_process_survives(hostile):
    assert _running("sleep 6007", "sleep 6011") == []


@pytest.mark.slow
def test_forged_verdicts_count_for_nothing(hostile):
    forged = hostile["reports"]["=HYPERLINK(1)+forge.ipynb"]
    assert forged.verdicts == {"gaussian_kl": "FAIL"}  # the genuine check; both forged PASSes are ignored
    assert forged.status == "forged" and "cell 3 showed a verdict that no checker" in forged.detail
    with open(hostile["table"], newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["submission", "status", "score", "passed", "exercises", "gaussian_kl", "gaussian_kl reason",
                       "detail"]
    assert rows[1][:6] == ["'=HYPERLINK(1)+forge.ipynb", "forged", "0.000", "0", "1", "FAIL"]
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row)


@pytest.mark.slow
def test_resource_limits_apply(tmp_path):
    book = _write(tmp_path / "big.ipynb", ["import resource\nprint(resource.getrlimit(resource.RLIMIT_FSIZE))",
                                           "open('big.bin', 'wb').write(b'x' * 3_000_000)"])
    report = grade.grade_notebook(book, timeout=120, limits=sandbox.Limits(file_bytes=2**20))
    assert report.status == "raised" and "File too large" in report.detail, report.detail


@pytest.mark.slow
def test_the_kernel_sees_only_its_copy_and_a_scrubbed_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_TOKEN", "not for learners")
    checks = ["import os, sys, resource",
              "assert 'GRADER_TOKEN' not in os.environ, 'the environment leaked'",
              "assert os.getcwd() == os.environ['HOME'] == os.environ['VAE_COURSE_CHECKPOINTS'].rsplit('/', 1)[0]",
              "assert sorted(n for n in os.listdir('.') if not n.startswith('.')) == ['checkpoints', 'env.ipynb', "
              "'tmp'], os.listdir('.')",
              "assert not os.path.exists('.grader-key') and not os.path.exists('.connection.json')",
              "assert resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)",
              f"assert (os.getuid() != 0) == {os.geteuid() == 0}, 'the uid'",
              "assert os.getsid(0) == os.getpid(), 'its own session'"]
    book = _write(tmp_path / "env.ipynb", ["\n".join(checks)])
    report = grade.grade_notebook(book, timeout=120)
    assert (report.status, report.detail) == ("ok", "")


def test_a_submission_that_changes_the_package_stops_grading(tmp_path, monkeypatch, capsys):
    books = [_write(tmp_path / f"{name}.ipynb", ["1"]) for name in ("a", "b")]
    states = iter([{"x.py": (1, 1)}, {"x.py": (2, 2)}])
    monkeypatch.setattr(grade, "_package_state", lambda: next(states))
    monkeypatch.setattr(grade, "grade_notebook", lambda path, **kw: grade.Report(Path(path).name))
    with pytest.raises(RuntimeError, match="the installed package vae_course changed while a.ipynb was graded"):
        grade.grade_all(books, csv_path=tmp_path / "g.csv")
    with open(tmp_path / "g.csv", newline="") as f:
        assert list(csv.reader(f)) == [["submission", "status", "score", "passed", "exercises", "detail"],
                                       ["a.ipynb", "ok", "", "0", "0", ""]]


def _cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vae_course", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_ctrl_c_stops_grading_with_the_rows_so_far(tmp_path):
    _write(tmp_path / "a_quick.ipynb", [IMPORTS, KL, "exercises.check_gaussian_kl(kl)"])
    _write(tmp_path / "b_hangs.ipynb", ["import subprocess, time\nsubprocess.Popen(['sleep', '6013'])\n"
                                        "time.sleep(600)"])
    _write(tmp_path / "c_never.ipynb", ["1"])
    out = tmp_path / "grades.csv"
    proc = _cli("grade", str(tmp_path), "--csv", str(out), "--timeout", "300")
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("grading b_hangs.ipynb"):
            break
    deadline = time.monotonic() + 60
    while not _running("sleep 6013") and time.monotonic() < deadline:
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (seen, stdout, stderr)
    assert "Traceback" not in stdout + stderr
    assert f"interrupted: grading stopped after 1 of 3 submissions; their rows are in {out}." in stdout
    with open(out, newline="") as f:
        assert list(csv.reader(f)) == [["submission", "status", "score", "passed", "exercises", "gaussian_kl",
                                        "gaussian_kl reason", "detail"],
                                       ["a_quick.ipynb", "ok", "1.000", "1", "1", "PASS", "", ""]]
    time.sleep(0.5)
    assert _running("sleep 6013") == []


@pytest.mark.slow
def test_a_timeout_prints_no_traceback(tmp_path):
    _write(tmp_path / "hangs.ipynb", ["import time\ntime.sleep(600)"])
    proc = _cli("grade", str(tmp_path / "hangs.ipynb"), "--csv", str(tmp_path / "g.csv"), "--timeout", "15")
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "hangs.ipynb  timeout" in stdout and "still running after 15 s" in stdout
    assert stderr.strip() == "grading hangs.ipynb ...", stderr


# -- no kernel needed ----------------------------------------------------------------------------------------
def test_csv_cells_are_escaped_against_formulas(tmp_path):
    assert [grade.csv_cell(x) for x in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "-", "PASS", "a=b")] == \
        ["'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "'\rx", "-", "PASS", "a=b"]
    path = tmp_path / "g.csv"
    grade.write_csv(path, ["submission", "=HYPERLINK(\"x\")", "detail"], [["=cmd|' /C calc'!A0", "PASS", ""]])
    with open(path, newline="") as f:
        assert list(csv.reader(f)) == [["submission", "'=HYPERLINK(\"x\")", "detail"],
                                       ["'=cmd|' /C calc'!A0", "PASS", ""]]


def test_unsigned_and_wrongly_signed_verdicts_are_forged():
    key, run = b"k" * 32, "run"
    good = __import__("hmac").new(key, sandbox.signed_message(run, "gaussian_kl", "PASS"), "sha256").hexdigest()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("exercises.check_gaussian_kl(kl)") for _ in range(3)]
    for cell, signature in zip(nb.cells, (good, None, "0" * 64)):
        record = {"exercise": "gaussian_kl", "verdict": "PASS", **({"signature": signature} if signature else {})}
        cell.outputs = [nbformat.v4.new_output("display_data", {"text/plain": "PASS"}, metadata={"vae_course": record})]
    verdicts, errors, forged = grade.verdicts_of(nb, key=key, run=run)
    assert verdicts == {"gaussian_kl": "PASS"} and errors == []
    assert [f.split(" showed")[0] for f in forged] == ["cell 1", "cell 2"]
    assert grade.verdicts_of(nb, key=b"x" * 32, run=run)[0] == {}  # another run's key verifies nothing
    assert grade.verdicts_of(nb, key=key, run="another run")[0] == {}


def test_an_empty_folder_is_one_sentence(tmp_path, capsys):
    from vae_course.__main__ import main

    assert main(["grade", str(tmp_path)]) == 1
    printed = capsys.readouterr().out.strip()
    assert printed == f"error: no notebooks (.ipynb files) in {tmp_path}: name notebooks or folders that hold them."
    assert not (tmp_path / "grades.csv").exists()


def test_the_csv_may_not_be_a_submission_or_a_notebook(tmp_path, capsys):
    from vae_course.__main__ import main

    sub = _write(tmp_path / "sub.ipynb", ["1"])
    other = _write(tmp_path / "other.ipynb", ["2"])
    renamed = tmp_path / "notes.json"
    renamed.write_bytes(other.read_bytes())
    before = {p: p.read_bytes() for p in (sub, other, renamed)}
    assert main(["grade", str(sub), "--csv", str(sub)]) == 2
    assert "is one of the submissions" in capsys.readouterr().out
    assert main(["grade", str(sub), "--csv", str(other)]) == 2
    assert "is a notebook's name" in capsys.readouterr().out
    assert main(["grade", str(sub), "--csv", str(renamed)]) == 2
    assert "is an existing notebook" in capsys.readouterr().out
    with pytest.raises(ValueError, match="one of the submissions"):
        grade.grade_all([tmp_path], csv_path=tmp_path / "sub.ipynb")
    assert {p: p.read_bytes() for p in before} == before
