"""Cached training runs with per-image scores (vae_course.training.runs): notebooks 09, 10 and 12's seed spreads."""
import math
from types import SimpleNamespace

import pytest
import torch

from vae_course.evaluation import evaluate
from vae_course.models import CVAE, VAE
from vae_course.training import (History, load_or_fit, load_or_train_run, objective_settings, per_image_elbo,
                                 run_key)


def _plain_elbo(**settings):
    base = dict(likelihood="bernoulli", sigma=1.0, beta=1.0, warmup_epochs=0, free_bits=0.0, prior=None)
    return SimpleNamespace(**{**base, **settings})


def test_per_image_scores_average_to_evaluate_and_pair_image_by_image(mnist_small):
    _, _, test_x, test_y = mnist_small
    torch.manual_seed(0)
    model = VAE(latent_dim=2)
    scores = per_image_elbo(model, test_x, seed=3, batch_size=100)
    assert set(scores) == {"loss", "recon", "kl"} and scores["loss"].shape == (len(test_x),)
    assert torch.allclose(scores["loss"], scores["recon"] + scores["kl"])
    assert math.isclose(scores["loss"].mean().item(), evaluate(model, test_x, seed=3, batch_size=100)["loss"],
                        rel_tol=1e-6)
    again = per_image_elbo(model, test_x[:10], seed=3, batch_size=100)  # the first images, with the same noise
    assert torch.allclose(again["kl"], scores["kl"][:10])  # the KL is closed form: it does not depend on the noise
    assert not torch.equal(per_image_elbo(model, test_x, seed=4)["recon"], scores["recon"])  # other noise
    with pytest.raises(ValueError, match="labels"):
        per_image_elbo(CVAE(latent_dim=2), test_x)
    cond = per_image_elbo(CVAE(latent_dim=2), test_x, test_y)
    assert cond["loss"].shape == (len(test_x),)


def test_a_run_is_trained_once_and_loaded_while_its_key_matches(tmp_path):
    calls = []

    def train():
        calls.append(1)
        torch.manual_seed(len(calls))
        return VAE(hidden_dim=8, latent_dim=2), History(train_loss=[1.0], test_loss=[2.0])

    score = lambda model: {"loss": torch.arange(3.0), "n": 3}  # noqa: E731
    key = {"seed": 0, "epochs": 1}
    first = load_or_train_run("toy_s0", key, train, score, history_type=History, folder=tmp_path)
    second = load_or_train_run("toy_s0", key, train, score, history_type=History, folder=tmp_path)
    assert (first.trained, second.trained, len(calls)) == (True, False, 1)
    assert isinstance(second.history, History) and second.history.test_loss == [2.0]
    assert torch.equal(second.scores["loss"], torch.arange(3.0)) and second.scores["n"] == 3
    for (a, b) in zip(first.model.parameters(), second.model.parameters()):
        assert torch.equal(a, b)
    third = load_or_train_run("toy_s0", {"seed": 1, "epochs": 1}, train, score, folder=tmp_path)  # another key
    assert third.trained and len(calls) == 2
    fourth = load_or_train_run("toy_s0", {"seed": 1, "epochs": 1}, train, score, folder=tmp_path, retrain=True)
    assert fourth.trained and len(calls) == 3
    (tmp_path / "toy_s0.pt").write_bytes(b"not a checkpoint")  # a damaged file is trained again, not an error
    assert load_or_train_run("toy_s0", {"seed": 1, "epochs": 1}, train, score, folder=tmp_path).trained


def test_bad_names_keys_and_scores_get_one_clear_sentence(tmp_path):
    train = lambda: (VAE(hidden_dim=8, latent_dim=2), History())  # noqa: E731
    with pytest.raises(ValueError, match="file stem"):
        load_or_train_run("../escape", {}, train, lambda m: {}, folder=tmp_path)
    with pytest.raises(TypeError, match="numbers, strings"):
        load_or_train_run("ok", {"model": VAE()}, train, lambda m: {}, folder=tmp_path)
    with pytest.raises(TypeError, match="dict"):
        load_or_train_run("ok", {}, train, lambda m: [1, 2], folder=tmp_path)
    with pytest.raises(ValueError, match="prior"):
        objective_settings(_plain_elbo(prior=object()))
    with pytest.raises(TypeError, match="ELBO"):
        objective_settings(lambda model, x, y: None)


def test_the_key_changes_with_what_decides_a_run(mnist_small):
    train_x, _, test_x, _ = mnist_small
    base = run_key(VAE(latent_dim=2), train_x, test_x, epochs=2)
    assert base == run_key(VAE(latent_dim=2), train_x, test_x, epochs=2)
    assert base["objective"] == objective_settings(None) == objective_settings(_plain_elbo())
    others = [run_key(VAE(latent_dim=3), train_x, test_x, epochs=2),
              run_key(VAE(latent_dim=2), train_x[:100], test_x, epochs=2),
              run_key(VAE(latent_dim=2), train_x.flip(0) * 0.5, test_x, epochs=2),
              run_key(VAE(latent_dim=2), train_x, test_x[:10], epochs=2),
              run_key(VAE(latent_dim=2), train_x, test_x, epochs=3),
              run_key(VAE(latent_dim=2), train_x, test_x, epochs=2, seed=1),
              run_key(VAE(latent_dim=2), train_x, test_x, epochs=2, objective=_plain_elbo(free_bits=0.25)),
              run_key(VAE(latent_dim=2), train_x, test_x, epochs=2, binarize="dynamic")]
    assert all(k != base for k in others)


def test_load_or_fit_trains_a_seed_once_and_scores_every_test_image(tmp_path, mnist_small):
    train_x, train_y, test_x, test_y = mnist_small
    make = lambda: VAE(hidden_dim=16, latent_dim=2)  # noqa: E731
    run = load_or_fit("mlp_s0", make, train_x[:256], test_x, epochs=1, seed=0, folder=tmp_path)
    again = load_or_fit("mlp_s0", make, train_x[:256], test_x, epochs=1, seed=0, folder=tmp_path)
    other = load_or_fit("mlp_s1", make, train_x[:256], test_x, epochs=1, seed=1, folder=tmp_path)
    assert run.trained and not again.trained and other.trained
    assert torch.equal(run.scores["loss"], again.scores["loss"]) and run.scores["loss"].shape == (len(test_x),)
    assert math.isclose(run.scores["loss"].mean().item(), evaluate(again.model, test_x)["loss"], rel_tol=1e-6)
    assert not torch.equal(run.scores["loss"], other.scores["loss"])  # another seed, another model
    cond = load_or_fit("cvae_s0", lambda: CVAE(latent_dim=2), train_x[:256], test_x, epochs=1,
                       labels=(train_y[:256], test_y), folder=tmp_path)
    assert cond.key["conditional"] is True and cond.scores["loss"].shape == (len(test_x),)
    with pytest.raises(ValueError, match="labels"):
        load_or_fit("bad", make, train_x[:256], test_x, epochs=1, labels=train_y[:256], folder=tmp_path)
