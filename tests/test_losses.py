import math

import pytest
import torch
import torch.nn.functional as F

from vae_course.models import VAE
from vae_course.objectives import losses


def test_gaussian_kl_matches_torch_distributions(seeded):
    mu, logvar = torch.randn(6, 4), torch.randn(6, 4)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros(4), torch.ones(4))
    want = torch.distributions.kl_divergence(q, p).sum(-1)
    got = losses.gaussian_kl(mu, logvar)
    assert got.shape == (6,) and torch.allclose(got, want, atol=1e-5)
    assert torch.allclose(losses.gaussian_kl_per_dim(mu, logvar).sum(-1), got)


def test_gaussian_kl_zero_at_prior():
    assert torch.equal(losses.gaussian_kl(torch.zeros(3, 2), torch.zeros(3, 2)), torch.zeros(3))


def test_gaussian_kl_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        losses.gaussian_kl(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(TypeError):
        losses.gaussian_kl([0.0], torch.zeros(1))


def test_bernoulli_nll_is_summed_bce(seeded):
    logits = torch.randn(5, 784)
    x = torch.rand(5, 1, 28, 28)
    want = F.binary_cross_entropy(torch.sigmoid(logits), x.reshape(5, 784), reduction="none").sum(1)
    assert torch.allclose(losses.bernoulli_nll(logits, x), want, rtol=1e-4)


def test_bernoulli_nll_is_a_likelihood_on_binary_pixels(seeded):
    logits = torch.randn(3, 10)
    x = torch.bernoulli(torch.full((3, 10), 0.5))
    want = -torch.distributions.Bernoulli(logits=logits).log_prob(x).sum(1)
    assert torch.allclose(losses.bernoulli_nll(logits, x), want, atol=1e-5)


def test_logits_stay_finite_where_sigmoid_saturates():
    logits = torch.full((1, 784), 40.0)  # sigmoid(40) == 1.0 in float32
    x = torch.zeros(1, 784)
    nll = losses.bernoulli_nll(logits, x)
    assert torch.allclose(nll, torch.tensor([40.0 * 784]), rtol=1e-5)
    ref = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum")
    assert ref.item() == pytest.approx(100.0 * 784)  # the probability route clamps log(0) at -100


def test_gaussian_nll_closed_form(seeded):
    mean, x = torch.rand(4, 784), torch.rand(4, 784)
    sigma = 0.3
    want = -torch.distributions.Normal(mean, sigma).log_prob(x).sum(1)
    assert torch.allclose(losses.gaussian_nll(mean, x, sigma), want, rtol=1e-5)
    with pytest.raises(ValueError, match="positive"):
        losses.gaussian_nll(mean, x, 0.0)


def test_continuous_bernoulli_differs_from_bce_by_log_normalizer(seeded):
    logits, x = torch.randn(2, 784), torch.rand(2, 784)
    cb = losses.continuous_bernoulli_nll(logits, x)
    log_c = torch.distributions.ContinuousBernoulli(logits=logits)._cont_bern_log_norm().sum(1)
    assert torch.allclose(cb, losses.bernoulli_nll(logits, x) - log_c, rtol=1e-4)


def test_reconstruction_dispatch_and_error(seeded):
    logits, x = torch.randn(2, 784), torch.rand(2, 784)
    assert torch.allclose(losses.reconstruction_nll(logits, x, "gaussian", 0.5),
                          losses.gaussian_nll(torch.sigmoid(logits), x, 0.5))
    with pytest.raises(ValueError, match="likelihood"):
        losses.reconstruction_nll(logits, x, "poisson")
    with pytest.raises(ValueError, match="do not match"):
        losses.bernoulli_nll(torch.randn(2, 784), torch.rand(3, 784))


def test_elbo_terms_and_reference_loss(seeded):
    model = VAE()
    x = torch.rand(16, 1, 28, 28)
    mu, logvar = model.encode(x)
    z = model.reparameterize(mu, logvar)
    logits = model.decode_logits(z)
    terms = losses.elbo(logits, x, mu, logvar)
    assert terms.recon.shape == terms.kl.shape == terms.total.shape == (16,)
    assert torch.allclose(terms.total, terms.recon + terms.kl)
    assert torch.allclose(terms.elbo, -terms.total)
    ref = losses.reference_loss(torch.sigmoid(logits), x, mu, logvar)
    assert ref.item() == pytest.approx(terms.total.sum().item(), rel=1e-5)  # the seed's loss = per-image x batch
    beta_terms = losses.elbo(logits, x, mu, logvar, beta=4.0)
    assert torch.allclose(beta_terms.total, beta_terms.recon + 4 * beta_terms.kl)
    m = terms.mean()
    assert m.total.ndim == 0 and math.isclose(m.total.item(), terms.total.mean().item(), rel_tol=1e-6)


def test_model_elbo_runs_model(seeded):
    model = VAE()
    x = torch.rand(8, 784)
    torch.manual_seed(1)
    a = losses.model_elbo(model, x)
    torch.manual_seed(1)
    mu, logvar = model.encode(x)
    b = losses.elbo(model.decode_logits(model.reparameterize(mu, logvar)), x, mu, logvar)
    assert torch.allclose(a.total, b.total)


# --- issue 13: the Bernoulli losses check that the images lie in [0, 1] -----------------------------------------
@pytest.mark.parametrize("nll", [losses.bernoulli_nll, losses.continuous_bernoulli_nll])
@pytest.mark.parametrize("scale, shift", [(255.0, 0.0), (2.0, -1.0)])
def test_bernoulli_losses_refuse_images_outside_0_1(nll, scale, shift):
    x = torch.rand(4, 784) * scale + shift
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\].*don't use Normalize"):
        nll(torch.zeros(4, 784), x)


