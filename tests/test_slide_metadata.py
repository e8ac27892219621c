"""Every course notebook carries the slide convention in its cells (python -m vae_course tag-slides writes it)."""
import copy

import nbformat
import pytest

from vae_course.teaching import course_notebooks
from vae_course.teaching import slides


@pytest.mark.parametrize("path", course_notebooks(), ids=lambda p: p.stem)
def test_the_notebook_follows_the_slide_convention(path):
    nb = nbformat.read(path, as_version=4)
    assert slides.tag_slides(copy.deepcopy(nb)) == 0, (
        f"{path.name}: some cells' slide types stray from the convention: run `python -m vae_course tag-slides "
        f"{path.relative_to(path.parent.parent)}` (or tag a cell `slide-manual` to keep your own)")
