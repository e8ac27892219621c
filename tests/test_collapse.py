import math

import pytest
import torch

from vae_course.evaluation import (active_units, collapse_summary, count_active_units, kl_per_dim, posterior_params,
                                    unit_activity)
from vae_course.models import VAE
from vae_course.objectives import gaussian_kl


def test_unit_activity_and_count_on_known_means():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(5000, 4, generator=g) * torch.tensor([1.0, 0.3, 0.05, 0.0])  # variances 1, 0.09, 0.0025, 0
    act = unit_activity(mu)
    assert act.shape == (4,)
    assert act[0] == pytest.approx(1.0, rel=0.05) and act[1] == pytest.approx(0.09, rel=0.05)
    assert act[3] == 0
    assert count_active_units(mu) == 2
    assert count_active_units(mu, threshold=0.001) == 3
    assert count_active_units(mu + 7.0) == 2  # a constant shift changes nothing: it is a variance


def test_active_units_of_a_model_with_dead_dimensions():
    torch.manual_seed(0)
    model = VAE(latent_dim=5)
    with torch.no_grad():  # dimensions 3 and 4 ignore the image: their mean is a constant
        model.fc_mu.weight[3:].zero_()
        model.fc_mu.weight[:3].mul_(20.0)
    x = torch.rand(300, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    assert active_units(model, x) == 3
    assert active_units(model, x, threshold=1e9) == 0
    summary = collapse_summary(model, x)
    assert summary.active == 3 and summary.latent_dim == 5
    assert summary.kl == pytest.approx(gaussian_kl(*model.encode(x)).mean().item(), rel=1e-4)


def test_kl_per_dim_sums_to_the_kl():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(64, 6, generator=g), torch.randn(64, 6, generator=g)
    per = kl_per_dim(mu, logvar)
    assert per.shape == (6,) and bool((per >= 0).all())
    assert per.sum().item() == pytest.approx(gaussian_kl(mu, logvar).mean().item(), rel=1e-5)
    assert kl_per_dim(torch.zeros(3, 2), torch.zeros(3, 2)).abs().max().item() == 0  # q = prior: KL 0


def test_posterior_params_batches_and_validates():
    torch.manual_seed(0)
    model = VAE(latent_dim=3)
    x = torch.rand(25, 784)
    mu, logvar = posterior_params(model, x, batch_size=7)
    want_mu, want_lv = model.encode(x)
    assert mu.shape == (25, 3) and torch.allclose(mu, want_mu, atol=1e-6) and torch.allclose(logvar, want_lv, atol=1e-6)
    with pytest.raises(ValueError):
        posterior_params(model, torch.rand(0, 784))
    with pytest.raises(ValueError):
        unit_activity(torch.zeros(1, 3))
    with pytest.raises(ValueError):
        count_active_units(torch.zeros(4, 3), threshold=-1.0)


def test_active_units_need_labels_for_a_conditional_model():
    from vae_course.models import CVAE

    torch.manual_seed(0)
    model = CVAE(latent_dim=3)
    x, y = torch.rand(20, 784), torch.arange(20) % 10
    with pytest.raises(ValueError, match="labels"):
        active_units(model, x)
    assert 0 <= active_units(model, x, labels=y) <= 3


def test_collapse_runs_train_on_binary_images_and_refuse_grey_test_sets(monkeypatch, mnist_small):
    import vae_course.training.fit_loop as fit_loop
    from vae_course.training import History, collapse_run, objective_settings, remedy_runs

    calls = []

    def fake_fit(model, train_images, test_images, *, objective=None, **kwargs):  # records the request, trains nothing
        calls.append({"objective": objective_settings(objective), **kwargs})
        return History()

    monkeypatch.setattr(fit_loop, "fit", fake_fit)
    train_x, _, test_x, _ = mnist_small
    test_b = torch.bernoulli(test_x[:32], generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="binary"):
        collapse_run("grey", train_x, test_x[:32], epochs=1)  # a grey test set bounds nothing here
    with pytest.raises(ValueError, match="binary"):
        collapse_run("grey", train_x, test_b, epochs=1, binarize=None)  # grey training images, not binarized
    assert calls == []
    row = collapse_run("plain", train_x, test_b, epochs=1, lr=3e-3)
    assert calls[-1]["objective"]["binarize"] == "dynamic" and calls[-1]["lr"] == 3e-3
    assert row["run"] == "plain" and row["latent_dim"] == 16 and math.isfinite(row["neg_elbo"])
    assert row["per_image"]["loss"].shape == (32,) and not row["cached"]
    calls.clear()
    runs = remedy_runs(train_x, test_b, epochs=1, warmup_epochs=0.5, free_bits=0.25)
    assert [r["run"] for r in runs] == ["no remedy", "KL warm-up (0.5 epochs)", "free bits (0.25 nats/dim)"]
    assert all(c["objective"]["binarize"] == "dynamic" and c["lr"] == 8e-3 for c in calls)
    assert calls[1]["objective"]["warmup_epochs"] == 0.5 and calls[2]["objective"]["free_bits"] == 0.25
    assert calls[0]["objective"] == {**objective_settings(None), "binarize": "dynamic"}


def test_sweep_runs_are_cached_per_beta_and_seed(tmp_path, mnist_small):
    from vae_course.training import beta_sweep

    train_x, _, test_x, _ = mnist_small
    first = beta_sweep((1.0, 4.0), train_x[:256], test_x, epochs=1, cache="sw", folder=tmp_path)
    again = beta_sweep((1.0, 4.0), train_x[:256], test_x, epochs=1, cache="sw", folder=tmp_path)
    other = beta_sweep((1.0,), train_x[:256], test_x, epochs=1, seed=1, cache="sw", folder=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sw_beta1_s0.pt", "sw_beta1_s1.pt", "sw_beta4_s0.pt"]
    assert [r["cached"] for r in first] == [False, False] and [r["cached"] for r in again] == [True, True]
    assert [r["beta"] for r in again] == [1.0, 4.0] and not other[0]["cached"]
    for a, b in zip(first, again):
        assert a["neg_elbo"] == b["neg_elbo"] and torch.equal(a["per_image"]["loss"], b["per_image"]["loss"])
        assert math.isclose(a["neg_elbo"], a["per_image"]["loss"].mean().item(), rel_tol=1e-6)
    assert first[1]["rate"] < first[0]["rate"]  # beta = 4 charges more for the KL than beta = 1
    assert other[0]["neg_elbo"] != first[0]["neg_elbo"]


def test_a_real_collapse_run_trains_on_fresh_binarizations_with_its_objective(tmp_path, mnist_small):
    from vae_course.objectives import ELBO
    from vae_course.training import collapse_run

    train_x, _, test_x, _ = mnist_small
    test_b = torch.bernoulli(test_x[:64], generator=torch.Generator().manual_seed(0))
    row = collapse_run("warm", train_x[:256], test_b, epochs=2, lr=3e-3, objective=ELBO(warmup_epochs=1),
                       cache="warm", folder=tmp_path)
    assert row["history"].beta[0] < 1.0 == row["history"].beta[1]  # the warm-up weight reached 1 in the second epoch
    again = collapse_run("warm", train_x[:256], test_b, epochs=2, lr=3e-3, objective=ELBO(warmup_epochs=1),
                         cache="warm", folder=tmp_path)
    assert again["cached"] and again["neg_elbo"] == row["neg_elbo"]
    plain = collapse_run("plain", train_x[:256], test_b, epochs=2, lr=3e-3, cache="plain", folder=tmp_path)
    assert plain["neg_elbo"] != row["neg_elbo"]  # another objective, another model
