import pytest
import torch

from vae_course.evaluation import axis_plane, pca_plane
from vae_course.models import VAE
from vae_course.views import digit_encoder, interpolation_explorer, latent_explorer


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


def test_close_forgets_every_widget_of_the_view(model, data):
    from ipywidgets.widgets.widget import _instances  # the registry whose state a notebook stores

    before = set(_instances)
    ex = latent_explorer(model, *data)
    assert len(set(_instances) - before) > 10
    ex.close()
    assert set(_instances) - before == set()  # nothing of it is left to be stored in the notebook


# --- issue 10: the views' default window holds 99% of the images' posterior means -----------------------------------
def test_covering_limit_is_the_smallest_multiple_holding_the_share():
    from vae_course.views import covering_limit

    inside = torch.linspace(-1.2, 1.2, 990).reshape(495, 2)  # 495 rows, every |coordinate| <= 1.2
    far = torch.full((5, 2), 7.0)
    assert covering_limit(torch.cat([inside, far]), floor=0) == 1.5  # 495 of 500 = 99% inside [-1.5, 1.5]^2
    assert covering_limit(torch.cat([inside, torch.full((6, 2), 7.0)]), floor=0) == 7.0  # 495 of 501 < 99%
    assert covering_limit(torch.cat([inside, far])) == 3.0  # never narrower than the prior's [-3, 3]
    # a row is inside only when all its coordinates are: one far coordinate puts it out
    one_far = torch.cat([inside, torch.tensor([[0.0, 4.2]] * 6)])  # 6 rows out in z2 only: 495 of 501 < 99%
    assert covering_limit(one_far, floor=0) == 4.5
    assert covering_limit(torch.tensor([[2.0, -2.0]]), floor=0) == 2.0  # the edge counts as inside
    assert covering_limit(torch.zeros(3, 2), floor=0) == 0.5  # never 0: the sliders need a range
    g = torch.Generator().manual_seed(0)
    pts = 4 * torch.randn(1000, 3, generator=g)
    lim = covering_limit(pts)
    held = (pts.abs().amax(1) <= lim).float().mean()
    assert held >= 0.99 and (pts.abs().amax(1) <= lim - 0.5).float().mean() < 0.99 and lim % 0.5 == 0


def test_covering_limit_rejects_bad_input():
    from vae_course.views import covering_limit

    with pytest.raises(ValueError, match="finite"):
        covering_limit(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(ValueError, match="non-empty"):
        covering_limit(torch.zeros(0, 2))
    with pytest.raises(ValueError, match="share=1.5"):
        covering_limit(torch.zeros(3, 2), share=1.5)
