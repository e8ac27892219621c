
import pytest
import torch

from vae_course.collapse import (active_units, collapse_summary, count_active_units, kl_per_dim, kl_weight,
                                 posterior_params, unit_activity)
from vae_course.losses import gaussian_kl
from vae_course.models import VAE
from vae_course.train import fit


def test_kl_weight_is_a_linear_ramp_to_beta():
    assert [kl_weight(s, 4) for s in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert kl_weight(5, 10, beta=4.0) == pytest.approx(2.0)
    assert kl_weight(1000, 10, beta=4.0) == 4.0
    assert kl_weight(0, 0, beta=2.5) == 2.5  # no warm-up: the full weight from the first step
    assert kl_weight(3, 7.5, beta=1.0) == pytest.approx(0.4)  # fractional warm-up lengths (epochs * batches)


@pytest.mark.parametrize("args", [(-1, 4, 1.0), (0, -4, 1.0), (0, 4, -1.0), (0, float("nan"), 1.0)])
def test_kl_weight_rejects_bad_input(args):
    with pytest.raises((ValueError, TypeError)):
        kl_weight(*args)
    with pytest.raises(TypeError):
        kl_weight(True, 4)


def test_fit_follows_kl_weight(mnist_small):
    """fit's per-epoch mean KL weight is the mean of kl_weight over that epoch's steps."""
    train_x = mnist_small[0][:384]  # 3 batches of 128 per epoch
    torch.manual_seed(0)
    hist = fit(VAE(latent_dim=2), train_x, epochs=3, batch_size=128, progress=False, kl_warmup_epochs=1.5,
               beta=2.0)
    warm = 1.5 * 3
    want = [sum(kl_weight(s, warm, 2.0) for s in range(3 * e, 3 * e + 3)) / 3 for e in range(3)]
    assert hist.beta == pytest.approx(want)
    assert hist.beta[-1] == pytest.approx(2.0)


def test_unit_activity_and_count_on_known_means():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(5000, 4, generator=g) * torch.tensor([1.0, 0.3, 0.05, 0.0])  # variances 1, 0.09, 0.0025, 0
    act = unit_activity(mu)
    assert act.shape == (4,)
    assert act[0] == pytest.approx(1.0, rel=0.05) and act[1] == pytest.approx(0.09, rel=0.05)
    assert act[3] == 0
    assert count_active_units(mu) == 2
    assert count_active_units(mu, threshold=0.001) == 3
    assert count_active_units(mu + 7.0) == 2  # a constant shift changes nothing: it is a variance


def test_active_units_of_a_model_with_dead_dimensions():
    torch.manual_seed(0)
    model = VAE(latent_dim=5)
    with torch.no_grad():  # dimensions 3 and 4 ignore the image: their mean is a constant
        model.fc_mu.weight[3:].zero_()
        model.fc_mu.weight[:3].mul_(20.0)
    x = torch.rand(300, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    assert active_units(model, x) == 3
    assert active_units(model, x, threshold=1e9) == 0
    summary = collapse_summary(model, x)
    assert summary.active == 3 and summary.latent_dim == 5
    assert summary.kl == pytest.approx(gaussian_kl(*model.encode(x)).mean().item(), rel=1e-4)


def test_kl_per_dim_sums_to_the_kl():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(64, 6, generator=g), torch.randn(64, 6, generator=g)
    per = kl_per_dim(mu, logvar)
    assert per.shape == (6,) and bool((per >= 0).all())
    assert per.sum().item() == pytest.approx(gaussian_kl(mu, logvar).mean().item(), rel=1e-5)
    assert kl_per_dim(torch.zeros(3, 2), torch.zeros(3, 2)).abs().max().item() == 0  # q = prior: KL 0


def test_posterior_params_batches_and_validates():
    torch.manual_seed(0)
    model = VAE(latent_dim=3)
    x = torch.rand(25, 784)
    mu, logvar = posterior_params(model, x, batch_size=7)
    want_mu, want_lv = model.encode(x)
    assert mu.shape == (25, 3) and torch.allclose(mu, want_mu, atol=1e-6) and torch.allclose(logvar, want_lv, atol=1e-6)
    with pytest.raises(ValueError):
        posterior_params(model, torch.rand(0, 784))
    with pytest.raises(ValueError):
        unit_activity(torch.zeros(1, 3))
    with pytest.raises(ValueError):
        count_active_units(torch.zeros(4, 3), threshold=-1.0)


def test_active_units_need_labels_for_a_conditional_model():
    from vae_course.cvae import CVAE

    torch.manual_seed(0)
    model = CVAE(latent_dim=3)
    x, y = torch.rand(20, 784), torch.arange(20) % 10
    with pytest.raises(ValueError, match="labels"):
        active_units(model, x)
    assert 0 <= active_units(model, x, labels=y) <= 3
