"""student-edition, site and slides write only into an empty folder or one the same command wrote before (its
marker file), unless --force (issue 27 §2): a learner's edited notebook or someone's index.html is never overwritten.
"""
from __future__ import annotations

import pytest

from vae_course.teaching import NOTEBOOK_DIR, output_folder

SOURCE = NOTEBOOK_DIR / "04_reparameterization.ipynb"


def test_claim_allows_new_empty_and_own_folders(tmp_path):
    new = tmp_path / "a" / "b"
    assert output_folder.claim_output_folder(new, "site") is None and output_folder.output_marker(new, "site").is_file()
    assert output_folder.claim_output_folder(new, "site") is None  # its own folder again
    problem = output_folder.claim_output_folder(new, "slides")  # another command's folder is not its own
    assert problem and "already holds files that slides did not write (.vae_course-site)" in problem
    empty = tmp_path / "empty"
    empty.mkdir()
    assert output_folder.claim_output_folder(empty, "slides") is None


def test_claim_refuses_foreign_files_unless_forced(tmp_path):
    (tmp_path / "index.html").write_text("my page")
    problem = output_folder.claim_output_folder(tmp_path, "site")
    assert problem == (f"{tmp_path} already holds files that site did not write (index.html): choose an empty or "
                       f"new folder, or add --force to write over them")
    assert not output_folder.output_marker(tmp_path, "site").exists()
    assert output_folder.claim_output_folder(tmp_path, "site", force=True) is None
    afile = tmp_path / "index.html"
    assert output_folder.claim_output_folder(afile, "site").startswith(f"{afile} is a file, not a folder")


@pytest.mark.parametrize("command", ["student-edition", "site", "slides"])
def test_the_commands_keep_foreign_files(command, tmp_path, capsys):
    from vae_course.__main__ import main

    out = tmp_path / "out"
    out.mkdir()
    mine = out / SOURCE.name if command == "student-edition" else out / "index.html"
    mine.write_text("a learner's own edits")
    args = {"student-edition": [str(SOURCE)], "site": ["--notebooks", str(NOTEBOOK_DIR)],
            "slides": [str(SOURCE)]}[command]
    assert main([command, str(out), *args]) == 1
    captured = capsys.readouterr()
    assert f"error: {out} already holds files that {command} did not write" in captured.out + captured.err
    assert mine.read_text() == "a learner's own edits" and sorted(p.name for p in out.iterdir()) == [mine.name]


def test_student_edition_rewrites_its_own_folder_and_force_overwrites(tmp_path, capsys):
    from vae_course.__main__ import main

    out = tmp_path / "out"
    assert main(["student-edition", str(out), str(SOURCE)]) == 0
    assert main(["student-edition", str(out), str(SOURCE)]) == 0  # its own folder: written again
    other = tmp_path / "other"
    other.mkdir()
    (other / SOURCE.name).write_text("edited")
    assert main(["student-edition", str(other), str(SOURCE), "--force"]) == 0
    assert (other / SOURCE.name).read_text() != "edited"
