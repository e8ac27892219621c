"""Issue 14: the explorer's sample toggle and the digit encoder's draws from q(z|x)."""
import io
import math

import ipywidgets as W
import numpy as np
import pytest
import torch
from PIL import Image

from vae_course.views import digit_encoder, digit_png, digits_row_png, latent_explorer


def _pixels(png: bytes) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(png)))


def test_sample_toggle_shows_binary_samples_fresh_on_each_update(model, data):
    ex = latent_explorer(model, *data)
    assert isinstance(ex.sample_toggle, (W.ToggleButton, W.Checkbox)) and ex.sample_toggle.value is False
    ex.sample_toggle.value = True
    assert "sample" in ex.image_title.value
    first = ex.image.value
    assert set(np.unique(_pixels(first)).tolist()) <= {0, 255}  # binary pixels in the picture
    assert set(ex.shown.unique().tolist()) <= {0.0, 1.0}
    ex.sliders[0].value = 0.5
    second = ex.image.value
    ex.refresh()  # the same z again: a fresh sample
    assert second != first and ex.image.value != second
    assert set(np.unique(_pixels(ex.image.value)).tolist()) <= {0, 255}


def test_mean_mode_shows_exactly_decode_z(model, data):
    ex = latent_explorer(model, *data)
    ex.sample_toggle.value = True
    ex.sample_toggle.value = False
    ex.set_coords([1.25, -0.5])
    with torch.inference_mode():
        want = model.decode(ex.z.unsqueeze(0))
    assert torch.equal(ex.shown, want) and ex.image.value == digit_png(want, ex.scale)
    assert "mean" in ex.image_title.value


def test_the_samples_are_bernoulli_with_the_decoded_mean(model, data):
    ex = latent_explorer(model, *data)
    ex.set_coords([0.5, 0.5])
    with torch.inference_mode():
        mean = model.decode(ex.z.unsqueeze(0))[0, 0]  # (28, 28)
    ex.sample_toggle.value = True
    n = 300
    total = torch.zeros(28, 28)
    for _ in range(n):
        ex.refresh()
        total += ex.shown[0, 0]
    freq = total / n
    se = (mean * (1 - mean) / n).sqrt().clamp(min=1e-3)
    z = ((freq - mean) / se).abs()
    assert z.max() < 5.5 and (z > 3).float().mean() < 0.02  # each pixel's frequency: its mean, within the noise


def test_the_digit_encoder_draws_codes_from_q_inside_its_ellipses(model, data):
    images, labels = data
    enc = digit_encoder(model, images, labels, index=3, n_samples=6)
    assert enc.samples is None and enc.sample_box.layout.display == "none"
    enc.sample_toggle.value = True
    assert enc.samples.shape == (6, 2) and enc.sample_box.layout.display is None
    assert torch.allclose(enc.sample_positions, enc.samples)  # the 2-D model's own plane
    with torch.inference_mode():
        decoded = model.decode(enc.samples)
    assert enc.sample_strip.value == digits_row_png(decoded, scale=2)
    layer = np.array(Image.open(io.BytesIO(enc.scatter.value)).convert("RGBA"))
    for x, y in np.rint(enc.canvas.to_pixels(enc.sample_positions.numpy())).astype(int):
        assert tuple(layer[y, x, :3]) == (214, 39, 40)  # a red dot at every sample
    first = enc.samples.clone()
    enc.resample_button.click()
    assert not torch.equal(first, enc.samples)  # fresh draws
    # the draws are N(mu, diag sigma^2): 1 - exp(-k^2/2) of them inside the k-sigma ellipse (39.3%, 86.5%)
    z = enc.draw_samples(4000)
    r2 = ((z - enc.mu) ** 2 / enc.logvar.exp()).sum(1)
    for k in (1.0, 2.0):
        p = 1 - math.exp(-k * k / 2)
        share = (r2 <= k * k).float().mean().item()
        assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / 4000), (k, share, p)
    enc.sample_toggle.value = False
    assert enc.samples is None and enc.sample_box.layout.display == "none"


def test_the_digit_encoder_checks_n_samples(model, data):
    with pytest.raises(ValueError, match="^n_samples=0"):
        digit_encoder(model, data[0], n_samples=0)
