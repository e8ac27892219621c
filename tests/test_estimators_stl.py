"""Sticking the landing: unbiased, zero variance at the posterior (exact on the toy), and on a VAE."""
import math

import numpy as np
import pytest
import torch

from vae_course.models import VAE
from vae_course.theory import (elbo_gradient_samples, encoder_parameters, gauss_hermite_moments, gradient_moments,
                                vae_elbo_estimate, vae_gradient_variance)
from vae_course.theory import LinearGaussian

F64 = torch.float64
TOY, X = LinearGaussian(2.0, 0.5, 1.0), 3.0


def log_joint(z):
    return TOY.log_joint(X, z)


def exact_elbo_grad(mu, sigma):
    m = torch.tensor(mu, dtype=F64, requires_grad=True)
    s = torch.tensor(sigma, dtype=F64, requires_grad=True)
    return torch.stack(torch.autograd.grad(TOY.elbo(X, m, s), (m, s)))


@pytest.mark.parametrize("mu, sigma", [(0.0, 1.0), (1.5, 0.3), (-0.5, 2.0)])
def test_stl_and_full_are_unbiased_on_the_toy(mu, sigma):
    exact = exact_elbo_grad(mu, sigma)
    for stl in (False, True):
        mean, _ = gauss_hermite_moments(elbo_gradient_samples, log_joint, mu, sigma, nodes=20, stick_the_landing=stl)
        assert torch.allclose(mean, exact, atol=1e-10), (stl, mean, exact)


def test_stl_is_unbiased_by_monte_carlo():
    g = elbo_gradient_samples(log_joint, 0.2, 0.8, 400_000, torch.Generator().manual_seed(0), stick_the_landing=True)
    z = (g.mean(0) - exact_elbo_grad(0.2, 0.8)) / (g.std(0) / math.sqrt(g.shape[0]))
    assert bool((z.abs() < 4).all()), z


def test_zero_variance_at_the_posterior_only_with_stl():
    pm, ps = (float(t) for t in TOY.posterior(X))
    _, var_stl = gauss_hermite_moments(elbo_gradient_samples, log_joint, pm, ps, nodes=20, stick_the_landing=True)
    _, var_full = gauss_hermite_moments(elbo_gradient_samples, log_joint, pm, ps, nodes=20)
    assert float(var_stl.max()) < 1e-25
    assert torch.allclose(var_full, torch.tensor([1 / ps ** 2, 2 / ps ** 2], dtype=F64), rtol=1e-10)
    g = elbo_gradient_samples(log_joint, pm, ps, 1000, torch.Generator().manual_seed(1), stick_the_landing=True)
    assert float(g.abs().max()) < 1e-12  # every single sample is 0


def test_vae_stl_is_unbiased_exactly_by_quadrature():
    """The two estimators differ by the score term, whose mean over eps is 0: Gauss-Hermite quadrature in 1-D is exact
    for it (a polynomial of degree 2 in eps), whatever the network."""
    torch.manual_seed(0)
    model = VAE(input_dim=6, hidden_dim=5, latent_dim=1).double()
    x = torch.rand(3, 6, dtype=F64)
    nodes, weights = np.polynomial.hermite_e.hermegauss(12)
    weights = weights / weights.sum()
    params = list(model.parameters())
    mean_diff = [torch.zeros_like(p) for p in params]
    per_node_diff = 0.0
    for e, w in zip(nodes, weights):
        eps = torch.full((3, 1), float(e), dtype=F64)
        g_full = torch.autograd.grad(vae_elbo_estimate(model, x, eps, "full").sum(), params)
        g_stl = torch.autograd.grad(vae_elbo_estimate(model, x, eps, "stl").sum(), params)
        for acc, a, b in zip(mean_diff, g_full, g_stl):
            acc += w * (a - b)
        per_node_diff = max(per_node_diff, max(float((a - b).abs().max()) for a, b in zip(g_full, g_stl)))
    assert per_node_diff > 1e-3  # the estimators differ sample by sample ...
    assert max(float(d.abs().max()) for d in mean_diff) < 1e-12  # ... but not on average


def test_values_agree_and_only_gradients_differ():
    torch.manual_seed(1)
    model = VAE(input_dim=6, hidden_dim=5, latent_dim=2)
    x = torch.rand(4, 6)
    eps = torch.randn(4, 2)
    assert torch.equal(vae_elbo_estimate(model, x, eps, "full"), vae_elbo_estimate(model, x, eps, "stl"))
    with pytest.raises(ValueError):
        vae_elbo_estimate(model, x, eps, "nonsense")


def test_gradient_moments_and_variance_measure():
    torch.manual_seed(2)
    model = VAE(input_dim=6, hidden_dim=5, latent_dim=2)
    x = torch.rand(4, 6)
    enc = encoder_parameters(model)
    assert {id(p) for p in enc} == {id(p) for m in (model.fc1, model.fc_mu, model.fc_logvar) for p in m.parameters()}
    res = vae_gradient_variance(model, x, ("full", "stl"), repeats=20)
    assert res["full"]["total_variance"] > 0 and res["stl"]["total_variance"] > 0
    # a deterministic "estimate" has zero variance and its gradient as mean
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    mean, var = gradient_moments(lambda gen: (w ** 2).sum(), [w], repeats=5)
    assert torch.allclose(mean, torch.tensor([2.0, -4.0], dtype=F64)) and float(var.abs().max()) < 1e-12
