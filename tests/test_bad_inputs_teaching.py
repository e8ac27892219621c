"""The teaching commands on broken notebooks (issue 27 §3): invalid JSON, plain text, no cells, JSON that is not a
notebook, a read-only notebook for ``tag-slides``, and ``VAE_COURSE_VENDOR`` naming a file. Each gets exit status 1
and one ``error:`` sentence on stderr that names the file, checked before the command reads or writes anything."""
import os
from pathlib import Path

import pytest

from .test_bad_inputs import LEAKS, one_sentence_problem

BROKEN = {
    "invalid-json": ("{not json", "not valid JSON"),
    "plain-text": ("some notes, not a notebook\n", "not valid JSON"),
    "no-cells": ('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', "has no cells"),
    "a-list": ("[1, 2, 3]", "not a notebook"),
}
COMMANDS = {
    "student-edition": lambda tmp, nb: ["student-edition", str(tmp / "out"), str(nb)],
    "slides": lambda tmp, nb: ["slides", str(tmp / "out"), str(nb)],
    "tag-slides": lambda tmp, nb: ["tag-slides", str(nb)],
    "tag-slides --check": lambda tmp, nb: ["tag-slides", "--check", str(nb)],
    "site": lambda tmp, nb: ["site", str(tmp / "out"), "--notebooks", str(nb.parent)],
}


def run(argv, capsys):
    from vae_course.__main__ import main

    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def check_line(output: str, *names: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), output
    line = lines[-1][len("error: "):]
    assert one_sentence_problem(line) is None, line
    assert not [leak for leak in LEAKS if leak in output], output
    for name in names:
        assert name in line, line


@pytest.mark.parametrize("broken", sorted(BROKEN))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_broken_notebook_is_one_sentence(tmp_path, capsys, command, broken):
    content, says = BROKEN[broken]
    nb = tmp_path / "nbs" / "01_demo.ipynb"
    nb.parent.mkdir()
    nb.write_text(content, encoding="utf-8")
    status, output = run(COMMANDS[command](tmp_path, nb), capsys)
    assert status == 1, output
    check_line(output, str(nb), says)
    assert nb.read_text(encoding="utf-8") == content and not (tmp_path / "out").exists()


def test_tag_slides_on_a_read_only_notebook_is_refused_first(tmp_path, capsys, monkeypatch):
    import nbformat

    nb = tmp_path / "01_demo.ipynb"
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_markdown_cell("# Title")]
    nbformat.write(book, nb)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == nb and mode == os.W_OK
                        else real(p, mode, **kw))  # as for a learner (root may write anything)
    status, output = run(["tag-slides", str(nb)], capsys)
    assert status == 1
    check_line(output, str(nb), "read-only")


@pytest.mark.parametrize("command", ["site", "slides"])
def test_vendor_pointing_at_a_file_names_the_variable_not_out_dir(tmp_path, capsys, monkeypatch, command):
    vendor = tmp_path / "vendor"
    vendor.write_text("not a folder")
    monkeypatch.setenv("VAE_COURSE_VENDOR", str(vendor))
    status, output = run([command, str(tmp_path / "out")], capsys)
    assert status == 1
    check_line(output, "VAE_COURSE_VENDOR", str(vendor))
    assert "OUT_DIR" not in output and not (tmp_path / "out").exists()
