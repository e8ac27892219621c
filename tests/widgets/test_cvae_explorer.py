import io

import ipywidgets as W
import numpy as np
import pytest
import torch
from PIL import Image

from vae_course.models import CVAE
from vae_course.views import cvae_explorer, digit_png


def _model(latent=2):
    torch.manual_seed(0)
    return CVAE(latent_dim=latent)


def _pixels(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return np.array(Image.open(io.BytesIO(png)))


def test_the_explorer_draws_with_digit_png():  # cvae_widgets.image_png was a copy of digit_png
    img = torch.zeros(1, 28, 28)
    img[0, 3, 5] = 1.0
    a = _pixels(digit_png(img, scale=2))
    assert a.shape == (56, 56) and a[6, 10] == 255 and a[0, 0] == 0
    with pytest.raises(ValueError):
        digit_png(torch.zeros(2, 1, 28, 28))


def test_explorer_label_and_sliders_change_the_image():
    m = _model()
    ex = cvae_explorer(m)
    assert isinstance(ex.label, W.ToggleButtons) and ex.label.options == tuple(range(10))
    assert len(ex.sliders) == 2 and all(isinstance(s, W.FloatSlider) for s in ex.sliders)
    assert isinstance(ex.image, W.Image) and _pixels(ex.image.value).shape == (196, 196)
    first = ex.image.value
    ex.label.value = 7
    after_label = ex.image.value
    assert after_label != first
    ex.sliders[1].value = 2.0
    assert ex.image.value != after_label
    shown = torch.from_numpy(_pixels(ex.image.value)[::7, ::7].astype(np.float32)) / 255  # (28, 28)
    with torch.no_grad():
        want = m.decode(torch.tensor([[0.0, 2.0]]), torch.tensor([7]))[0, 0]
    assert (shown - want).abs().max() < 1 / 255 + 1e-6
    with pytest.raises(TypeError):
        cvae_explorer(__import__("vae_course.models", fromlist=["VAE"]).VAE())


def test_the_explorer_is_a_view_it_times_updates_and_closes():
    from ipywidgets.widgets.widget import _instances  # the registry whose state a notebook stores

    before = set(_instances)
    ex = cvae_explorer(_model())
    n = len(ex.timings)
    ex.sliders[0].value = 0.5
    assert len(ex.timings) == n + 1 and ex.latency_ms()["n"] == n + 1
    assert len(set(_instances) - before) > 3
    ex.close()
    assert set(_instances) - before == set()


# --- issue 14: where z sits among the chosen digit's codes ---------------------------------------------------------
def test_the_per_class_scatter_shows_that_digits_codes_and_z(data):
    images, labels = data
    m = _model()
    ex = cvae_explorer(m, images, labels)
    assert ex.scatter is not None and ex.scatter_view.children[1] is ex.live_marker  # the page's ring ...
    assert ex.live_marker.still is ex.scatter  # ... over the kernel's marker layer, which the test reads
    for c in (0, 3):
        idx = (labels == c).nonzero().flatten()
        with torch.no_grad():
            want = m.encode(images[idx], labels[idx])[0]
        assert torch.allclose(ex.codes[c], want)
    background = ex.scatter_view.children[0]
    first = background.value
    ex.label.value = 3
    assert background.value == ex.canvas.background_png != first and "3s" in ex.canvas._style[0]
    ex.sliders[0].value, ex.sliders[1].value = 1.5, -1.0
    picture = np.array(ex.canvas.composite(ex.scatter.value))
    x, y = ex.canvas.to_pixels([1.5, -1.0])
    assert tuple(picture[int(round(y)), int(round(x + 6))]) == (0, 0, 0)  # the black ring around z
    n = len(ex.timings)
    ex.sliders[0].value = 0.5
    assert len(ex.timings) == n + 1
    with pytest.raises(ValueError, match="labels"):
        cvae_explorer(m, images)
