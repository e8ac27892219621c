import io

import ipywidgets as W
import numpy as np
import pytest
import torch
from PIL import Image

from vae_course.latent_space import axis_plane, pca_plane
from vae_course.models import VAE
from vae_course.widgets import digit_encoder, digit_png, interpolation_explorer, latent_explorer


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return VAE()


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g)


def png_size(data: bytes):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(data)).size


def test_setting_a_slider_changes_the_image(model, data):
    ex = latent_explorer(model, *data)
    assert len(ex.sliders) == 2 and all(type(s) is W.FloatSlider for s in ex.sliders)
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


def test_digit_encoder_position_matches_encode(model, data):
    images, labels = data
    enc = digit_encoder(model, images, labels, index=3)
    mu, logvar = model.encode(images[3:4])
    assert torch.allclose(enc.mu, mu[0].detach()) and torch.allclose(enc.logvar, logvar[0].detach())
    assert torch.allclose(enc.position, mu[0].detach())
    before = (enc.original.value, enc.reconstruction.value, enc.scatter.value)
    enc.index.value = 10
    assert torch.allclose(enc.mu, model.encode(images[10:11])[0][0].detach())
    assert all(a != b for a, b in zip(before, (enc.original.value, enc.reconstruction.value, enc.scatter.value)))
    assert f"digit <b>{int(labels[10])}</b>" in enc.info.value


def test_interpolation_explorer_endpoints(model, data):
    images, labels = data
    it = interpolation_explorer(model, images, labels, start=2, end=7)
    mu = model.encode(images)[0].detach()
    assert torch.equal(it.z, it.z0) and torch.allclose(it.z0, mu[2])
    before = it.image.value
    it.t.value = 1.0
    assert torch.equal(it.z, it.z1) and torch.allclose(it.z1, mu[7]) and it.image.value != before
    it.end.value = 9
    assert torch.allclose(it.z, mu[9])


def test_bad_input_gives_clear_errors(model, data):
    images, labels = data
    with pytest.raises(TypeError, match="expected a course VAE"):
        latent_explorer(torch.nn.Linear(2, 784))
    with pytest.raises(ValueError, match="limit=0"):
        latent_explorer(model, limit=0)
    with pytest.raises(ValueError, match="one label per image"):
        latent_explorer(model, images, labels[:3])
    with pytest.raises(ValueError, match=r"float MNIST images"):
        latent_explorer(model, torch.rand(4, 10))
    with pytest.raises(ValueError, match="latent space is 2-D"):
        latent_explorer(model, plane=axis_plane(5))
    with pytest.raises(ValueError, match="pass plane="):
        digit_encoder(VAE(latent_dim=3), images)
    with pytest.raises(ValueError, match="index=64"):
        digit_encoder(model, images, index=64)
    with pytest.raises(ValueError, match="end=-1"):
        interpolation_explorer(model, images, end=-1)
    ex = latent_explorer(model)
    with pytest.raises(ValueError, match="expected 2 coordinates"):
        ex.set_coords([1.0, 2.0, 3.0])


def test_digit_png_scale():
    png = digit_png(torch.zeros(1, 1, 28, 28), scale=3)
    assert png_size(png) == (84, 84)


def test_views_of_a_larger_latent_space(data):
    torch.manual_seed(2)
    model = VAE(latent_dim=5)
    images, labels = data
    mu, logvar = model.encode(images)
    plane = pca_plane(mu.detach(), 2)
    enc = digit_encoder(model, images, labels, plane=plane, index=1)
    assert torch.allclose(enc.position, plane.project(mu[1:2].detach())[0], atol=1e-6)
    assert "..." in enc.info.value  # 5 entries of mu, only the first 4 shown
    it = interpolation_explorer(model, images, labels, start=0, end=1)
    assert it.scatter is None  # no 2-D picture of a 5-D space without a plane
    it.t.value = 0.5
    assert torch.allclose(it.z, (mu[0] + mu[1]).detach() / 2, atol=1e-6)


def test_digit_png_refuses_a_batch():
    with pytest.raises(ValueError, match="ONE image"):
        digit_png(torch.zeros(2, 1, 28, 28))


def test_marker_layer_sits_on_the_scatter(model, data):
    ex = latent_explorer(model, *data)
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


def test_close_forgets_every_widget_of_the_view(model, data):
    from ipywidgets.widgets.widget import _instances  # the registry whose state a notebook stores

    before = set(_instances)
    ex = latent_explorer(model, *data)
    assert len(set(_instances) - before) > 10
    ex.close()
    assert set(_instances) - before == set()  # nothing of it is left to be stored in the notebook


def test_digit_png_accepts_a_flat_image_and_rejects_two():
    import torch

    from vae_course.widgets import digit_png

    assert digit_png(torch.rand(784))[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="ONE image"):
        digit_png(torch.rand(2, 28, 28))


def test_explorer_rejects_nan_coordinates():
    import torch

    from vae_course.models import VAE
    from vae_course.widgets import latent_explorer

    torch.manual_seed(0)
    ex = latent_explorer(VAE())
    with pytest.raises(ValueError, match="finite"):
        ex.set_coords([float("nan"), 0.0])
    ex.close()
