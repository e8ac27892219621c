import math

import pytest
import torch

from vae_course.evaluation import (Plane, axis_plane, check_model, encode_means, interpolate, normal_quantile_grid,
                                    normal_quantiles, pca_plane, sigma_ellipse)
from vae_course.models import VAE


def test_interpolate_endpoints_exact_and_midpoint():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(5, generator=g), torch.randn(5, generator=g)
    assert torch.equal(interpolate(z0, z1, 0), z0) and torch.equal(interpolate(z0, z1, 1.0), z1)
    assert torch.allclose(interpolate(z0, z1, 0.5), (z0 + z1) / 2)
    path = interpolate(z0, z1, torch.linspace(0, 1, 7))  # (7, 5)
    assert path.shape == (7, 5) and torch.equal(path[0], z0) and torch.equal(path[-1], z1)
    steps = path.diff(dim=0).norm(dim=1)
    assert torch.allclose(steps, steps[0].expand_as(steps), atol=1e-5)  # evenly spaced on a straight line


def test_interpolate_bad_input():
    z = torch.zeros(2)
    with pytest.raises(ValueError, match="same shape"):
        interpolate(z, torch.zeros(3), 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        interpolate(z, z, 1.5)
    with pytest.raises(TypeError, match="torch tensors"):
        interpolate([0, 0], z, 0.5)


def test_normal_quantiles_and_grid():
    q = normal_quantiles(4)
    want = [torch.distributions.Normal(0, 1).icdf(torch.tensor(p)).item() for p in (0.125, 0.375, 0.625, 0.875)]
    assert torch.allclose(q, torch.tensor(want), atol=1e-6)
    assert torch.allclose(q, -q.flip(0), atol=1e-6)  # symmetric
    grid = normal_quantile_grid(3)  # (9, 2): rows read like an image, z2 largest at the top
    assert grid.shape == (9, 2)
    assert torch.allclose(grid[:3, 1], normal_quantiles(3)[2].expand(3))
    assert torch.allclose(grid[0::3, 0], normal_quantiles(3)[0].expand(3))
    with pytest.raises(ValueError, match="positive whole number"):
        normal_quantiles(0)


def test_encode_means_matches_model_encode():
    torch.manual_seed(0)
    model = VAE(latent_dim=3)
    x = torch.rand(10, 1, 28, 28)
    mu, logvar = encode_means(model, x, batch_size=4)
    want_mu, want_lv = model.encode(x)
    assert mu.shape == (10, 3) and not mu.requires_grad
    assert torch.allclose(mu, want_mu, atol=1e-6) and torch.allclose(logvar, want_lv, atol=1e-6)
    with pytest.raises(TypeError, match="course VAE"):
        encode_means(torch.nn.Linear(2, 2), x)
    with pytest.raises(ValueError, match="non-empty"):
        encode_means(model, torch.zeros(0, 784))


def test_check_model_rejects_non_vae():
    with pytest.raises(TypeError, match="expected a course VAE"):
        check_model("not a model")


def test_pca_plane_finds_main_directions():
    g = torch.Generator().manual_seed(1)
    pts = torch.randn(2000, 4, generator=g) * torch.tensor([5.0, 0.1, 2.0, 0.1]) + 3.0
    plane = pca_plane(pts, k=2)
    assert torch.allclose(plane.basis @ plane.basis.T, torch.eye(2), atol=1e-5)  # orthonormal
    assert torch.allclose(plane.basis.abs(), torch.tensor([[1.0, 0, 0, 0], [0, 0, 1.0, 0]]), atol=0.05)
    assert (plane.basis.max(dim=1).values > 0).all()  # sign convention
    assert torch.allclose(plane.origin, pts.mean(0), atol=1e-4)
    assert plane.explained[0] > plane.explained[1] > 0 and plane.explained.sum() <= 1
    coords = plane.project(pts)
    assert coords.shape == (2000, 2) and torch.allclose(coords.mean(0), torch.zeros(2), atol=1e-3)
    with pytest.raises(ValueError, match="between 1 and 4"):
        pca_plane(pts, k=5)


def test_axis_plane_and_lift_project_roundtrip():
    plane = axis_plane(5, (1, 3))
    c = torch.tensor([[0.5, -2.0]])
    z = plane.lift(c)
    assert torch.equal(z, torch.tensor([[0.0, 0.5, 0.0, -2.0, 0.0]]))
    assert torch.equal(plane.project(z), c)
    with pytest.raises(ValueError, match="distinct axes"):
        axis_plane(2, (0, 2))


def test_sigma_ellipse_axes():
    mu, logvar = torch.tensor([1.0, -1.0]), torch.tensor([math.log(4.0), 0.0])
    pts = sigma_ellipse(mu, logvar, k=2.0, n=400)  # half-axes 2*2 and 2*1
    d = pts - mu
    assert torch.allclose((d[:, 0] / 4) ** 2 + (d[:, 1] / 2) ** 2, torch.ones(400), atol=1e-4)
    # seen through a rotated plane of a 3-D space, the ellipse still has the projected covariance
    plane = Plane(torch.zeros(3), torch.tensor([[0.6, 0.8, 0.0], [0.0, 0.0, 1.0]]), torch.ones(2))
    e = sigma_ellipse(torch.zeros(3), torch.log(torch.tensor([1.0, 4.0, 9.0])), 1.0, plane=plane, n=8)
    var1 = 0.36 * 1 + 0.64 * 4
    assert math.isclose(e[:, 0].abs().max().item(), math.sqrt(var1), rel_tol=0.05)
    with pytest.raises(ValueError, match="2-D plane"):
        sigma_ellipse(torch.zeros(3), torch.zeros(3))


def test_value_grid():
    from vae_course.evaluation import value_grid

    g = value_grid([-1.0, 1.0])
    assert torch.equal(g, torch.tensor([[-1.0, 1.0], [1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]]))
    with pytest.raises(ValueError, match="1-D"):
        value_grid([[1.0]])
