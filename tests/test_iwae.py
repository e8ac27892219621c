import math

import pytest
import torch
from torch.distributions import Independent, Normal

from vae_course.evaluation import iwae
from vae_course.models import VAE
from vae_course.objectives import model_elbo


# A linear-Gaussian model with a closed-form evidence: z ~ N(0, 1), x | z ~ N(w z + b, s^2)  =>  x ~ N(b, w^2 + s^2).
W, B, S = 1.5, 0.3, 0.5


def _log_joint(x, z):  # x (B, 1), z (c, B, 1) -> (c, B)
    prior = Normal(0.0, 1.0).log_prob(z[..., 0])
    return prior + Normal(W * z[..., 0] + B, S).log_prob(x[:, 0])


def _log_px(x):  # (B, 1) -> (B,)
    return Normal(B, math.sqrt(W**2 + S**2)).log_prob(x[:, 0])


def _proposal(shift=0.0, scale=1.0):
    """The exact posterior, moved by ``shift`` and widened by ``scale`` (shift=0, scale=1: exact)."""
    post_var = S**2 / (W**2 + S**2)

    def proposal(x):
        mean = W * (x - B) / (W**2 + S**2) + shift  # (B, 1)
        return Independent(Normal(mean, scale * math.sqrt(post_var) * torch.ones_like(mean)), 1)

    return proposal


X = torch.tensor([[-2.0], [0.0], [0.7], [3.0]], dtype=torch.float64)


def _mean_bound(k, proposal, reps=400, seed=0):
    gen = torch.Generator().manual_seed(seed)
    draws = torch.stack([iwae.importance_weighted_bound(_log_joint, proposal, X, k, generator=gen)
                         for _ in range(reps)])  # (reps, B)
    return draws.mean(0), draws.std(0) / math.sqrt(reps)


def test_bound_below_exact_log_px_and_tightens():
    exact = _log_px(X)
    proposal = _proposal(shift=0.8, scale=1.6)  # a poor proposal: a visible gap at k = 1
    means = [_mean_bound(k, proposal)[0] for k in (1, 10, 100)]
    for m in means:
        assert torch.all(m <= exact + 1e-3)
    assert torch.all(means[0] < means[1]) and torch.all(means[1] < means[2])
    assert torch.all(exact - means[0] > 0.2)  # the ELBO gap is real
    assert torch.all(exact - means[2] < 0.05)  # and k = 100 nearly closes it


def test_exact_posterior_gives_exact_log_px_for_every_k():
    gen = torch.Generator().manual_seed(1)
    for k in (1, 7):
        got = iwae.importance_weighted_bound(_log_joint, _proposal(), X, k, generator=gen)
        assert torch.allclose(got, _log_px(X), atol=1e-6)


def test_chunking_does_not_change_the_estimate():
    proposal = _proposal(shift=0.5)
    a = iwae.importance_weighted_bound(_log_joint, proposal, X, 50, chunk=7,
                                       generator=torch.Generator().manual_seed(3))
    b = iwae.importance_weighted_bound(_log_joint, proposal, X, 50, chunk=7,
                                       generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)  # seeded: reproducible
    gen = torch.Generator().manual_seed(4)
    whole = torch.stack([iwae.importance_weighted_bound(_log_joint, proposal, X, 50, generator=gen)
                         for _ in range(200)]).mean(0)
    chunked = torch.stack([iwae.importance_weighted_bound(_log_joint, proposal, X, 50, chunk=7, generator=gen)
                           for _ in range(200)]).mean(0)
    assert torch.allclose(whole, chunked, atol=0.1)  # same estimator (a log k slip would be off by ~2 nats)


def test_log_mean_exp_is_stable():
    log_w = torch.tensor([[-1000.0, 0.0], [-1001.0, 0.0]])  # (k=2, B=2); exp(-1000) underflows to 0
    naive = torch.log(log_w.exp().mean(0))
    assert torch.isinf(naive[0])
    got = iwae.iwae_from_log_weights(log_w)
    want0 = -1000.0 + math.log((1 + math.exp(-1.0)) / 2)
    assert got[0].item() == pytest.approx(want0, abs=1e-4) and got[1].item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="k, B"):
        iwae.iwae_from_log_weights(torch.zeros(3))


