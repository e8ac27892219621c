import math

import pytest
import torch

from vae_course.theory import LinearGaussian
from vae_course.theory import gauss_hermite_moments, pathwise_samples, score_function_samples, variance_of_mean

TOY = LinearGaussian(2.0, 0.5, 1.0)


def f_toy(z):
    return TOY.log_joint(3.0, z)


@pytest.mark.parametrize("sampler", [score_function_samples, pathwise_samples])
def test_unbiased_against_analytic_gradient(sampler):
    # E_q[sin z] = sin(mu) exp(-sigma^2/2)
    mu, sigma = 0.4, 0.8
    want = torch.tensor([math.cos(mu) * math.exp(-sigma ** 2 / 2), -sigma * math.sin(mu) * math.exp(-sigma ** 2 / 2)],
                        dtype=torch.float64)
    g = sampler(torch.sin, mu, sigma, 400_000, torch.Generator().manual_seed(0))
    assert g.shape == (400_000, 2)
    se = g.std(0) / math.sqrt(g.shape[0])
    assert bool(((g.mean(0) - want).abs() < 4 * se).all())


def test_baseline_keeps_score_function_unbiased():
    mu, sigma = 0.0, 1.0
    g = score_function_samples(f_toy, mu, sigma, 400_000, torch.Generator().manual_seed(1), baseline=-5.0)
    se = g.std(0) / math.sqrt(g.shape[0])
    assert bool(((g.mean(0) - torch.tensor([5.0, -5.0], dtype=torch.float64)).abs() < 4 * se).all())


def test_pathwise_has_lower_variance_on_the_toy_and_variance_falls_as_one_over_n():
    counts = [1, 16, 256]
    sf = variance_of_mean(score_function_samples, f_toy, 0.0, 1.0, counts, repeats=400)
    pw = variance_of_mean(pathwise_samples, f_toy, 0.0, 1.0, counts, repeats=400)
    assert sf.shape == pw.shape == (3, 2)
    assert bool((sf > 3 * pw).all())
    # pathwise d/dmu = f'(z), linear in z with slope -(w^2/s^2 + 1) = -5: per-sample variance 25
    assert abs(float(pw[0, 0]) / 25 - 1) < 0.2 and abs(float(pw[2, 0] * 256) / 25 - 1) < 0.2


def test_gauss_hermite_moments_are_exact_for_a_quadratic_objective():
    for sampler in (score_function_samples, pathwise_samples):
        mean, var = gauss_hermite_moments(sampler, f_toy, 0.0, 1.0)
        assert torch.allclose(mean, torch.tensor([5.0, -5.0], dtype=torch.float64), atol=1e-9)
    # pathwise: f'(z) = 5 - 5 z, so d/dmu = 5 - 5 eps (variance 25) and d/dsigma = (5 - 5 eps) eps (variance 75)
    assert torch.allclose(var, torch.tensor([25.0, 75.0], dtype=torch.float64), atol=1e-9)
    # the eps argument evaluates the estimator at given points
    g = pathwise_samples(f_toy, 0.0, 1.0, 2, eps=torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert torch.allclose(g, torch.tensor([[5.0, 0.0], [0.0, 0.0]], dtype=torch.float64))


def test_bad_input():
    with pytest.raises(ValueError, match="positive"):
        pathwise_samples(torch.sin, 0.0, 0.0, 10)
    with pytest.raises(ValueError, match="whole number"):
        score_function_samples(torch.sin, 0.0, 1.0, 0)
    with pytest.raises(ValueError, match=r"\(n,\)"):
        pathwise_samples(lambda z: z.sum(), 0.0, 1.0, 10)
    with pytest.raises(ValueError, match="eps"):
        pathwise_samples(torch.sin, 0.0, 1.0, 3, eps=torch.zeros(2))
    with pytest.raises(ValueError, match="repeats"):
        variance_of_mean(pathwise_samples, torch.sin, 0.0, 1.0, [1], repeats=1)
