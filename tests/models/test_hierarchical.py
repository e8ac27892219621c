"""vae_course.models.hierarchical (notebook 13): the two-layer ELBO equals log p(x, z) - log q(z|x) on its samples,
the per-layer KL terms, the precision-weighted merge, L_k >= the ELBO on average, samples, bad input."""
import math

import pytest
import torch

from vae_course.evaluation import active_units_per_layer, structured_gap_split, structured_iwae
from vae_course.models import HierarchicalVAE, gaussian_kl_pair, precision_weighted_merge
from vae_course.training import DeeperRecipe, StructuredELBO, fit

F64 = torch.float64


def small(inference):
    torch.manual_seed(0)
    return HierarchicalVAE(784, 16, 4, 3, inference).double()


def images(n=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.full((n, 784), 0.2, dtype=F64), generator=gen)


@pytest.mark.parametrize("inference", ["top-down", "bottom-up"])
def test_elbo_terms_equal_log_joint_minus_log_q_on_the_same_sample(inference):
    """recon + KL_1 + KL_2 from elbo_terms equals E_q[log q - log p(x, z)] estimated on its own draw: for the
    top-down model the KLs are closed forms given z2, so compare on average over many draws of the same image."""
    model = small(inference)
    x = images(2)
    theta = model.local_params(x)
    torch.manual_seed(1)
    n = 20_000
    eps = torch.randn(n, 2, model.noise_dim, dtype=F64)
    z, log_q = model.sample_local(theta, eps)
    mc = (model.log_joint(x, z) - log_q).mean(0)  # (2,) Monte-Carlo ELBO
    se = (model.log_joint(x, z) - log_q).std(0) / math.sqrt(n)
    torch.manual_seed(2)
    terms = [model.elbo_terms(x) for _ in range(2000)]
    elbo = -torch.stack([r + sum(k) for r, k in terms]).mean(0)  # (2,)
    se2 = torch.stack([r + sum(k) for r, k in terms]).std(0) / math.sqrt(2000)
    assert torch.all((elbo - mc).abs() < 4 * torch.hypot(se, se2))


def test_top_down_sample_by_sample_identity():
    """On one draw (z1, z2): log p(x, z) - log q(z|x) = log p(x|z1) - [log q(z1|z2,x) - log p(z1|z2)]
    - [log q(z2|x) - log p(z2)], term by term with the Gaussians' log densities."""
    model = small("top-down")
    x = images(3)
    theta = model.local_params(x)
    eps = torch.randn(1, 3, model.noise_dim, dtype=F64)
    z1, z2, (mu1, lv1), (mu2, lv2), (mp, lp) = model._q_layers(theta, eps)
    z, log_q = model.sample_local(theta, eps)
    normal = lambda v, m, lv: torch.distributions.Normal(m, torch.exp(0.5 * lv)).log_prob(v).sum(-1)  # noqa: E731
    rhs = (model.bernoulli_log_lik(x, z1) - (normal(z1, mu1, lv1) - normal(z1, mp, lp))
           - (normal(z2, mu2, lv2) - normal(z2, torch.zeros_like(z2), torch.zeros_like(z2))))
    assert torch.allclose(model.log_joint(x, z) - log_q, rhs, atol=1e-10)


def test_precision_weighted_merge_is_the_normalised_product():
    """N(z; mu_hat, s_hat^2) N(z; mu_p, s_p^2) is proportional to N(z; mu, s^2): the log-ratio is constant in z."""
    mu_hat, lv_hat, mu_p, lv_p = (torch.tensor([v], dtype=F64) for v in (1.5, -1.0, -0.5, 0.7))
    mu, lv = precision_weighted_merge(mu_hat, lv_hat, mu_p, lv_p)
    z = torch.linspace(-3, 3, 7, dtype=F64)[:, None]
    log_n = lambda m, v: torch.distributions.Normal(m, torch.exp(0.5 * v)).log_prob(z)[:, 0]  # noqa: E731
    ratio = log_n(mu_hat, lv_hat) + log_n(mu_p, lv_p) - log_n(mu, lv)
    assert torch.allclose(ratio, ratio[0].expand_as(ratio), atol=1e-12)
    assert lv < min(lv_hat, lv_p)


def test_gaussian_kl_pair_matches_torch():
    gen = torch.Generator().manual_seed(3)
    a, b, c, d = (torch.randn(4, 5, generator=gen, dtype=F64) for _ in range(4))
    want = torch.distributions.kl_divergence(torch.distributions.Normal(a, torch.exp(0.5 * b)),
                                             torch.distributions.Normal(c, torch.exp(0.5 * d))).sum(-1)
    assert torch.allclose(gaussian_kl_pair(a, b, c, d), want)


@pytest.mark.parametrize("inference", ["top-down", "bottom-up"])
def test_iw_bound_is_above_the_elbo_on_average(inference):
    model = small(inference)
    x = images(8, seed=4)
    curve = structured_iwae(model, x, ks=(1, 50), seed=0)
    assert curve[50].mean() > curve[1].mean()
    assert torch.all(curve[1] < 0)


def test_training_lowers_the_loss_and_scores_run():
    torch.manual_seed(0)
    model = DeeperRecipe("top-down", hidden_dim=32, latent_dim=4, z2_dim=2).build()
    gen = torch.Generator().manual_seed(0)
    train = torch.rand(512, 784, generator=gen) ** 3
    hist = fit(model, train, objective=StructuredELBO(), epochs=3, batch_size=64, device="cpu", progress=False)
    assert hist.train_loss[-1] < hist.train_loss[0]
    x = torch.bernoulli(train[:20], generator=gen)
    assert len(active_units_per_layer(model, x)) == 2
    split = structured_gap_split(model, x[:4], steps=5, n_samples=8, k=20, eval_samples=40)
    assert split.log_px.shape == (4,) and torch.all(split.elbo_optimised > split.elbo_encoder - 2.0)


def test_samples_are_pixel_means():
    model = small("bottom-up")
    s = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert s.shape == (5, 1, 28, 28) and s.min() >= 0 and s.max() <= 1


@pytest.mark.parametrize("kwargs, words", [
    ({"inference": "sideways"}, "inference='sideways' is not known"),
    ({"z2_dim": 0}, "z2_dim=0 must be a positive whole number"),
])
def test_bad_config_is_one_sentence(kwargs, words):
    with pytest.raises(ValueError) as err:
        HierarchicalVAE(**kwargs)
    assert words in str(err.value)


def test_bad_inputs_are_one_sentence():
    model = small("top-down")
    with pytest.raises(ValueError, match="binary"):
        structured_iwae(model, torch.full((2, 784), 0.5, dtype=F64))
    with pytest.raises(ValueError, match="ks="):
        structured_iwae(model, images(2), ks=(3, 10))
    with pytest.raises(TypeError, match="notebook 13's models"):
        structured_iwae(torch.nn.Linear(2, 2), images(2))
    with pytest.raises(ValueError, match="k=0 must be a positive whole number"):
        model.log_weights(images(2), 0)
    with pytest.raises(TypeError, match="StructuredELBO trains notebook 13's models"):
        StructuredELBO()(torch.nn.Linear(2, 2), images(2))
    with pytest.raises(ValueError, match="kind='deep' is not known"):
        DeeperRecipe("deep")
