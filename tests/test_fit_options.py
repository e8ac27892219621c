"""fit's shorthands prior= (notebook 11) and iwae_k= (notebook 08): the same training as their loss_fn, spelled out."""
import pytest
import torch

from vae_course.models import VAE
from vae_course.objectives import iwae_objective
from vae_course.objectives import priors
from vae_course.training import fit, make_adam


def data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 784, generator=g), torch.rand(64, 784, generator=g)


def small(seed=0):
    torch.manual_seed(seed)
    return VAE(hidden_dim=32, latent_dim=2)


def test_prior_trains_the_prior_with_the_model_exactly_as_the_spelled_out_loss_fn():
    train_x, test_x = data()
    m1, p1 = small(), priors.MixtureOfGaussiansPrior(2, 4, seed=1)
    m2, p2 = small(), priors.MixtureOfGaussiansPrior(2, 4, seed=1)
    before = p1.means.detach().clone()
    h1 = fit(m1, train_x, test_x, epochs=2, batch_size=64, progress=False, prior=p1)
    opt = make_adam([*m2.parameters(), *p2.parameters()], 1e-3)
    h2 = fit(m2, train_x, test_x, epochs=2, batch_size=64, progress=False, loss_fn=priors.prior_objective(p2),
             optimizer=opt)
    assert not torch.equal(p1.means, before)  # the default Adam trained the prior
    assert h1.train_loss == h2.train_loss and h1.test_loss == h2.test_loss
    torch.testing.assert_close(p1.means, p2.means, rtol=0, atol=0)


def test_the_standard_prior_is_the_default_objective():
    train_x, test_x = data()
    h1 = fit(small(), train_x, test_x, epochs=1, batch_size=64, progress=False,
             prior=priors.StandardNormalPrior(2))
    h2 = fit(small(), train_x, test_x, epochs=1, batch_size=64, progress=False)
    assert h1.train_loss == pytest.approx(h2.train_loss, rel=1e-6)
    assert h1.test_loss == pytest.approx(h2.test_loss, rel=1e-6)


def test_iwae_k_is_the_iwae_objective_and_k1_is_elbo_training():
    train_x, test_x = data()
    m1, m0 = small(), small()
    h1 = fit(m1, train_x, test_x, epochs=1, batch_size=64, progress=False, iwae_k=1)
    h0 = fit(m0, train_x, test_x, epochs=1, batch_size=64, progress=False)
    assert h1.train_loss == pytest.approx(h0.train_loss, rel=1e-6)
    # the same noise and the same gradients at every one of the 4 steps: the weights end up the same
    for a, b in zip(m1.parameters(), m0.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.equal(next(m1.parameters()), next(small().parameters()))  # ... and they did move
    h5 = fit(small(), train_x, test_x, epochs=1, batch_size=64, progress=False, iwae_k=5)
    h5b = fit(small(), train_x, test_x, epochs=1, batch_size=64, progress=False, loss_fn=iwae_objective(5))
    assert h5.train_loss == h5b.train_loss and h5.train_loss != h0.train_loss


@pytest.mark.parametrize("kwargs, needle", [
    (dict(prior=priors.StandardNormalPrior(2), iwae_k=5), "not both"),
    (dict(iwae_k=5, loss_fn=iwae_objective(5)), "iwae_k= or loss_fn="),
    (dict(prior=priors.MixtureOfGaussiansPrior(2, 3), beta=4.0), "leave beta=1"),
    (dict(iwae_k=3, free_bits=0.5), "free_bits=0"),
    (dict(prior="vamp"), "prior must be a prior"),
    (dict(iwae_k=0), "k=0"),
])
def test_bad_combinations_are_one_sentence(kwargs, needle):
    train_x, _ = data(64)
    with pytest.raises((ValueError, TypeError)) as err:
        fit(small(), train_x, epochs=1, progress=False, **kwargs)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_an_optimizer_that_leaves_the_prior_out_is_refused_before_training():
    train_x, _ = data(64)
    model, prior = small(), priors.MixtureOfGaussiansPrior(2, 3)
    with pytest.raises(ValueError, match="does not train the prior's parameters"):
        fit(model, train_x, epochs=1, progress=False, prior=prior, optimizer=torch.optim.Adam(model.parameters()))
