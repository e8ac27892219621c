"""Notebook 15's package code: make_shapes, MIG (vae_course.evaluation.disentanglement) and beta-TCVAE's total
correlation estimator (vae_course.objectives.tc)."""
import math
import time

import pytest
import torch

from vae_course.data import SHAPE_LEVELS, make_shapes
from vae_course.evaluation import discretize, mig, mig_per_factor, mutual_information_matrix
from vae_course.objectives import BetaTCVAE, mws_log_densities, total_correlation


@pytest.fixture(scope="module")
def shapes():
    return make_shapes(3000, seed=0)


def test_make_shapes_shapes_ranges_and_coverage(shapes):
    images, factors, names = shapes
    assert images.shape == (3000, 1, 28, 28) and images.dtype == torch.float32
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0
    assert names == ("shape", "scale", "rotation", "x", "y")
    assert factors.shape == (3000, 5) and factors.dtype == torch.int64
    for k, levels in enumerate(SHAPE_LEVELS):  # every value of every factor occurs
        assert torch.equal(factors[:, k].unique(), torch.arange(levels))
    assert (images.flatten(1).sum(1) > 3).all()  # every sprite is visible
    big, small = images[factors[:, 1] == 3].mean(), images[factors[:, 1] == 0].mean()
    assert big > 2 * small  # scale changes the area


def test_make_shapes_deterministic_and_fast(shapes):
    start = time.perf_counter()
    again = make_shapes(3000, seed=0)
    assert time.perf_counter() - start < 10
    assert torch.equal(again[0], shapes[0]) and torch.equal(again[1], shapes[1])
    other = make_shapes(3000, seed=1)
    assert not torch.equal(other[1], shapes[1])


def test_make_shapes_position_moves_the_sprite():
    images, factors, _ = make_shapes(2000, seed=3)
    cols = torch.arange(28.0)
    centre_x = (images[:, 0].sum(1) * cols).sum(1) / images[:, 0].sum((1, 2))  # (N,)
    left, right = centre_x[factors[:, 3] == 0].mean(), centre_x[factors[:, 3] == 7].mean()
    assert right - left > 10


@pytest.mark.parametrize("n, seed", [(0, 0), (-3, 0), (2.5, 0), (True, 0), (10, -1), (10, 1.5)])
def test_make_shapes_bad_input(n, seed):
    with pytest.raises(ValueError, match=r"must be a (positive )?whole number"):
        make_shapes(n, seed)


def test_mig_of_a_copy_is_one_and_of_noise_is_zero(shapes):
    _, factors, _ = shapes
    gen = torch.Generator().manual_seed(0)
    copy = factors.double() + 0.2 * torch.rand(factors.shape, generator=gen, dtype=torch.float64)
    assert mig(copy, factors) > 0.99
    noise = torch.randn(3000, 10, generator=gen, dtype=torch.float64)
    assert mig(noise, factors) < 0.02
    # two units that both copy every factor: the gap is 0
    assert mig(torch.cat([copy, copy], 1), factors) == pytest.approx(0.0, abs=1e-12)
    # a rotated (mixed) code of the same information scores lower than the copy
    mixed = copy[:, :2] @ torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    assert mig(torch.cat([mixed, copy[:, 2:]], 1), factors) < 0.7


def test_mig_per_factor_and_mi_matrix_by_hand():
    v = torch.tensor([[0], [0], [1], [1]])
    codes = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])  # unit 0 = v, unit 1 independent of v
    mi = mutual_information_matrix(codes, v, bins=2)
    assert mi[:, 0].tolist() == pytest.approx([math.log(2), 0.0])
    assert mig_per_factor(codes, v, bins=2).tolist() == pytest.approx([1.0])
    assert discretize(torch.tensor([[0.0], [0.5], [1.0]]), bins=2).flatten().tolist() == [0, 1, 1]


def test_mig_bad_input():
    f = torch.randint(3, (10, 2))
    with pytest.raises(ValueError, match="at least two code units"):
        mig(torch.randn(10, 1), f)
    with pytest.raises(ValueError, match="integer tensor"):
        mig(torch.randn(10, 3), f.float())
    with pytest.raises(ValueError, match="same N"):
        mig(torch.randn(9, 3), f)
    with pytest.raises(ValueError, match="single value"):
        mig(torch.randn(10, 3), torch.zeros(10, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="bins"):
        mig(torch.randn(10, 3), f, bins=1)


def test_mws_against_brute_force_loops():
    gen = torch.Generator().manual_seed(1)
    b, d, n = 5, 3, 50
    mu, logvar = torch.randn(b, d, generator=gen, dtype=torch.float64), torch.randn(b, d, generator=gen, dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(b, d, generator=gen, dtype=torch.float64)
    log_qz, log_prod = mws_log_densities(z, mu, logvar, n)
    for i in range(b):
        joint = sum(math.prod(math.exp(float(torch.distributions.Normal(mu[j, k], torch.exp(0.5 * logvar[j, k]))
                                            .log_prob(z[i, k]))) for k in range(d)) for j in range(b))
        assert float(log_qz[i]) == pytest.approx(math.log(joint / (n * b)), rel=1e-10)
        marginals = [sum(math.exp(float(torch.distributions.Normal(mu[j, k], torch.exp(0.5 * logvar[j, k]))
                                        .log_prob(z[i, k]))) for j in range(b)) / (n * b) for k in range(d)]
        assert float(log_prod[i]) == pytest.approx(sum(math.log(m) for m in marginals), rel=1e-10)
    assert torch.allclose(total_correlation(z, mu, logvar, n), log_qz - log_prod)


def test_mws_on_the_whole_dataset_is_the_exact_aggregate_posterior_less_log_n():
    """With the batch = all N images, MWS's log q(z) is the exact mixture density minus log N (the 1/(NM) weight)."""
    gen = torch.Generator().manual_seed(2)
    n, d = 6, 2
    mu, logvar = torch.randn(n, d, generator=gen, dtype=torch.float64), torch.randn(n, d, generator=gen, dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(n, d, generator=gen, dtype=torch.float64)
    mix = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(torch.ones(n, dtype=torch.float64)),
                                                torch.distributions.Independent(torch.distributions.Normal(
                                                    mu, torch.exp(0.5 * logvar)), 1))
    log_qz, _ = mws_log_densities(z, mu, logvar, n)
    assert torch.allclose(log_qz, mix.log_prob(z) - math.log(n))


def test_beta_tcvae_objective_trains_with_fit():
    from vae_course.models import VAE
    from vae_course.training import fit

    images, _, _ = make_shapes(256, seed=0)
    torch.manual_seed(0)
    model = VAE(784, 32, 4)
    objective = BetaTCVAE(beta=6.0, dataset_size=256)
    terms = objective(model, images[:16].reshape(16, 784))
    assert terms.recon.shape == terms.kl.shape == terms.total.shape == (16,)
    assert not torch.allclose(terms.total, terms.recon + terms.kl)
    plain = BetaTCVAE(beta=1.0, dataset_size=256)(model, images[:16].reshape(16, 784))
    assert torch.allclose(plain.total, plain.recon + plain.kl)  # beta = 1: the plain negative ELBO
    history = fit(model, images, epochs=2, objective=objective, batch_size=64, progress=False)
    assert history.train_loss[-1] < history.train_loss[0]
    with pytest.raises(ValueError, match="dataset_size"):
        BetaTCVAE(dataset_size=0)
    with pytest.raises(ValueError, match="must all be shaped"):
        total_correlation(torch.zeros(3, 2), torch.zeros(3, 1), torch.zeros(3, 1), 10)
