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