def _trained_vae(mnist_small):
    train_x, _, test_x, _ = mnist_small
    torch.manual_seed(0)
    model = VAE(hidden_dim=64, latent_dim=4)
    from vae_course.objectives import ELBO
    from vae_course.training import fit

    fit(model, train_x, epochs=1, progress=False, objective=ELBO(binarize="dynamic"))
    return model, torch.bernoulli(test_x[:16], generator=torch.Generator().manual_seed(0))


def test_iwae_k1_is_the_elbo_in_expectation(mnist_small):
    model, x = _trained_vae(mnist_small)
    gen = torch.Generator().manual_seed(0)
    k1 = torch.stack([iwae.iwae_bound(model, x, 1, generator=gen) for _ in range(300)]).mean(0)  # (16,)
    torch.manual_seed(0)
    with torch.no_grad():
        elbo = torch.stack([model_elbo(model, x).elbo for _ in range(300)]).mean(0)  # analytic KL, sampled recon
    assert k1.shape == (16,)
    assert (k1.mean() - elbo.mean()).abs().item() < 1.0  # per-image ELBOs are ~ -200 nats here
    assert torch.allclose(k1, elbo, atol=4.0)


def test_iwae_is_monotone_in_k_on_average(mnist_small):
    model, x = _trained_vae(mnist_small)
    gen = torch.Generator().manual_seed(0)
    means = [torch.stack([iwae.iwae_bound(model, x, k, generator=gen) for _ in range(5)]).mean().item()
             for k in (1, 10, 100)]
    assert means[0] < means[1] < means[2]


def test_iwae_bound_is_reproducible_and_chunk_independent(mnist_small):
    model, x = _trained_vae(mnist_small)
    a = iwae.iwae_bound(model, x, 20, batch_size=8, chunk=5, generator=torch.Generator().manual_seed(5))
    b = iwae.iwae_bound(model, x, 20, batch_size=8, chunk=5, generator=torch.Generator().manual_seed(5))
    c = iwae.iwae_bound(model, x, 20, generator=torch.Generator().manual_seed(6))
    assert a.shape == (16,) and torch.equal(a, b)
    assert (a.mean() - c.mean()).abs().item() < 2.0  # other draws, same estimator
    assert torch.all(a < 0)  # binary images: a pmf, so log p(x) < 0


def test_estimate_log_likelihood_fields(mnist_small):
    model, x = _trained_vae(mnist_small)
    est = iwae.estimate_log_likelihood(model, x, k=5, seed=0)
    assert est.k == 5 and est.n == 16 and est.nll == pytest.approx(-est.mean) and est.stderr > 0
    assert "NLL <=" in str(est)


