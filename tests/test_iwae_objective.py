"""Training with the importance-weighted bound: at k = 1 it IS fit's default ELBO training, step for step."""
import copy
import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal

from vae_course.models import VAE
from vae_course.objectives import ELBO, IWAE, iwae_objective, iwae_terms
from vae_course.theory import decoder_parameters, gradient_snr
from vae_course.training import fit


def _images(n=256, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=gen)


def _same(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_k1_equals_elbo_training_step_for_step(precision):
    x, test = _images(), _images(64, 1)
    torch.manual_seed(0)
    a = VAE(hidden_dim=32)
    b = copy.deepcopy(a)
    ha = fit(a, x, test, epochs=2, batch_size=50, seed=7, progress=False, objective=ELBO(precision=precision))
    hb = fit(b, x, test, epochs=2, batch_size=50, seed=7, progress=False, objective=IWAE(1, precision=precision))
    assert _same(a, b)
    assert ha.train_loss == hb.train_loss and ha.test_loss == hb.test_loss


def test_the_plain_k1_estimate_is_a_different_training():
    """Burda et al.'s k = 1 estimate samples the KL: same expectation, different steps (so the test above can fail)."""
    x = _images()
    torch.manual_seed(0)
    a = VAE(hidden_dim=32)
    b = copy.deepcopy(a)
    fit(a, x, epochs=1, batch_size=50, seed=7, progress=False, objective=ELBO(precision="fp32"))
    fit(b, x, epochs=1, batch_size=50, seed=7, progress=False, objective=IWAE(1, analytic_kl=False, precision="fp32"))
    assert not _same(a, b)


def test_plain_estimate_is_logmeanexp_of_the_log_weights():
    torch.manual_seed(3)
    model = VAE(hidden_dim=32)
    x = torch.bernoulli(_images(4).reshape(4, -1))
    k = 7
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        got = -iwae_terms(model, x, None, k, analytic_kl=False).total
    mu, logvar = model.encode(x)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        z = model.reparameterize(mu.repeat(k, 1), logvar.repeat(k, 1)).reshape(k, 4, -1)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    prior = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    lik = Independent(Bernoulli(logits=model.decode_logits(z.reshape(k * 4, -1)).reshape(k, 4, -1)), 1)
    log_w = lik.log_prob(x) + prior.log_prob(z) - q.log_prob(z)  # (k, 4)
    want = torch.logsumexp(log_w, 0) - math.log(k)
    assert torch.allclose(got, want, atol=1e-4)


def test_both_estimates_have_the_same_mean_and_the_bound_rises_with_k():
    torch.manual_seed(4)
    model = VAE(hidden_dim=32)
    x = torch.bernoulli(_images(2).reshape(2, -1))
    means = {}
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for k in (1, 20):
            for cv in (True, False):
                draws = torch.stack([-iwae_terms(model, x, None, k, analytic_kl=cv).total for _ in range(400)])
                means[k, cv] = (draws.mean(0), draws.std(0) / math.sqrt(400))
    for k in (1, 20):
        (m1, s1), (m2, s2) = means[k, True], means[k, False]
        assert bool(((m1 - m2).abs() < 4 * torch.sqrt(s1 ** 2 + s2 ** 2)).all())
    (lo, s_lo), (hi, s_hi) = means[1, False], means[20, False]
    assert bool((hi - lo > 4 * torch.sqrt(s_lo ** 2 + s_hi ** 2)).all())  # L_20 > L_1 on an untrained model


def test_reported_terms_stay_the_elbo_and_bad_k():
    torch.manual_seed(5)
    model = VAE(hidden_dim=32)
    x = _images(3).reshape(3, -1)
    terms = iwae_terms(model, x, None, 5)
    assert terms.recon.shape == terms.kl.shape == terms.total.shape == (3,)
    assert float((terms.recon + terms.kl - terms.total).detach().min()) > 0  # -L_5 below the negative ELBO here
    for k in (0, 1.5, True):
        with pytest.raises(ValueError):
            iwae_objective(k)


def test_gradient_snr_shapes():
    torch.manual_seed(6)
    model = VAE(input_dim=784, hidden_dim=16, latent_dim=2)
    x = torch.bernoulli(_images(1).reshape(1, -1))
    enc = gradient_snr(model, x, 3, repeats=10)
    dec = gradient_snr(model, x, 3, parameters="decoder", repeats=10)
    assert enc.numel() == 784 * 16 + 16 + 2 * (16 * 2 + 2)
    assert dec.numel() == sum(p.numel() for p in decoder_parameters(model))
    assert bool((enc[enc.isfinite()] >= 0).all()) and enc.isfinite().sum() > 0
