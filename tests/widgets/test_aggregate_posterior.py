"""Issue 14: the aggregate posterior q(z) on a grid, the prior's holes, and the explorer's layer that shows them."""
import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from vae_course.evaluation import (aggregate_posterior_grid, axis_plane, encode_means, log_aggregate_posterior,
                                    prior_hole_mass)
from vae_course.views import latent_explorer


def test_the_explorers_layer_integrates_to_about_one_over_its_grid(model, data):
    ex = latent_explorer(model, *data)
    grid = ex.aggregate_grid()
    mass = float(grid.density.sum()) * grid.cell_area
    assert abs(mass - 1) < 0.02, mass  # q's mass inside the explorer's square, which holds the codes
    assert grid.density.shape == (121, 121) and float(grid.xs[-1]) < ex.limit


def test_one_gaussian_gives_its_exact_box_mass_and_the_mean_over_images_is_taken():
    mu, logvar = torch.tensor([[0.5, -0.25]]), torch.log(torch.tensor([[0.36, 0.16]]))
    grid = aggregate_posterior_grid(mu, logvar, limit=1.5, n=200)
    exact = 1.0
    for m, s in ((0.5, 0.6), (-0.25, 0.4)):
        exact *= 0.5 * (math.erf((1.5 - m) / (s * math.sqrt(2))) - math.erf((-1.5 - m) / (s * math.sqrt(2))))
    assert float(grid.density.sum()) * grid.cell_area == pytest.approx(exact, abs=2e-4)
    box = math.erf(1.5 / math.sqrt(2)) ** 2  # the prior's mass in [-1.5, 1.5]^2
    assert float(grid.prior.sum()) * grid.cell_area == pytest.approx(box, abs=2e-4)
    many = aggregate_posterior_grid(mu.repeat(5, 1), logvar.repeat(5, 1), limit=1.5, n=200)
    assert torch.allclose(many.density, grid.density, rtol=1e-5)  # a mean over the images, not a sum


def test_the_grid_is_the_density_at_each_cell_centre():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(7, 2, generator=g), 0.3 * torch.randn(7, 2, generator=g)
    grid = aggregate_posterior_grid(mu, logvar, limit=3.0, n=31)
    r, c = 5, 20
    z = torch.tensor([[float(grid.xs[c]), float(grid.ys[r])]])
    assert float(grid.density[r, c]) == pytest.approx(log_aggregate_posterior(z, mu, logvar).exp().item(), rel=1e-5)


def test_a_plane_of_a_larger_space_shows_the_marginal():
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(20, 4, generator=g), 0.2 * torch.randn(20, 4, generator=g)
    in_plane = aggregate_posterior_grid(mu, logvar, 3.0, n=40, plane=axis_plane(4, (1, 3)))
    direct = aggregate_posterior_grid(mu[:, [1, 3]], logvar[:, [1, 3]], 3.0, n=40)
    assert torch.allclose(in_plane.density, direct.density, rtol=1e-5, atol=1e-9)
    with pytest.raises(ValueError, match="pass plane="):
        aggregate_posterior_grid(mu, logvar, 3.0)


def test_prior_hole_mass_is_zero_one_and_the_exact_share_of_a_narrow_q():
    zeros = torch.zeros(10, 2)
    assert prior_hole_mass(zeros, zeros).mass == 0.0  # q = p: no holes
    assert prior_hole_mass(zeros + 10, zeros).mass == 1.0  # q far away: all of the prior is a hole
    # q = N(0, s^2 I): q/p < f where |z|^2 > r^2 = (-2 log s - log f) / (1/(2 s^2) - 1/2), prior mass exp(-r^2/2)
    s, f = 0.5, 0.1
    r2 = (-2 * math.log(s) - math.log(f)) / (1 / (2 * s * s) - 0.5)
    est = prior_hole_mass(zeros[:1], torch.full((1, 2), 2 * math.log(s)), fraction=f, draws=20000)
    assert abs(est.mass - math.exp(-r2 / 2)) < 4 * est.stderr and est.draws == 20000
    assert prior_hole_mass(zeros[:1], torch.full((1, 2), 2 * math.log(s)), seed=3).mass != \
        prior_hole_mass(zeros[:1], torch.full((1, 2), 2 * math.log(s)), seed=4).mass  # the seed matters


