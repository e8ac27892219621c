"""Issue 14: what exported HTML (``jupyter nbconvert --to html``, nbviewer) shows of the stored notebooks' widgets.

A renderer without a kernel builds each displayed widget from the notebook's saved widget state. So, for every widget
output of every notebook: each model it refers to is in the state (no dangling ``IPY_MODEL_`` reference), none needs
code that such a renderer lacks (the anywidget layers the live explorer draws with are stored as the kernel's
pictures, ``vae_course.views.stored_as_stills``), and every image it shows holds a PNG.
"""
import base64
import json

import nbformat
import pytest

from vae_course.teaching import course_notebooks, execute_notebook
from vae_course.views.live import _refs

VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"


def _shown(state: dict, model_id: str, seen: set) -> None:
    """Every model below ``model_id`` (itself included), added to ``seen``; fails on a reference that is missing."""
    if model_id in seen:
        return
    assert model_id in state, f"the stored state lacks model {model_id}, which a displayed widget refers to"
    seen.add(model_id)
    for ref in _refs(state[model_id].get("state", {})):
        _shown(state, ref[len("IPY_MODEL_"):], seen)


def check_stored_views(nb) -> int:
    """Assert the module docstring's three rules for ``nb``; returns how many images the widget outputs show."""
    state = nb.metadata.get("widgets", {}).get(STATE, {}).get("state", {})
    images = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            view = out.get("data", {}).get(VIEW)
            if not view:
                continue
            seen = set()
            _shown(state, view["model_id"], seen)
            for model_id in seen:
                entry = state[model_id]
                assert entry["model_module"] != "anywidget", \
                    f"model {model_id} needs anywidget's code: stored_as_stills should have replaced it"
                if entry["model_name"] == "ImageModel":
                    values = [b for b in entry.get("buffers", []) if b.get("path") == ["value"]]
                    assert values and base64.b64decode(values[0]["data"])[:8] == b"\x89PNG\r\n\x1a\n", \
                        f"image {model_id} of a displayed widget holds no PNG"
                    images += 1
    return images


@pytest.mark.parametrize("path", course_notebooks(), ids=lambda p: p.stem[:2])
def test_stored_widgets_render_without_a_kernel(path):
    check_stored_views(nbformat.read(path, as_version=4))


def test_the_explorer_notebook_stores_its_pictures():
    nb = nbformat.read(next(p for p in course_notebooks() if p.name.startswith("06_")), as_version=4)
    assert check_stored_views(nb) >= 10


def test_execute_stores_the_live_layers_as_pictures(tmp_path):
    """A freshly executed explorer: its digit and ring layers are stored as the kernel's PNGs, under their own ids."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import torch\nfrom vae_course.models import VAE\nfrom vae_course.views import latent_explorer\n"
        "torch.manual_seed(0)\n"
        "ex = latent_explorer(VAE(), torch.rand(32, 1, 28, 28), torch.randint(0, 10, (32,)))\nex"),
        nbformat.v4.new_code_cell("print(ex.live.model_id, ex.live_marker.model_id)")]
    path = tmp_path / "01_live.ipynb"
    nbformat.write(nb, path)
    execute_notebook(path, quick=True)
    out = nbformat.read(path, as_version=4)
    digit, marker = out.cells[1].outputs[0]["text"].split()
    state = out.metadata["widgets"][STATE]["state"]
    assert state[digit]["model_name"] == state[marker]["model_name"] == "ImageModel"
    assert "vae-explorer-image" in state[digit]["state"]["_dom_classes"]
    assert check_stored_views(out) >= 3  # the digit, the scatter and its ring
    assert "anywidget" not in json.dumps(out.metadata["widgets"])
