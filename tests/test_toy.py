import math

import pytest
import torch

from vae_course.theory import LinearGaussian, kl_normal, log_mean_exp, normal_log_prob

TOY = LinearGaussian(w=2.0, b=0.5, s=1.0)
F64 = torch.float64


def test_log_marginal_matches_quadrature():
    z = torch.linspace(-12, 12, 200_001, dtype=F64)
    for x in (-2.0, 0.5, 3.0, 6.0):
        integrand = (TOY.log_likelihood(x, z) + TOY.log_prior(z)).exp()
        quad = torch.trapezoid(integrand, z)
        assert abs(float(quad.log() - TOY.log_marginal(x))) < 1e-9


def test_posterior_is_bayes_rule():
    z = torch.linspace(-5, 5, 101, dtype=F64)
    x = 3.0
    bayes = TOY.log_joint(x, z) - TOY.log_marginal(x)
    assert torch.allclose(TOY.log_posterior(x, z), bayes, atol=1e-12)
    mean, std = TOY.posterior(x)
    assert math.isclose(float(mean), 1.0, abs_tol=1e-12) and math.isclose(float(std), math.sqrt(0.2), abs_tol=1e-12)


def test_elbo_identity_and_bound():
    gen = torch.Generator().manual_seed(0)
    x = 4 * torch.randn(50, 1, dtype=F64, generator=gen)
    m = 3 * torch.randn(1, 40, dtype=F64, generator=gen)
    v = torch.rand(1, 40, dtype=F64, generator=gen) * 2 + 0.01
    elbo = TOY.elbo(x, m, v)  # (50, 40)
    gap = TOY.log_marginal(x) - elbo
    assert elbo.shape == (50, 40)
    assert bool((gap >= 0).all())
    assert torch.allclose(gap, TOY.kl_to_posterior(x, m, v), atol=1e-10)
    pm, ps = TOY.posterior(x)
    assert torch.allclose(TOY.elbo(x, pm, ps), TOY.log_marginal(x), atol=1e-12)


def test_elbo_equals_expected_log_joint_plus_entropy():
    m, v = torch.tensor(0.3, dtype=F64), torch.tensor(0.7, dtype=F64)
    entropy = 0.5 * torch.log(2 * math.pi * math.e * v ** 2)
    assert torch.allclose(TOY.elbo(1.0, m, v), TOY.expected_log_joint(1.0, m, v) + entropy, atol=1e-12)


def test_mc_elbo_agrees_with_closed_form():
    gen = torch.Generator().manual_seed(1)
    est, se = TOY.mc_elbo(3.0, 0.2, 0.6, 100_000, gen)
    assert abs(float(est - TOY.elbo(3.0, 0.2, 0.6))) < 4 * float(se)
    # at the posterior every log-weight equals log p(x): zero variance
    est, se = TOY.mc_elbo(3.0, *TOY.posterior(3.0), 100, gen)
    assert abs(float(est - TOY.log_marginal(3.0))) < 1e-12 and float(se) < 1e-12


def test_importance_estimate_is_exact_with_the_posterior():
    gen = torch.Generator().manual_seed(2)
    got = TOY.importance_log_marginal(-1.0, *TOY.posterior(-1.0), 10, gen)
    assert abs(float(got - TOY.log_marginal(-1.0))) < 1e-12


def test_sample_moments():
    gen = torch.Generator().manual_seed(3)
    z, x = TOY.sample(200_000, gen)
    assert z.shape == x.shape == (200_000,) and x.dtype == F64
    assert abs(float(x.mean()) - TOY.b) < 0.03 and abs(float(x.std()) - TOY.marginal_std) < 0.03


def test_mc_log_marginal_and_relative_variance():
    gen = torch.Generator().manual_seed(4)
    x = torch.tensor([1.0, 2.0, 0.0], dtype=F64)
    z = torch.randn(400_000, 3, generator=gen, dtype=F64)
    est = TOY.mc_log_marginal(x, z)
    exact = TOY.factorized_log_marginal(x)
    rel_var = float(TOY.prior_mc_relative_variance(x))
    assert rel_var > 0
    assert abs(float(est.exp() / exact.exp()) - 1) < 4 * math.sqrt(rel_var / 400_000)
    # the per-sample relative variance, measured
    lik = TOY.log_likelihood(x, z).sum(-1).exp()
    measured = float(lik.var() / exact.exp() ** 2)
    assert abs(measured / rel_var - 1) < 0.1
    # D independent coordinates: (1 + r)^D - 1
    r1 = float(TOY.prior_mc_relative_variance(torch.tensor([2.0], dtype=F64)))
    rD = float(TOY.prior_mc_relative_variance(torch.full((5,), 2.0, dtype=F64)))
    assert math.isclose(rD, (1 + r1) ** 5 - 1, rel_tol=1e-10)


def test_helpers():
    assert torch.allclose(normal_log_prob(0.0, 0.0, 1.0), torch.tensor(-0.5 * math.log(2 * math.pi), dtype=F64))
    p = torch.distributions.Normal(torch.tensor(0.3, dtype=F64), 0.5)
    q = torch.distributions.Normal(torch.tensor(-1.0, dtype=F64), 2.0)
    assert torch.allclose(kl_normal(0.3, 0.5, -1.0, 2.0), torch.distributions.kl_divergence(p, q))
    v = torch.tensor([-1000.0, -1001.0], dtype=F64)
    assert torch.isfinite(log_mean_exp(v))


def test_autograd_flows_through_closed_forms():
    m = torch.tensor(0.0, dtype=F64, requires_grad=True)
    v = torch.tensor(1.0, dtype=F64, requires_grad=True)
    TOY.expected_log_joint(3.0, m, v).backward()
    # d/dm = w (x - w m - b) / s^2 - m = 5, d/dv = -(w^2/s^2 + 1) v = -5
    assert math.isclose(float(m.grad), 5.0) and math.isclose(float(v.grad), -5.0)


def test_bad_input():
    with pytest.raises(ValueError, match="positive"):
        LinearGaussian(1.0, 0.0, 0.0)
    with pytest.raises(TypeError):
        LinearGaussian("1", 0.0, 1.0)
    with pytest.raises(ValueError, match="positive"):
        TOY.elbo(1.0, 0.0, -1.0)
    with pytest.raises(TypeError):
        TOY.log_marginal(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"\(n, D\)"):
        TOY.mc_log_marginal(torch.zeros(3, dtype=F64), torch.zeros(10, 2, dtype=F64))
    with pytest.raises(ValueError, match="whole number"):
        TOY.sample(0)
