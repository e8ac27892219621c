"""Notebook 11's VAEs trained with a learned prior (vae_course.training.pretrained: PriorRecipe, load_or_train_with_prior,
PriorRun.test_scores): one cached checkpoint per prior and seed, with the costly test scores stored next to it."""
import math

import pytest
import torch

from vae_course.evaluation import evaluate, hole_mass, iwae_bound
from vae_course.models import VAE
from vae_course.objectives import ELBO
from vae_course.training import build_prior, load_or_train_with_prior, make_prior_recipe


@pytest.fixture
def tiny(mnist_small):
    train_x, _, test_x, _ = mnist_small
    test_b = torch.bernoulli(test_x[:40], generator=torch.Generator().manual_seed(1))
    return train_x[:256], test_b


@pytest.mark.parametrize("kind,components", [("standard", 0), ("mixture", 3), ("vamp", 4)])
def test_a_vae_with_a_learned_prior_is_trained_saved_and_then_loaded(tmp_path, tiny, kind, components):
    train_x, _ = tiny
    first = load_or_train_with_prior(kind, train_x, components=components, epochs=1, folder=tmp_path)
    assert first.trained and first.path == tmp_path / f"nb11_{kind}_z2_1ep_s0.pt" and first.path.is_file()
    assert first.extra["steps"] == first.recipe.steps == 2  # 256 images at batch 128
    first.save(note={"k": 10, "mean": 123.0})  # anything small is stored next to the model
    again = load_or_train_with_prior(kind, train_x, components=components, epochs=1, folder=tmp_path)
    assert not again.trained and again.extra["note"] == {"k": 10, "mean": 123.0}
    for a, b in zip([*first.model.parameters(), *first.prior.parameters()],
                    [*again.model.parameters(), *again.prior.parameters()]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    z = torch.randn(7, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(first.prior.log_prob(z), again.prior.log_prob(z))
    if kind != "standard":  # the prior was trained with the model: its parameters moved from their start
        start = build_prior(first.recipe, VAE(784, 400, 2), train_x)
        assert any(not torch.equal(a, b) for a, b in zip(first.prior.parameters(), start.parameters()))


def test_each_seed_is_its_own_run(tmp_path, tiny):
    train_x, _ = tiny
    s0 = load_or_train_with_prior("mixture", train_x, components=3, epochs=1, folder=tmp_path)
    s1 = load_or_train_with_prior("mixture", train_x, components=3, epochs=1, seed=1, folder=tmp_path)
    assert s1.trained and s1.path.name == "nb11_mixture_z2_1ep_s1.pt"
    assert not torch.equal(next(s0.model.parameters()), next(s1.model.parameters()))
    assert not torch.equal(s0.prior.means, s1.prior.means)
    std1 = load_or_train_with_prior("standard", train_x, epochs=1, seed=1, folder=tmp_path)
    assert std1.trained and not load_or_train_with_prior("mixture", train_x, components=3, epochs=1, seed=1,
                                                         folder=tmp_path).trained
    with pytest.raises(ValueError, match="seed=-2 must be a whole number >= 0"):
        make_prior_recipe("standard", train_x, seed=-2)


def test_another_prior_recipe_trains_anew_and_bad_kinds_are_refused(tmp_path, tiny):
    train_x, _ = tiny
    load_or_train_with_prior("mixture", train_x, components=3, epochs=1, folder=tmp_path)
    assert load_or_train_with_prior("mixture", train_x, components=2, epochs=1, folder=tmp_path).trained
    assert load_or_train_with_prior("mixture", train_x[:128], components=2, epochs=1, folder=tmp_path).trained
    with pytest.raises(ValueError, match="kind='flow' must be one of 'standard', 'mixture', 'vamp'"):
        make_prior_recipe("flow", train_x)
    with pytest.raises(ValueError, match="components=0 must be a positive whole number for the vamp prior"):
        make_prior_recipe("vamp", train_x, components=0)


@pytest.mark.parametrize("kind,components", [("standard", 0), ("vamp", 4)])
def test_test_scores_are_computed_once_stored_and_are_the_models_own(tmp_path, tiny, kind, components):
    train_x, test_b = tiny
    run = load_or_train_with_prior(kind, train_x, components=components, epochs=1, folder=tmp_path)
    scores, how = run.test_scores(test_b, k=20, n=30, draws=500)
    assert not how["loaded"] and how["seconds"] > 0
    assert scores["nll"].shape == (30,) and scores["elbo"].shape == (40,)
    assert scores["nll_mean"] == pytest.approx(scores["nll"].mean().item(), rel=1e-12)
    # the stored bound is iwae_bound under the model's own prior, the same draws
    direct = -iwae_bound(run.model, test_b[:30], 20, prior=run.prior, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(scores["nll"], direct.double())
    # the per-image ELBO is evaluate()'s, image by image
    assert scores["elbo_mean"] == pytest.approx(
        evaluate(run.model, test_b, objective=ELBO(prior=run.prior), seed=0)["loss"], rel=1e-6)
    # L_k >= L_1 in expectation: the k = 20 bound is not looser than the ELBO on the same images (beyond noise)
    diff = scores["elbo"][:30] - scores["nll"]
    assert diff.mean() > -4 * diff.std() / math.sqrt(30)
    with torch.no_grad():
        mu, logvar = run.model.encode(test_b.reshape(40, -1))
    assert scores["hole_mass"] == hole_mass(mu, logvar, run.prior, draws=500, seed=0).mass
    assert 0 <= scores["hole_mass"] <= 1 and scores["kl_p_q_se"] > 0 and scores["marginal_kl_se"] > 0
    again = load_or_train_with_prior(kind, train_x, components=components, epochs=1, folder=tmp_path)
    stored, how2 = again.test_scores(test_b, k=20, n=30, draws=500)
    assert how2["loaded"] and how2["seconds"] == how["seconds"]
    torch.testing.assert_close(stored["nll"], scores["nll"], rtol=0, atol=0)
    _, how3 = again.test_scores(test_b, k=10, n=30, draws=500)  # other settings: computed anew
    assert not how3["loaded"]


def test_kl_p_q_is_zero_when_the_codes_fill_the_prior_and_large_when_they_cluster(tmp_path, tiny):
    """KL(p || q(z)) charges prior mass where the aggregate posterior q(z) has little: with posteriors spread like
    N(0, I) it is near 0; with all codes in one tight cluster, far from most of the prior's mass, it is large."""
    from vae_course.evaluation import aggregate_log_prob
    from vae_course.objectives import StandardNormalPrior

    prior = StandardNormalPrior(2)
    gen = torch.Generator().manual_seed(0)
    z = prior.sample(4000, generator=torch.Generator().manual_seed(1))
    spread_mu = torch.randn(2000, 2, generator=gen) * math.sqrt(1 - 0.25)  # q(z) -> N(0, 0.75 I + 0.25 I) = p
    spread = (prior.log_prob(z) - aggregate_log_prob(z, spread_mu, torch.full((2000, 2), math.log(0.25)))).mean()
    cluster_mu = 0.1 * torch.randn(2000, 2, generator=gen) + 1.0
    cluster = (prior.log_prob(z) - aggregate_log_prob(z, cluster_mu, torch.full((2000, 2), math.log(0.01)))).mean()
    assert abs(spread.item()) < 0.05 and cluster.item() > 5
