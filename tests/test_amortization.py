"""The per-image optimiser: it never lowers the ELBO, and on the linear-Gaussian toys it reaches the best q of its
family (the exact posterior in 1-D: approximation gap 0; the mean-field optimum on the correlated 2-D toy)."""
import pytest
import torch

from vae_course.evaluation import gap_split, noise_elbo, optimise_q, whitened_noise
from vae_course.models import VAE
from vae_course.theory import LinearGaussian
from vae_course.theory import LinearGaussian2D

F64 = torch.float64


def test_whitened_noise_has_exact_moments():
    eps = whitened_noise(50, 3, seed=4)
    assert float(eps.mean(0).abs().max()) < 1e-14
    assert torch.allclose(eps.T @ eps / 50, torch.eye(3, dtype=F64), atol=1e-13)
    with pytest.raises(ValueError):
        whitened_noise(2, 3)


def test_the_noise_elbo_is_exact_on_the_toy():
    toy = LinearGaussian(2.0, 0.5, 1.0)
    x = torch.linspace(-3, 5, 7, dtype=F64)
    mu = torch.randn(7, 1, generator=torch.Generator().manual_seed(0), dtype=F64)
    logvar = torch.randn(7, 1, generator=torch.Generator().manual_seed(1), dtype=F64)
    got = noise_elbo(lambda z: toy.log_joint(x, z[..., 0]), mu, logvar, whitened_noise(16, 1))
    assert torch.allclose(got, toy.elbo(x, mu[:, 0], torch.exp(0.5 * logvar[:, 0])), atol=1e-12)


def test_per_image_optimum_is_the_exact_posterior_on_the_toy():
    toy = LinearGaussian(2.0, 0.5, 1.0)
    x = torch.linspace(-3, 5, 7, dtype=F64)
    zeros = torch.zeros(7, 1, dtype=F64)
    local = optimise_q(lambda z: toy.log_joint(x, z[..., 0]), zeros, zeros, steps=500, lr=0.1)
    mean, std = toy.posterior(x)
    assert torch.allclose(local.mu[:, 0], mean, atol=1e-6)
    assert torch.allclose(torch.exp(0.5 * local.logvar[:, 0]), std, atol=1e-6)
    approximation_gap = toy.log_marginal(x) - toy.elbo(x, local.mu[:, 0], torch.exp(0.5 * local.logvar[:, 0]))
    assert float(approximation_gap.abs().max()) < 1e-10
    assert float((local.elbo - toy.log_marginal(x)).abs().max()) < 1e-10


def test_per_image_optimum_is_the_mean_field_optimum_on_the_correlated_toy():
    toy = LinearGaussian2D.with_posterior_correlation(0.9)
    x = torch.tensor([[2.0], [-1.0], [0.5]], dtype=F64)
    zeros = torch.zeros(3, 2, dtype=F64)
    local = optimise_q(lambda z: toy.log_joint(x, z), zeros, zeros, steps=1000, lr=0.1)
    m, v = toy.mean_field_optimum(x)
    assert torch.allclose(local.mu, m, atol=1e-6) and torch.allclose(local.logvar.exp(), v.expand(3, 2), atol=1e-6)
    assert torch.allclose(toy.log_marginal(x) - local.elbo, toy.mean_field_gap().expand(3), atol=1e-10)


@pytest.mark.parametrize("lr", [0.05, 50.0])
def test_the_optimiser_never_lowers_the_elbo(lr):
    """Even a diverging learning rate returns, per image, a q at least as good as the start (the encoder's)."""
    torch.manual_seed(0)
    model = VAE(input_dim=20, hidden_dim=16, latent_dim=2).double()
    x = torch.bernoulli(torch.rand(6, 20, dtype=F64), generator=torch.Generator().manual_seed(1))
    from vae_course.evaluation import vae_log_joint_z

    with torch.no_grad():
        mu0, logvar0 = model.encode(x)
    log_joint = vae_log_joint_z(model, x)
    local = optimise_q(log_joint, mu0, logvar0, steps=40, lr=lr, n_samples=8)
    assert bool((local.elbo >= local.elbo_start).all())
    eps = whitened_noise(8, 2, 0)
    with torch.no_grad():  # the returned q really has the ELBO reported, and the start is the encoder's
        assert torch.allclose(noise_elbo(log_joint, local.mu, local.logvar, eps), local.elbo, atol=1e-10)
        assert torch.allclose(noise_elbo(log_joint, mu0, logvar0, eps), local.elbo_start, atol=1e-10)
    if lr == 0.05:
        assert float(local.gain.min()) > 0  # a random encoder is improvable on every image


def test_gap_split_adds_up():
    torch.manual_seed(0)
    model = VAE(input_dim=20, hidden_dim=16, latent_dim=2)
    x = torch.bernoulli(torch.rand(5, 20), generator=torch.Generator().manual_seed(1))
    split = gap_split(model, x, steps=30, n_samples=8, k=200, eval_samples=300)
    assert torch.allclose(split.approximation_gap + split.amortization_gap, split.inference_gap, atol=1e-5)
    assert float(split.amortization_gap.mean()) > 0
    summary = split.summary()
    assert set(summary) == {"approximation_gap", "amortization_gap", "inference_gap"}
    assert all(se > 0 for _, se in summary.values())
