"""The student edition: solution regions become stubs, answer cells go, outputs are cleared."""
import nbformat
import pytest

from vae_course.teaching import student_edition as se

SOLVED = '''def gaussian_kl(mu, logvar):
    """KL per row."""
    ### BEGIN SOLUTION
    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)
    ### END SOLUTION'''


def test_strip_keeps_the_skeleton_and_stubs_the_region():
    out = se.strip_solutions(SOLVED)
    assert out.splitlines() == ['def gaussian_kl(mu, logvar):', '    """KL per row."""',
                                f'    {se.STUB}']
    namespace = {}
    exec(out, namespace)
    with pytest.raises(NotImplementedError):
        namespace["gaussian_kl"](0, 0)


def test_strip_without_markers_is_the_identity():
    assert se.strip_solutions("x = 1\ny = 2") == "x = 1\ny = 2"


@pytest.mark.parametrize("bad", ["### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION",
                                 "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"])
def test_unbalanced_markers_are_refused(bad):
    with pytest.raises(se.SolutionMarkerError, match="cell"):
        se.strip_solutions(bad)


def test_student_notebook_drops_answers_and_outputs():
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell(SOLVED)
    code.outputs = [nbformat.v4.new_output("stream", text="PASS\n")]
    code.execution_count = 3
    answer = nbformat.v4.new_markdown_cell("**Answers.** 1. Because ...")
    answer.metadata["tags"] = ["answer"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), code, answer]
    nb.metadata["widgets"] = {"state": {}}
    student = se.student_notebook(nb)
    assert [c.cell_type for c in student.cells] == ["markdown", "markdown", "code"]
    assert "Student edition" in student.cells[0].source
    assert student.cells[2].outputs == [] and student.cells[2].execution_count is None
    assert "BEGIN SOLUTION" not in student.cells[2].source and se.STUB in student.cells[2].source
    assert "widgets" not in student.metadata
    assert nb.cells[1].outputs, "the source notebook is not modified"
    nbformat.validate(student)


def test_build_writes_every_course_notebook(tmp_path):
    from vae_course.teaching import course_notebooks

    written = se.build(tmp_path)
    assert [p.name for p in written] == [p.name for p in course_notebooks()]
    for path in written:
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
        assert not any("answer" in c.metadata.get("tags", []) for c in nb.cells)
        assert not any(se.BEGIN in c.source for c in nb.cells)


def test_regions_outside_functions_keep_the_cell_running():
    src = ("my_prediction = None  # your guess\n### BEGIN SOLUTION\nmy_prediction = 45.0\n### END SOLUTION\n"
           "if True:\n    value = 0\n    ### BEGIN SOLUTION\n    value = 3\n    ### END SOLUTION\n"
           "class Model:\n    def forward(self, x):\n        y = x\n        ### BEGIN SOLUTION\n        return 2 * y\n"
           "        ### END SOLUTION")
    out = se.strip_solutions(src)
    assert "45.0" not in out and "value = 3" not in out and "2 * y" not in out
    namespace = {}
    exec(out, namespace)  # the top-level regions do not raise
    assert namespace["my_prediction"] is None and namespace["value"] == 0
    with pytest.raises(NotImplementedError):
        namespace["Model"]().forward(1)
    assert out.splitlines()[1] == se.TOP_LEVEL_STUB
    assert out.splitlines()[4] == f"    pass  {se.TOP_LEVEL_STUB}"


def test_markdown_regions_are_replaced():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("Why?\n### BEGIN SOLUTION\nBecause KL >= 0.\n### END SOLUTION")]
    student = se.student_notebook(nb)
    assert student.cells[1].source == f"Why?\n{se.MARKDOWN_STUB}"


def test_build_refuses_to_overwrite_the_solved_notebooks(tmp_path):
    from vae_course.teaching import course_notebooks

    source = course_notebooks()[0]
    with pytest.raises(OSError, match="solved notebook"):
        se.build(source.parent, [source])
    with pytest.raises(OSError, match="no notebook"):
        se.build(tmp_path, [tmp_path / "missing.ipynb"])


def test_the_cli_builds_the_edition(tmp_path, capsys):
    from vae_course.__main__ import main
    from vae_course.teaching import course_notebooks

    source = course_notebooks()[3]
    assert main(["student-edition", str(tmp_path / "out"), str(source)]) == 0
    assert capsys.readouterr().out == f"wrote 1 student notebook to {tmp_path / 'out'}\n"
    nb = nbformat.read(tmp_path / "out" / source.name, as_version=4)
    assert nb.cells[0].metadata["tags"] == ["student-edition"]
    bad = tmp_path / "bad.ipynb"
    broken = nbformat.v4.new_notebook()
    broken.cells = [nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1")]
    nbformat.write(broken, bad)
    assert main(["student-edition", str(tmp_path / "out2"), str(bad)]) == 1
    assert "bad.ipynb, cell 0" in capsys.readouterr().out


def test_nbgrader_source_marks_every_solution_cell():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SOLVED), nbformat.v4.new_code_cell("x = 1")]
    marked = se.nbgrader_source(nb)
    meta = marked.cells[0].metadata["nbgrader"]
    assert meta["solution"] is True and meta["grade"] is False and meta["grade_id"].startswith("solution-")
    assert "nbgrader" not in marked.cells[1].metadata and "nbgrader" not in nb.cells[0].metadata
    nbformat.validate(marked)