def test_bad_arguments():
    model = VAE(latent_dim=2)
    x = torch.rand(2, 784)
    with pytest.raises(ValueError, match="k=0"):
        iwae.iwae_bound(model, x, 0)
    with pytest.raises(ValueError, match="batch_size"):
        iwae.iwae_bound(model, x, 2, batch_size=0)
    with pytest.raises(ValueError, match="non-empty float"):
        iwae.iwae_bound(model, torch.zeros(2, 784, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="log_joint returned"):
        iwae.importance_weighted_bound(lambda x, z: torch.zeros(3), _proposal(), X, 2)


def test_bounds_from_log_weights_groups_disjoint_samples():
    gen = torch.Generator().manual_seed(0)
    log_w = torch.randn(12, 3, generator=gen, dtype=torch.float64)
    out = iwae.bounds_from_log_weights(log_w, (1, 4, 12))
    assert torch.allclose(out[1], log_w.mean(0))
    assert torch.allclose(out[12], iwae.iwae_from_log_weights(log_w))
    want4 = torch.stack([iwae.iwae_from_log_weights(log_w[i:i + 4]) for i in (0, 4, 8)]).mean(0)
    assert torch.allclose(out[4], want4)
    with pytest.raises(ValueError, match="divide"):
        iwae.bounds_from_log_weights(log_w, (5,))


def test_iwae_curve_matches_separate_bounds(mnist_small):
    model, x = _trained_vae(mnist_small)
    curve = iwae.iwae_curve(model, x, ks=(1, 10, 100), batch_size=8, seed=0)
    assert set(curve) == {1, 10, 100} and all(v.shape == (16,) for v in curve.values())
    assert curve[1].mean() < curve[10].mean() < curve[100].mean()
    separate = iwae.iwae_bound(model, x, 100, generator=torch.Generator().manual_seed(9))
    assert (curve[100].mean() - separate.mean()).abs().item() < 2.0


def test_agrees_with_the_course_toy():
    toy_mod = pytest.importorskip("vae_course.theory.toy")
    toy = toy_mod.LinearGaussian(w=W, b=B, s=S)
    assert torch.allclose(toy.log_marginal(X[:, 0]), _log_px(X), atol=1e-12)
    gen = torch.Generator().manual_seed(2)
    proposal = _proposal(shift=0.8, scale=1.6)
    draws = torch.stack([iwae.importance_weighted_bound(lambda x, z: toy.log_joint(x[:, 0], z[..., 0]), proposal, X,
                                                        10, generator=gen) for _ in range(300)])  # (300, 4)
    assert torch.all(draws.mean(0) <= toy.log_marginal(X[:, 0]) + 1e-3)


def test_iwae_curve_needs_ks():
    import pytest
    import torch

    from vae_course.evaluation import iwae_curve
    from vae_course.models import VAE

    with pytest.raises(ValueError, match="at least one k"):
        iwae_curve(VAE(), torch.rand(4, 784), ks=())


def test_log_joint_teacher_forces_decoders_that_read_x():
    import torch

    from vae_course.models import AutoregressiveVAE
    from vae_course.evaluation import vae_log_joint

    torch.manual_seed(0)
    model = AutoregressiveVAE(latent_dim=4, decoder_hidden_dim=16, local_hidden_dim=4).eval()
    x = torch.bernoulli(torch.full((3, 784), 0.3))
    z = torch.randn(2, 3, 4)  # (c, B, D)
    got = vae_log_joint(model)(x, z)  # (c, B)
    prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    for c in range(2):
        logits = model.decode_logits(z[c], context=x)
        want = prior[c] - torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        assert torch.allclose(got[c], want, atol=1e-3)


# --- issue 13: the IWAE bound refuses images outside [0, 1] and NaN; chunk is named in its own error ---------------
@pytest.mark.parametrize("x, match", [(torch.rand(3, 784) * 255, r"\[0, 1\]"),
                                      (torch.full((3, 784), math.nan), "NaN")])
def test_iwae_bound_refuses_bad_images(x, match):
    with pytest.raises(ValueError, match=match):
        iwae.iwae_bound(VAE(), x, k=2)


def test_chunk_is_named_in_its_own_error():
    with pytest.raises(ValueError, match="^chunk=0 "):
        iwae.iwae_bound(VAE(), torch.rand(3, 784), k=4, chunk=0)


def test_iwae_bound_under_a_learned_prior_uses_its_log_prob():
    from vae_course.objectives import priors
    from vae_course.models import VAE

    torch.manual_seed(0)
    model = VAE(784, 16, 2)
    x = torch.bernoulli(torch.rand(6, 784, generator=torch.Generator().manual_seed(1)))

    def bound(prior):
        return iwae.iwae_bound(model, x, 20, batch_size=3, generator=torch.Generator().manual_seed(2), prior=prior)

    # the standard prior as a Prior object gives the default bound, draw for draw
    torch.testing.assert_close(bound(priors.StandardNormalPrior(2)), bound(None), rtol=0, atol=1e-5)
    # a prior shifted far from the codes lowers every image's bound by the change in log p(z) at the same draws
    mix = priors.MixtureOfGaussiansPrior(2, num_components=1, seed=0)
    with torch.no_grad():
        mix.means.fill_(0.0), mix.logvars.fill_(0.0)
    torch.testing.assert_close(bound(mix), bound(None), rtol=0, atol=1e-4)  # one N(0, I) component: the same
    with torch.no_grad():
        mix.means.fill_(6.0)
    assert (bound(mix) < bound(None) - 5).all()
    with pytest.raises(TypeError, match="prior must have a log_prob"):
        iwae.iwae_bound(model, x, 2, prior="vamp")
