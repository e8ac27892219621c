"""The vector linear-Gaussian toy: exact posterior, mean-field optimum and its gap, the change of variables."""
import math

import pytest
import torch

from vae_course.theory import LinearGaussian2D, log_normal_tril, optimise_diagonal_q

F64 = torch.float64


@pytest.fixture
def toy():
    return LinearGaussian2D([[1.0, 0.5], [0.3, -2.0], [0.2, 0.1]], [0.1, -0.2, 0.3], 0.7)


def test_posterior_is_gaussian_conditioning(toy):
    W, s = toy.W, toy.s
    x = torch.tensor([0.4, -1.0, 2.0], dtype=F64)
    # joint of (z, x): cov [[I, W^T], [W, W W^T + s^2 I]]; condition on x with the Schur complement
    sxx = W @ W.T + s ** 2 * torch.eye(3, dtype=F64)
    cov = torch.eye(2, dtype=F64) - W.T @ torch.linalg.solve(sxx, W)
    mean = W.T @ torch.linalg.solve(sxx, x - toy.b)
    got_mean, got_cov = toy.posterior(x)
    assert torch.allclose(got_mean, mean, atol=1e-12) and torch.allclose(got_cov, cov, atol=1e-12)
    z = torch.randn(20, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    log_post = torch.distributions.MultivariateNormal(got_mean, got_cov).log_prob(z)
    assert float((toy.log_joint(x, z) - log_post - toy.log_marginal(x)).abs().max()) < 1e-12  # Bayes' rule


def test_elbo_plus_kl_is_the_evidence_and_matches_monte_carlo(toy):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(6, 3, generator=gen, dtype=F64)
    m = torch.randn(6, 2, generator=gen, dtype=F64)
    v = torch.rand(6, 2, generator=gen, dtype=F64) + 0.05
    assert float((toy.elbo_diag(x, m, v) + toy.kl_diag_to_posterior(x, m, v) - toy.log_marginal(x)).abs().max()) < 1e-12
    n = 200_000
    z = m[0] + v[0].sqrt() * torch.randn(n, 2, generator=gen, dtype=F64)
    log_q = torch.distributions.Normal(m[0], v[0].sqrt()).log_prob(z).sum(-1)
    w = toy.log_joint(x[0], z) - log_q
    assert abs(float(w.mean() - toy.elbo_diag(x[0], m[0], v[0]))) < 4 * float(w.std()) / math.sqrt(n)


@pytest.mark.parametrize("rho", [0.0, 0.3, -0.6, 0.9, 0.99])
def test_mean_field_optimum_variances_and_gap(rho):
    toy = LinearGaussian2D.with_posterior_correlation(rho)
    assert float(toy.posterior_correlation()) == pytest.approx(rho, abs=1e-12)
    x = torch.tensor([1.5], dtype=F64)
    m, v = toy.mean_field_optimum(x)
    mean, cov = toy.posterior(x)
    assert torch.allclose(m, mean, atol=1e-14)
    assert torch.allclose(v / torch.diagonal(cov), torch.full((2,), 1 - rho ** 2, dtype=F64), atol=1e-12)
    gap = toy.log_marginal(x) - toy.elbo_diag(x, m, v)
    assert float(gap) == pytest.approx(-0.5 * math.log(1 - rho ** 2), abs=1e-12)
    assert float(toy.mean_field_gap()) == pytest.approx(float(gap), abs=1e-12)
    m_num, v_num = optimise_diagonal_q(toy, x)
    assert torch.allclose(m_num, m, atol=1e-6) and torch.allclose(v_num, v, atol=1e-6)


def test_the_optimum_is_a_maximum(toy):
    x = torch.tensor([0.4, -1.0, 2.0], dtype=F64)
    m, v = toy.mean_field_optimum(x)
    best = toy.elbo_diag(x, m, v)
    gen = torch.Generator().manual_seed(2)
    for _ in range(20):
        dm, dv = 0.1 * torch.randn(2, generator=gen, dtype=F64), 0.1 * torch.randn(2, generator=gen, dtype=F64)
        assert float(toy.elbo_diag(x, m + dm, v * dv.exp())) < float(best)


def test_log_normal_tril_is_the_multivariate_normal():
    gen = torch.Generator().manual_seed(3)
    for d in (1, 2, 5):
        A = torch.randn(d, d, generator=gen, dtype=F64)
        L = torch.linalg.cholesky(A @ A.T + 0.5 * torch.eye(d, dtype=F64))
        mu = torch.randn(d, generator=gen, dtype=F64)
        z = torch.randn(7, d, generator=gen, dtype=F64)
        want = torch.distributions.MultivariateNormal(mu, scale_tril=L).log_prob(z)
        assert torch.allclose(log_normal_tril(z, mu, L), want, atol=1e-12)
    L = L.clone().requires_grad_(True)
    z = z.clone().requires_grad_(True)
    mu = mu.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z_, m_, l_: log_normal_tril(z_, m_, torch.tril(l_)), (z, mu, L))


def test_bad_inputs():
    with pytest.raises(ValueError):
        LinearGaussian2D.with_posterior_correlation(1.0)
    with pytest.raises(ValueError):
        LinearGaussian2D([[1.0, 2.0]], None, 0.0)
    with pytest.raises(ValueError):
        log_normal_tril(torch.zeros(3, 2, dtype=F64), torch.zeros(2, dtype=F64), torch.eye(3, dtype=F64))
