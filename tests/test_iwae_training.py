"""Notebook 08's cached results (vae_course.training.iwae_training): IWAE-trained models are trained once per seed, scored
once (per-image scores included) and reloaded only for the same recipe and data; gap splits are reused only for the
same weights, images and settings."""
import pytest
import torch

from vae_course import config
from vae_course.evaluation import gap_split
from vae_course.models import VAE
from vae_course.training import iwae_training as it


@pytest.fixture
def ck(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_COURSE_CHECKPOINTS", str(tmp_path))
    return config.checkpoint_dir()  # tmp_path/quick in quick mode


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return VAE(input_dim=20, hidden_dim=16, latent_dim=2)


def binary(n=6, seed=1):
    return torch.bernoulli(torch.rand(n, 20, generator=torch.Generator().manual_seed(seed)))


SETTINGS = dict(steps=5, n_samples=8, eval_samples=20, k=10)


def test_a_gap_split_is_computed_once_and_then_loaded(ck):
    model, x = tiny_model(), binary()
    first, how = it.cached_gap_split(model, x, "t", **SETTINGS)
    assert not how["loaded"] and (ck / "gaps_t.pt").is_file()
    again, how2 = it.cached_gap_split(model, x, "t", **SETTINGS)
    assert how2["loaded"] and how2["seconds"] == how["seconds"]
    torch.testing.assert_close(again.log_px, first.log_px, rtol=0, atol=0)
    torch.testing.assert_close(again.amortization_gap, first.amortization_gap, rtol=0, atol=0)
    fresh = gap_split(model, x, **SETTINGS)  # the cache holds what gap_split computes
    torch.testing.assert_close(fresh.elbo_optimised, first.elbo_optimised)


@pytest.mark.parametrize("change", ["weights", "images", "settings"])
def test_a_gap_split_is_recomputed_when_anything_changes(ck, change):
    model, x = tiny_model(), binary()
    it.cached_gap_split(model, x, "t", **SETTINGS)
    settings = dict(SETTINGS)
    if change == "weights":
        with torch.no_grad():
            next(model.parameters()).view(-1)[0] += 1e-3
    elif change == "images":
        x = binary(seed=2)
    else:
        settings["steps"] = 6
    _, how = it.cached_gap_split(model, x, "t", **settings)
    assert not how["loaded"]


def test_the_weights_fingerprint_sees_a_swap_of_two_weights():
    model = tiny_model()
    before = it.weights_fingerprint(model)
    with torch.no_grad():
        w = next(model.parameters()).view(-1)
        w[0], w[1] = w[1].clone(), w[0].clone()
    assert it.weights_fingerprint(model) != before


def fake_mnist(split, binarize=None, limit=None, seed=0, **_):
    gen = torch.Generator().manual_seed(0 if split == "train" else 1)
    n = 96 if split == "train" else 40
    x = torch.rand(n, 1, 28, 28, generator=gen)
    if binarize == "static":
        x = torch.bernoulli(x, generator=torch.Generator().manual_seed(seed))
    x = x if limit is None else x[:limit]
    return x, torch.zeros(len(x), dtype=torch.long)


TINY = dict(hidden_dim=16, latent_dim=2, epochs=1, batch_size=32, n_test_k=8, k_test=4, n_test_all=16)


def test_an_iwae_model_is_trained_scored_saved_and_then_loaded(ck, monkeypatch):
    monkeypatch.setattr("vae_course.data.load_mnist", fake_mnist)
    recipe = it.IWAERecipe(3, **TINY)
    run = it.load_or_train_iwae(recipe, verbose=False)
    assert not run.info["loaded"] and it.iwae_checkpoint_path(recipe).is_file()
    again = it.load_or_train_iwae(recipe, verbose=False)
    assert again.info["loaded"] and again.info["train_seconds"] == run.info["train_seconds"]
    for a, b in zip(run.model.parameters(), again.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    test_bin, _ = fake_mnist("test", binarize="static", seed=1)
    rescored = it.evaluate_model(again.model, recipe, test_bin)  # the stored scores are the model's own
    for key in ("elbo", "active_units"):
        assert rescored[key] == pytest.approx(again.scores[key], rel=1e-6)
    assert tuple(again.scores["nll_k"]) == pytest.approx(rescored["nll_k"], rel=1e-6)
    assert again.scores["nll_k"][0] > 0 and again.scores["n_all"] == 16
    # the per-image scores are stored, and they are the ones the means were made of
    per_image = again.scores["nll_per_image"]
    assert per_image.shape == (8,) and per_image.mean().item() == pytest.approx(again.scores["nll_k"][0], rel=1e-9)
    assert again.scores["elbo_per_image"].shape == (16,)
    assert again.scores["elbo_per_image"].mean().item() == pytest.approx(again.scores["elbo"], rel=1e-6)
    assert again.info["steps"] == 96 // 32  # one epoch of the 96 fake training images at batch 32


def test_each_seed_is_its_own_run(ck, monkeypatch):
    monkeypatch.setattr("vae_course.data.load_mnist", fake_mnist)
    r0, r1 = it.IWAERecipe(3, **TINY), it.IWAERecipe(3, seed=1, **TINY)
    assert it.iwae_checkpoint_path(r0) != it.iwae_checkpoint_path(r1)
    assert it.iwae_checkpoint_path(r1).name == "iwae_16_z2_k3_1ep_s1.pt"
    a = it.load_or_train_iwae(r0, verbose=False)
    b = it.load_or_train_iwae(r1, verbose=False)
    assert not b.info["loaded"]
    assert not torch.equal(next(a.model.parameters()), next(b.model.parameters()))
    assert it.load_or_train_iwae(r0, verbose=False).info["loaded"]


def test_another_k_or_other_training_images_train_anew(ck, monkeypatch):
    monkeypatch.setattr("vae_course.data.load_mnist", fake_mnist)
    it.load_or_train_iwae(it.IWAERecipe(3, **TINY), verbose=False)
    assert not it.load_or_train_iwae(it.IWAERecipe(1, **TINY), verbose=False).info["loaded"]
    fewer = it.IWAERecipe(3, **{**TINY, "train_limit": 64})  # the same file name, another recipe
    assert it.iwae_checkpoint_path(fewer) == it.iwae_checkpoint_path(it.IWAERecipe(3, **TINY))
    assert not it.load_or_train_iwae(fewer, verbose=False).info["loaded"]


def test_a_checkpoint_with_fewer_scores_is_made_again(ck, monkeypatch):
    """A checkpoint from an older course version (its scores lack a key, here the per-image scores) is trained and
    scored anew, not loaded into a KeyError in notebook 08."""
    from vae_course.training import load_checkpoint, read_checkpoint, save_checkpoint

    monkeypatch.setattr("vae_course.data.load_mnist", fake_mnist)
    recipe = it.IWAERecipe(3, **TINY)
    run = it.load_or_train_iwae(recipe, verbose=False)
    path = it.iwae_checkpoint_path(recipe)
    assert set(it.SCORE_KEYS) == set(run.scores)  # the list is the scores evaluate_model makes
    extra = read_checkpoint(path)["extra"]
    extra["scores"].pop("nll_per_image")
    model, hist = load_checkpoint(path, with_history=True)
    save_checkpoint(model, path, None, extra=extra)
    again = it.load_or_train_iwae(recipe, verbose=False)
    assert not again.info["loaded"] and torch.equal(again.scores["nll_per_image"], run.scores["nll_per_image"])
    assert it.load_or_train_iwae(recipe, verbose=False).info["loaded"]


def test_recipes():
    assert it.iwae_recipe(50, quick=False) == it.IWAERecipe(50)
    assert it.iwae_recipe(50, quick=False, seed=2) == it.IWAERecipe(50, seed=2)
    quick = it.iwae_recipe(5, quick=True)
    assert quick.k == 5 and quick.epochs == 1 and quick.train_limit == 1024
    assert "L_50" in it.IWAERecipe(50).describe() and "seed 0" in it.IWAERecipe(50).describe()
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="positive whole number"):
            it.IWAERecipe(bad)
    with pytest.raises(ValueError, match="seed=-1 must be a whole number >= 0"):
        it.IWAERecipe(5, seed=-1)


def test_the_full_mode_recipe_scores_2000_test_images_with_k_100_and_the_elbo_on_all(ck, monkeypatch):
    full = it.iwae_recipe(50, quick=False)
    assert full.epochs == 2 and full.n_test_k == 2000 and full.k_test == 100 and full.n_test_all is None
    monkeypatch.setattr("vae_course.data.load_mnist", fake_mnist)
    recipe = it.IWAERecipe(2, **{**TINY, "n_test_k": None, "n_test_all": None})
    test_bin, _ = fake_mnist("test", binarize="static", seed=1)
    run = it.load_or_train_iwae(recipe, verbose=False)
    assert run.scores["n_k"] == run.scores["n_all"] == len(test_bin)  # None: every test image, both columns
    with pytest.raises(ValueError, match="n_test_k=0 must be a positive whole number or None"):
        it.IWAERecipe(2, n_test_k=0)