def test_prior_hole_mass_rejects_bad_input():
    with pytest.raises(ValueError, match="fraction=0"):
        prior_hole_mass(torch.zeros(3, 2), torch.zeros(3, 2), fraction=0)
    with pytest.raises(ValueError, match="same shape"):
        prior_hole_mass(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="finite"):
        prior_hole_mass(torch.full((3, 2), math.nan), torch.zeros(3, 2))


def test_the_layer_toggle_swaps_the_background_and_keeps_the_geometry(model, data):
    ex = latent_explorer(model, *data)
    background = ex.canvas.background_widget
    assert ex.layer_toggle.options == ("codes", "q(z) vs N(0, I)") and background.value == ex.canvas.background_png
    ex.layer_toggle.value = "q(z) vs N(0, I)"
    layer = background.value
    assert layer[:8] == b"\x89PNG\r\n\x1a\n" and layer != ex.canvas.background_png
    assert Image.open(io.BytesIO(layer)).size == (ex.canvas.width, ex.canvas.height)
    ex.layer_toggle.value = "codes"
    assert background.value == ex.canvas.background_png
    # the other background puts a data point at the same pixel as the marker layer does
    png = ex.canvas.alternate_background(lambda ax: ax.plot([1.0], [-2.0], "s", color="k", ms=6), title="probe")
    x, y = np.rint(ex.canvas.to_pixels([1.0, -2.0])).astype(int)
    assert np.array(Image.open(io.BytesIO(png)).convert("L"))[y, x] < 40


def test_the_hole_mass_of_a_trained_looking_model_is_between_0_and_1(model, data):
    mu, logvar = encode_means(model, data[0])
    h = prior_hole_mass(mu, logvar, draws=500)
    assert 0 <= h.mass <= 1 and h.stderr == pytest.approx(math.sqrt(h.mass * (1 - h.mass) / 500))
    assert np.isfinite(h.stderr)


def test_the_fast_axis_plane_grid_equals_the_general_one_and_a_tilted_plane_is_exact():
    from vae_course.evaluation import Plane
    from vae_course.evaluation.latent_space import _correlated_density, _separable_density

    g = torch.Generator().manual_seed(3)
    mu, logvar = torch.randn(50, 2, generator=g, dtype=torch.float64), 0.4 * torch.randn(50, 2, generator=g,
                                                                                         dtype=torch.float64)
    xs = torch.linspace(-2.9, 2.9, 30, dtype=torch.float64)
    cy, cx = torch.meshgrid(xs, xs, indexing="ij")
    points = torch.stack([cx.reshape(-1), cy.reshape(-1)], dim=1)
    var = logvar.exp()
    fast = _separable_density(xs, mu, var[:, 0], var[:, 1])
    slow = _correlated_density(points, mu, var[:, 0], torch.zeros(50, dtype=torch.float64), var[:, 1], 16)
    torch.testing.assert_close(fast, slow.reshape(30, 30), rtol=1e-12, atol=1e-15)
    # a tilted plane of a 3-D space: each q(z|x_i) has a correlated 2x2 covariance there (the general path)
    mu3, logvar3 = torch.randn(9, 3, generator=g), 0.3 * torch.randn(9, 3, generator=g)
    basis = torch.linalg.qr(torch.randn(3, 2, generator=g))[0].T  # (2, 3) orthonormal rows
    grid = aggregate_posterior_grid(mu3, logvar3, 3.0, n=25, plane=Plane(torch.zeros(3), basis, torch.ones(2)))
    r, c = 7, 15
    # the marginal in the plane of N(mu, diag var) is N(P mu, P diag(var) P^T): compare with torch.distributions
    var3 = logvar3.exp().double()
    covs = torch.einsum("ad,nd,bd->nab", basis.double(), var3, basis.double())  # (9, 2, 2)
    q = torch.distributions.MultivariateNormal(mu3.double() @ basis.double().T, covariance_matrix=covs)
    point = torch.tensor([float(grid.xs[c]), float(grid.ys[r])], dtype=torch.float64)
    want = q.log_prob(point).exp().mean().item()
    assert float(grid.density[r, c]) == pytest.approx(want, rel=1e-5)