def test_the_check_is_skipped_where_the_caller_checked_once():
    x = torch.rand(4, 784) * 255
    with losses.images_checked():
        assert losses.bernoulli_nll(torch.zeros(4, 784), x).shape == (4,)


# --- issue 10: BCE is linear in its target, so BCE on grey levels is the average over binarizations (notebook 07) --
# BCE(l, x) = (1 - x) BCE(l, 0) + x BCE(l, 1) = softplus(l) - x l, hence E_b[BCE(l, b)] = BCE(l, g) for
# b ~ Bernoulli(g), and grey BCE + KL = E_b[-ELBO(b; q(.|g))] with z (the logits) and q(z|g) fixed.
F64 = torch.float64


def _logits_and_grey(seed: int, batch: int = 6):
    gen = torch.Generator().manual_seed(seed)
    logits = 4 * torch.randn(batch, 784, generator=gen, dtype=F64)  # (B, 784), confident and unsure pixels
    grey = torch.rand(batch, 784, generator=gen, dtype=F64)  # (B, 784) grey levels in (0, 1)
    grey[:, :200] = 0.0  # MNIST has many exact 0s and some exact 1s
    grey[:, 200:240] = 1.0
    return logits, grey, gen


def test_bce_is_linear_in_its_target():
    logits, grey, _ = _logits_and_grey(0)
    at_zero = losses.bernoulli_nll(logits, torch.zeros_like(grey))  # sum_j BCE(l_j, 0) = sum_j softplus(l_j)
    # per pixel: (1 - g) BCE(l, 0) + g BCE(l, 1), built from the end points
    per_pixel_0 = F.softplus(logits)  # BCE(l, 0) = log(1 + e^l)
    per_pixel_1 = F.softplus(-logits)  # BCE(l, 1) = log(1 + e^-l)
    mixed = ((1 - grey) * per_pixel_0 + grey * per_pixel_1).sum(dim=1)  # (B,)
    got = losses.bernoulli_nll(logits, grey)  # (B,)
    assert torch.allclose(at_zero, per_pixel_0.sum(dim=1), rtol=1e-13, atol=0)
    assert torch.allclose(got, mixed, rtol=1e-12, atol=0)
    # the same identity in its other form: BCE(l, x) = -x l + softplus(l)
    assert torch.allclose(got, (-grey * logits + per_pixel_0).sum(dim=1), rtol=1e-12, atol=0)


def test_bce_of_grey_is_the_average_over_binarizations():
    logits, grey, gen = _logits_and_grey(1)
    draws = 2000
    binary = torch.bernoulli(grey.expand(draws, -1, -1), generator=gen)  # (R, B, 784)
    totals = losses.bernoulli_nll(logits.repeat(draws, 1), binary.reshape(-1, 784)).reshape(draws, -1)  # (R, B)
    mean, se = totals.mean(dim=0), totals.std(dim=0) / math.sqrt(draws)  # (B,) each
    want = losses.bernoulli_nll(logits, grey)  # (B,)
    z = (mean - want) / se
    assert torch.all(se > 0) and torch.all(z.abs() < 4), z


def test_grey_negative_elbo_is_the_average_binary_negative_elbo():
    """With z (hence the logits) and q(z|g) fixed, only b varies: E_b[-ELBO(b; q(.|g))] = grey BCE + KL."""
    logits, grey, gen = _logits_and_grey(2)
    mu = torch.randn(grey.shape[0], 8, generator=gen, dtype=F64)
    logvar = torch.randn(grey.shape[0], 8, generator=gen, dtype=F64) - 1
    draws = 2000
    binary = torch.bernoulli(grey.expand(draws, -1, -1), generator=gen).reshape(-1, 784)  # (R*B, 784)
    totals = losses.elbo(logits.repeat(draws, 1), binary, mu.repeat(draws, 1),
                         logvar.repeat(draws, 1)).total.reshape(draws, -1)  # (R, B)
    grey_terms = losses.elbo(logits, grey, mu, logvar)
    assert torch.allclose(grey_terms.total, grey_terms.recon + losses.gaussian_kl(mu, logvar))
    z = (totals.mean(dim=0) - grey_terms.total) / (totals.std(dim=0) / math.sqrt(draws))
    assert torch.all(z.abs() < 4), z
