import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vae_course.evaluation import Plane, axis_plane, normal_quantiles  # noqa: E402
from vae_course.models import VAE  # noqa: E402
from vae_course.views import (decode_codes, latent_scatter, manifold_grid, posterior_ellipses, show_strip,  # noqa: E402
                              traversal_grid)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return VAE()


def test_latent_scatter_colours_by_label():
    pts = torch.tensor([[0.0, 0.0], [1.0, -1.0], [2.0, 2.0]])
    ax = latent_scatter(pts, torch.tensor([0, 1, 9]), limit=3)
    offsets = ax.collections[0].get_offsets()
    assert np.allclose(offsets, pts.numpy())
    assert ax.get_xlim() == (-3, 3) and ax.get_title()
    assert list(ax.collections[0].get_array()) == [0, 1, 9]
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        latent_scatter(torch.zeros(3, 20))
    with pytest.raises(ValueError, match="one label per point"):
        latent_scatter(pts, torch.tensor([0, 1]))


def test_manifold_grid_decodes_the_quantile_grid(model):
    ax = manifold_grid(model, n=5)
    img = ax.images[0].get_array()
    assert img.shape == (140, 140)
    with torch.no_grad():
        top_left = model.decode(torch.stack([normal_quantiles(5)[0], normal_quantiles(5)[-1]]).unsqueeze(0))
    assert np.allclose(img[:28, :28], top_left[0, 0].numpy(), atol=1e-6)  # top-left: z1 smallest, z2 largest
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{q:.2f}" for q in normal_quantiles(5).tolist()]
    assert len(manifold_grid(model, n=20).get_xticklabels()) == 5  # first, last and three between
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "1.28"  # z2 = icdf(0.9) at the top
    with pytest.raises(ValueError, match="pass plane="):
        manifold_grid(VAE(latent_dim=4), n=3)
    manifold_grid(VAE(latent_dim=4), n=3, plane=axis_plane(4, (0, 2)))


def test_traversal_and_strip(model):
    ax = traversal_grid(model, values=[-1.0, 0.0, 1.0])
    assert ax.images[0].get_array().shape == (2 + 2 * 30, 2 + 3 * 30)  # 2 directions x 3 values, padding 2
    codes = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    imgs = decode_codes(model, codes)
    assert imgs.shape == (2, 1, 28, 28) and imgs.min() >= 0 and imgs.max() <= 1
    ax = show_strip(imgs, captions=["a", "b"], title="t")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    with pytest.raises(ValueError, match="captions"):
        show_strip(imgs, captions=["a"])
    with pytest.raises(ValueError, match="6-D"):
        traversal_grid(model, plane=axis_plane(6))


def test_posterior_ellipses_draws_rings_and_mean():
    _, ax = plt.subplots()
    posterior_ellipses(ax, torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0]), ks=(1.0, 2.0))
    ring1, ring2, centre = ax.lines
    r1 = np.hypot(*(ring1.get_xydata() - [1, 2]).T)
    r2 = np.hypot(*(ring2.get_xydata() - [1, 2]).T)
    assert np.allclose(r1, 1, atol=1e-5) and np.allclose(r2, 2, atol=1e-5)
    assert np.allclose(centre.get_xydata(), [[1, 2]])
    plane = Plane(torch.zeros(3), torch.eye(3)[:2], torch.ones(2))
    posterior_ellipses(ax, torch.zeros(3), torch.zeros(3), plane=plane)


def test_manifold_grid_with_own_values(model):
    ax = manifold_grid(model, values=[-2.0, 0.0, 2.0])
    img = ax.images[0].get_array()
    assert img.shape == (84, 84)
    with torch.no_grad():
        bottom_right = model.decode(torch.tensor([[2.0, -2.0]]))
    assert np.allclose(img[56:, 56:], bottom_right[0, 0].numpy(), atol=1e-6)
    assert "evenly spaced" in ax.get_xlabel()
