import nbformat

from vae_course.teaching import course_notebooks, execute_notebook


def test_execute_in_place_top_to_bottom_and_mode(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from vae_course import config\nprint(config.mode_name())"),
                nbformat.v4.new_code_cell("import os\nprint(os.environ['PYTHONHASHSEED'], os.getcwd() == %r)"
                                          % str(tmp_path))]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="stale\n")]
    path = tmp_path / "01_demo.ipynb"
    nbformat.write(nb, path)
    seconds = execute_notebook(path, quick=True)
    out = nbformat.read(path, as_version=4)
    assert seconds > 0
    assert [c.execution_count for c in out.cells] == [1, 2]
    assert out.cells[0].outputs[0]["text"] == "quick\n"
    assert out.cells[1].outputs[0]["text"] == "0 True\n"
    assert "execution" not in out.cells[0].metadata
    assert course_notebooks(tmp_path) == [path]


# ------------------------------------------------------------------------------------- nothing lost (issue 27 §2)
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vae_course.teaching import execute as ex
from vae_course.teaching.notebook_io import NotebookError, read_notebook, write_notebook_atomically

REPO = Path(__file__).resolve().parent.parent


def notebook(path, *sources, stale="old output\n"):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text=stale)]
    nbformat.write(nb, path)
    return path.read_bytes()


def run_cli(*args, cwd, timeout=120):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "vae_course", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_ctrl_c_leaves_the_notebook_as_it_was_and_exits_130(tmp_path):
    """Ctrl-C reaches the command (the cell sends SIGINT to its parent, as a terminal would): the file keeps its old
    bytes, with no partial outputs and no KeyboardInterrupt in it, and the command says one line and exits 130."""
    path = tmp_path / "01_demo.ipynb"
    before = notebook(path, "print('first')", "import os, signal, time\nos.kill(os.getppid(), signal.SIGINT)\n"
                                              "time.sleep(20)", "print('never')")
    done = run_cli("execute", "--quick", str(path), cwd=tmp_path)
    assert done.returncode == 130, done.stdout + done.stderr
    assert path.read_bytes() == before
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [f"error: interrupted while executing {path}; it was left as it was (no outputs written)."]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_an_interrupted_write_leaves_the_old_notebook(tmp_path, monkeypatch):
    """Ctrl-C while the executed notebook is being written (half of it on disk): the old file is intact."""
    path = tmp_path / "01_demo.ipynb"
    before = notebook(path, "print(1)")

    def half_then_ctrl_c(nb, fp, *args, **kwargs):
        if isinstance(fp, (str, os.PathLike)):
            fp = open(fp, "w", encoding="utf-8")  # noqa: SIM115 - left open, as an interrupted write leaves it
        fp.write("{\n \"cells\": [")
        fp.flush()
        raise KeyboardInterrupt

    monkeypatch.setattr(nbformat, "write", half_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        execute_notebook(path, quick=True)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_kernel_error_in_a_cell_is_still_written_with_the_error(tmp_path):
    path = tmp_path / "01_demo.ipynb"
    notebook(path, "print('ran')", "1 / 0")
    from nbclient.exceptions import CellExecutionError

    with pytest.raises(CellExecutionError):
        execute_notebook(path, quick=True)
    out = nbformat.read(path, as_version=4)
    assert out.cells[0].outputs[0]["text"] == "ran\n" and out.cells[1].outputs[0]["ename"] == "ZeroDivisionError"


def test_timeout_stops_a_cell_and_leaves_the_file(tmp_path, capsys):
    path = tmp_path / "01_demo.ipynb"
    before = notebook(path, "print('quick')", "import time\ntime.sleep(60)")
    start = time.perf_counter()
    status = ex.main([str(path)], quick=True, timeout=3)
    out = capsys.readouterr().out
    assert status == 1 and time.perf_counter() - start < 45
    assert "ran longer than 3 s" in out and "--timeout" in out and "Traceback" not in out
    assert path.read_bytes() == before


def test_execute_has_a_timeout_option():
    from vae_course.__main__ import build_parser

    args = build_parser().parse_args(["execute", "--timeout", "5", "x.ipynb"])
    assert args.timeout == 5.0
    assert build_parser().parse_args(["execute"]).timeout == 1800.0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["execute", "--timeout", "0"])
    with pytest.raises(ValueError, match="timeout"):
        execute_notebook("x.ipynb", timeout=-1)


def test_a_read_only_notebook_is_refused_before_anything_runs(tmp_path, monkeypatch, capsys):
    """Checked first: the cell that would leave a mark never runs (root can write anything, so os.access is told the
    file is read-only, as it is for a learner)."""
    path = tmp_path / "01_demo.ipynb"
    mark = tmp_path / "ran"
    before = notebook(path, f"open({str(mark)!r}, 'w').close()")
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == path and mode == os.W_OK
                        else real(p, mode, **kw))
    status = ex.main([str(path)], quick=True)
    out = capsys.readouterr().out
    assert status == 1 and not mark.exists() and path.read_bytes() == before
    assert f"{path} is read-only" in out and "chmod u+w" in out and "nothing was run" in out


@pytest.mark.parametrize("content, says", [
    ("{not json", "not valid JSON"),
    ("just some text\n", "not valid JSON"),
    ('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', "has no cells"),
    ("[1, 2]", "not a notebook"),
    ('{"cells": [{"cell_type": "code"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', "not a valid notebook"),
])
def test_a_broken_notebook_is_one_sentence(tmp_path, content, says):
    path = tmp_path / "01_demo.ipynb"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(NotebookError, match=says) as info:
        read_notebook(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value) and "Traceback" not in str(info.value)
    assert path.read_text(encoding="utf-8") == content
