import io

import ipywidgets as W
import numpy as np
import pytest
import torch
from PIL import Image

from vae_course.views import digit_png, latent_explorer


def png_size(data: bytes):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(data)).size


def test_digit_png_scale():
    png = digit_png(torch.zeros(1, 1, 28, 28), scale=3)
    assert png_size(png) == (84, 84)


def test_digit_png_refuses_a_batch():
    with pytest.raises(ValueError, match="ONE image"):
        digit_png(torch.zeros(2, 1, 28, 28))


def test_marker_layer_sits_on_the_scatter(model, data):
    ex = latent_explorer(model, *data, live=False)  # the kernel's marker layer in the tree (tests/widgets/test_live.py)
    grid = ex.scatter_view
    assert isinstance(grid, W.GridBox) and grid.children[1] is ex.scatter
    assert grid.children[0].layout.grid_area == ex.scatter.layout.grid_area  # same cell: the layer covers the scatter
    layer = Image.open(io.BytesIO(ex.scatter.value))
    assert layer.size == (ex.canvas.width, ex.canvas.height) and "transparency" in layer.info
    ex.sliders[0].value = 2.0
    ex.sliders[1].value = -1.0
    picture = np.array(ex.canvas.composite(ex.scatter.value)).astype(int)  # (H, W, 3)
    px, py = ex.canvas.to_pixels([2.0, -1.0]).round().astype(int)
    ring = picture[py - 9:py + 10, px - 9:px + 10]
    assert (ring.max(axis=2) < 40).sum() > 20  # the black ring is drawn where z = (2, -1) is on the scatter's axes
    far = picture[py - 9:py + 10, px - 60:px - 41] if px > 70 else picture[py - 9:py + 10, px + 41:px + 60]
    assert (far.max(axis=2) < 40).sum() < 5


def test_digit_png_accepts_a_flat_image_and_rejects_two():
    import torch

    from vae_course.views import digit_png

    assert digit_png(torch.rand(784))[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="ONE image"):
        digit_png(torch.rand(2, 28, 28))


# --- issue 13: digit_png's scale is checked ------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [0, -1, 2.5, "7", True, 10**6])
def test_digit_png_checks_its_scale(scale):
    with pytest.raises(ValueError, match="^scale="):
        digit_png(torch.rand(28, 28), scale)
