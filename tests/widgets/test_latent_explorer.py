import io

import ipywidgets as W
import numpy as np
import pytest
import torch
from PIL import Image

from vae_course.evaluation import axis_plane, pca_plane
from vae_course.models import VAE
from vae_course.views import latent_explorer


def png_size(data: bytes):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(data)).size


def test_setting_a_slider_changes_the_image(model, data):
    ex = latent_explorer(model, *data)
    assert len(ex.sliders) == 2 and all(isinstance(s, W.FloatSlider) for s in ex.sliders)
    assert isinstance(ex.image, W.Image) and png_size(ex.image.value) == (196, 196)
    before, scatter_before = ex.image.value, ex.scatter.value
    ex.sliders[0].value = 1.5
    assert ex.image.value != before and ex.scatter.value != scatter_before
    with torch.no_grad():
        want = model.decode(torch.tensor([[1.5, 0.0]]))
    shown = torch.from_numpy(np.array(Image.open(io.BytesIO(ex.image.value)))).float()  # (196, 196)
    shown = shown[::7, ::7] / 255  # undo the 7x nearest-neighbour upscaling
    assert torch.allclose(shown, want[0, 0], atol=1 / 255 + 1e-6)
    assert torch.allclose(ex.z, torch.tensor([1.5, 0.0]))


def test_css_classes_and_display(model, data):
    ex = latent_explorer(model, *data)
    assert "vae-latent-explorer" in ex.widget._dom_classes
    assert "vae-explorer-image" in ex.image._dom_classes
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    other = latent_explorer(model, css_class="vae-latent-explorer-pca")
    assert "vae-explorer-image" not in other.image._dom_classes and other.scatter is None


def test_set_z_show_image_and_buttons(model, data):
    images, labels = data
    ex = latent_explorer(model, images, labels, limit=4.0)
    mu = ex.show_image(images[5])
    assert torch.allclose(mu, model.encode(images[5:6])[0][0].detach())
    assert torch.allclose(ex.z, mu.clamp(-4, 4), atol=0.025 + 1e-6)  # rounded to the 0.05 step of the sliders
    for s in ex.sliders:  # on the step grid, so the browser's slider shows it unchanged and sends nothing back
        assert abs(s.value / 0.05 - round(s.value / 0.05)) < 1e-6
    ex.set_z(torch.tensor([9.0, -9.0]))  # clamped to the slider range
    assert [s.value for s in ex.sliders] == [4.0, -4.0]
    ex.reset_button.click()
    assert [s.value for s in ex.sliders] == [0.0, 0.0]
    ex.random_button.click()
    assert any(s.value != 0 for s in ex.sliders)
    n = len(ex.timings)
    ex.sliders[1].value = 0.25
    assert len(ex.timings) == n + 1 and ex.latency_ms()["n"] == n + 1


def test_plane_explorer_for_a_larger_latent_space(data):
    torch.manual_seed(1)
    model = VAE(latent_dim=6)
    images, labels = data
    mu = model.encode(images)[0].detach()
    plane = pca_plane(mu, 2)
    ex = latent_explorer(model, images, labels, plane=plane, css_class="vae-latent-explorer-pca")
    assert [s.description for s in ex.sliders] == ["c1", "c2"]
    ex.sliders[1].value = 1.0
    assert torch.allclose(ex.z, plane.origin + plane.basis[1], atol=1e-6)
    every = latent_explorer(model, images, labels)  # no plane: one slider per latent dimension
    assert [s.description for s in every.sliders] == [f"z{i}" for i in range(1, 7)]
    before = every.image.value
    every.sliders[5].value = 1.5
    assert every.image.value != before and torch.allclose(every.z, torch.tensor([0, 0, 0, 0, 0, 1.5]))
    four = latent_explorer(model, plane=axis_plane(6, range(4)), names=["z1", "z2", "z3", "z4"])
    before = four.image.value
    four.sliders[3].value = -2.0
    assert four.image.value != before and torch.allclose(four.z, torch.tensor([0, 0, 0, -2.0, 0, 0]))


def test_explorer_rejects_nan_coordinates():
    import torch

    from vae_course.models import VAE
    from vae_course.views import latent_explorer

    torch.manual_seed(0)
    ex = latent_explorer(VAE())
    with pytest.raises(ValueError, match="finite"):
        ex.set_coords([float("nan"), 0.0])
    ex.close()


# --- issue 13: a NaN slider value snaps back to the last finite one --------------------------------------------------
def test_a_nan_slider_value_snaps_back_to_the_last_finite_one():
    ex = latent_explorer(VAE())
    ex.sliders[0].value = 1.0
    shown = ex.image.value
    ex.sliders[0].value = float("nan")
    assert ex.sliders[0].value == 1.0 and ex.image.value == shown and torch.isfinite(ex.z).all()


def test_the_explorer_checks_its_scale():
    with pytest.raises(ValueError, match="^scale=0 "):
        latent_explorer(VAE(), scale=0)


# --- issue 10: without limit=, the window holds at least 99% of the images' posterior means --------------------------
class SpreadVAE(VAE):
    """A VAE whose posterior means are spread far beyond the prior's [-3, 3]: mu = 12 * (first two pixels - 1/2)."""

    def encode(self, x):
        mu, logvar = super().encode(x)
        return 12 * (x.reshape(x.shape[0], -1)[:, :2] - 0.5), logvar


def test_default_window_holds_99_percent_of_the_means_and_the_twins_share_it(data):
    from vae_course.evaluation import encode_means
    from vae_course.views import digit_encoder, interpolation_explorer

    images, labels = data
    torch.manual_seed(0)
    model = SpreadVAE()
    mu, _ = encode_means(model, images)
    reach = mu.abs().amax(1)  # (64,) each mean's largest |coordinate|, up to 6
    assert (reach > 3).float().mean() > 0.3  # the old fixed [-3, 3] would hide a third of them
    ex = latent_explorer(model, images, labels)
    lim = ex.limit
    assert (reach <= lim).float().mean() >= 0.99 and (reach <= lim - 0.5).float().mean() < 0.99
    assert lim % 0.5 == 0 and lim > 3
    assert all(s.min == -lim and s.max == lim for s in ex.sliders) and ex.canvas.limit == lim
    assert digit_encoder(model, images, labels).limit == lim  # the static views use the same window
    assert interpolation_explorer(model, images, labels).limit == lim
    ex.set_coords([lim, -lim])  # the window's corner is a slider position
    assert torch.allclose(ex.z, torch.tensor([lim, -lim]))
    assert latent_explorer(model, images, labels, limit=4.0).limit == 4.0  # an explicit limit still wins
    assert latent_explorer(model).limit == 3.0  # no images: the prior's [-3, 3]


def test_default_window_of_a_plane_is_measured_in_its_coordinates(data):
    images, labels = data
    torch.manual_seed(0)
    model = SpreadVAE()
    mu = model.encode(images)[0].detach()
    plane = pca_plane(mu, 2)  # origin at the mean code: the coordinates are centred
    ex = latent_explorer(model, images, labels, plane=plane)
    reach = plane.project(mu).abs().amax(1)
    assert (reach <= ex.limit).float().mean() >= 0.99 and (reach <= ex.limit - 0.5).float().mean() < 0.99
