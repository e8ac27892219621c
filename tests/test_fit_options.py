"""The objectives that used to be fit's shorthands prior= (notebook 11) and iwae_k= (notebook 08): ELBO(prior=...) and
IWAE(k) train exactly what their spelled-out objectives train, and the prior's parameters are trained by fit's Adam."""
import pytest
import torch
from torch import nn

from vae_course.models import VAE
from vae_course.objectives import ELBO, IWAE, iwae_objective, priors
from vae_course.training import fit


def data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 784, generator=g), torch.rand(64, 784, generator=g)


def small(seed=0):
    torch.manual_seed(seed)
    return VAE(hidden_dim=32, latent_dim=2)


class SpelledOut(nn.Module):
    """A learner's objective with parameters: prior_objective's function, with the prior as a submodule."""

    def __init__(self, prior):
        super().__init__()
        self.prior = prior
        self.fn = priors.prior_objective(prior)

    def forward(self, model, x, y=None):
        return self.fn(model, x, y)


def test_elbo_with_a_prior_trains_the_prior_with_the_model_exactly_as_the_spelled_out_objective():
    train_x, test_x = data()
    m1, p1 = small(), priors.MixtureOfGaussiansPrior(2, 4, seed=1)
    m2, p2 = small(), priors.MixtureOfGaussiansPrior(2, 4, seed=1)
    before = p1.means.detach().clone()
    h1 = fit(m1, train_x, test_x, objective=ELBO(prior=p1), epochs=2, batch_size=64, progress=False)
    h2 = fit(m2, train_x, test_x, objective=SpelledOut(p2), epochs=2, batch_size=64, progress=False)
    assert not torch.equal(p1.means, before)  # the default Adam trained the prior
    assert h1.train_loss == h2.train_loss and h1.test_loss == h2.test_loss
    torch.testing.assert_close(p1.means, p2.means, rtol=0, atol=0)


def test_a_plain_function_trains_no_prior():
    train_x, _ = data()
    prior = priors.MixtureOfGaussiansPrior(2, 4, seed=1)
    before = prior.means.detach().clone()
    fit(small(), train_x, objective=priors.prior_objective(prior), epochs=1, batch_size=64, progress=False)
    assert torch.equal(prior.means, before)  # no parameters() to hand to Adam: use ELBO(prior=...) instead


def test_the_standard_prior_is_the_default_objective():
    train_x, test_x = data()
    h1 = fit(small(), train_x, test_x, objective=ELBO(prior=priors.StandardNormalPrior(2)), epochs=1, batch_size=64,
             progress=False)
    h2 = fit(small(), train_x, test_x, epochs=1, batch_size=64, progress=False)
    assert h1.train_loss == pytest.approx(h2.train_loss, rel=1e-6)
    assert h1.test_loss == pytest.approx(h2.test_loss, rel=1e-6)


def test_iwae_is_the_iwae_objective_and_k1_is_elbo_training():
    train_x, test_x = data()
    m1, m0 = small(), small()
    h1 = fit(m1, train_x, test_x, objective=IWAE(1), epochs=1, batch_size=64, progress=False)
    h0 = fit(m0, train_x, test_x, epochs=1, batch_size=64, progress=False)
    assert h1.train_loss == pytest.approx(h0.train_loss, rel=1e-6)
    # the same noise and the same gradients at every one of the 4 steps: the weights end up the same
    for a, b in zip(m1.parameters(), m0.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.equal(next(m1.parameters()), next(small().parameters()))  # ... and they did move
    h5 = fit(small(), train_x, test_x, objective=IWAE(5), epochs=1, batch_size=64, progress=False)
    h5b = fit(small(), train_x, test_x, objective=iwae_objective(5), epochs=1, batch_size=64, progress=False)
    assert h5.train_loss == h5b.train_loss and h5.train_loss != h0.train_loss


@pytest.mark.parametrize("make, needle", [
    (lambda: ELBO(prior="vamp"), "prior must be a prior"),
    (lambda: IWAE(0), "k=0"),
    (lambda: ELBO(free_bits=0.5, prior=priors.MixtureOfGaussiansPrior(2, 3)), "free_bits"),
    (lambda: IWAE(3, prior=priors.MixtureOfGaussiansPrior(2, 3), binarize="static"), "binarize"),
])
def test_bad_combinations_are_one_sentence(make, needle):
    with pytest.raises((ValueError, TypeError)) as err:
        make()
    assert needle in str(err.value) and "\n" not in str(err.value)
