"""Issue 14: every view's static twin (a picture of its widgets now) and the PNG fallback in its display bundle."""
import base64
import io

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from vae_course.views import as_array
from vae_course.views import digit_encoder, latent_explorer


def contains(big: np.ndarray, small: np.ndarray) -> bool:
    """Whether ``small`` (h, w, 3) appears pixel for pixel somewhere in ``big``."""
    h, w = small.shape[:2]
    for y in range(big.shape[0] - h + 1):
        windows = sliding_window_view(big[y], (w, 3))[:, 0]  # (W - w + 1, w, 3): every place in row y
        for x in np.flatnonzero((windows == small[0]).all(axis=(1, 2))):
            if np.array_equal(big[y:y + h, x:x + w], small):
                return True
    return False


def test_the_snapshot_shows_the_digit_and_the_scatter_with_its_marker(model, data):
    ex = latent_explorer(model, *data)
    ex.set_coords([1.5, -1.0])
    picture = as_array(ex.snapshot_png())
    digit = np.array(Image.open(io.BytesIO(ex.image.value)).convert("RGB"))
    scatter = np.array(ex.canvas.composite(ex.scatter.value))
    assert contains(picture, digit) and contains(picture, scatter)
    before = ex.snapshot_png()
    ex.set_coords([-2.0, 2.0])
    assert ex.snapshot_png() != before  # the picture follows the view
    assert ex.snapshot().data == ex.snapshot_png()


def test_the_display_bundle_carries_the_picture_next_to_the_widget(model, data):
    enc = digit_encoder(model, *data)
    bundle = enc._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "text/plain" in bundle
    png = base64.b64decode(bundle["image/png"])
    assert png == enc.snapshot_png() and Image.open(io.BytesIO(png)).size[0] > enc.canvas.width


def test_hidden_widgets_are_left_out_of_the_picture(model, data):
    enc = digit_encoder(model, *data)
    closed = as_array(enc.snapshot_png())
    enc.sample_toggle.value = True
    opened = as_array(enc.snapshot_png())
    assert opened.shape[0] > closed.shape[0] + 50  # the strip of decoded samples is in the picture once shown
