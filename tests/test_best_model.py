"""The issue 28 §2 recipe (vae_course.training.best_model) and benchmarks/best_model.py --recipe burda."""
import importlib.util
import math
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from vae_course.models import DeepVAE
from vae_course.training import best_model, deep_vae

ROOT = Path(__file__).resolve().parents[1]


def _tiny(**changes) -> best_model.BurdaRecipe:
    settings = dict(hidden_dims=(32,), latent_dim=4, epochs=2, elbo_epochs=1, k=3, lr=2e-3, lr_final=1e-3, ema=0.9,
                    train_limit=256, monitor_test=64)
    return best_model.BurdaRecipe(**{**settings, **changes})


def test_notebook_08s_recipe_and_checkpoint_name_are_unchanged():
    # notebook 08 loads best_vae_512x512_z32_elu_30ep.pt only if the stored recipe equals best_recipe(): keep both
    full = deep_vae.best_recipe(quick=False)
    assert deep_vae.best_checkpoint_path(full).name == "best_vae_512x512_z32_elu_30ep.pt"
    assert asdict(full) == {"hidden_dims": (512, 512), "latent_dim": 32, "activation": "elu", "epochs": 30,
                            "batch_size": 128, "lr": 1e-3, "lr_final": 1e-4, "train_limit": None,
                            "monitor_test": 2000, "seed": 0, "precision": "auto"}


def test_burda_recipe_names_and_keys_are_stable():
    r = best_model.burda_recipe(quick=False, seed=2)
    assert r.seed == 2 and r.train_limit is None and r.hidden_dims == (512, 512)
    assert best_model.burda_checkpoint_path(r).name == (
        f"burda_vae_512x512_z{r.latent_dim}_{r.elbo_epochs}e+{r.epochs - r.elbo_epochs}e_k{r.k}{r.estimator}_s2.pt")
    assert best_model.burda_recipe(quick=False, seed=2) == r  # the same recipe twice: the same checkpoint key
    assert best_model.burda_checkpoint_path(best_model.burda_recipe(quick=False, seed=1)) != \
        best_model.burda_checkpoint_path(r)  # each seed its own file
    quick = best_model.burda_recipe(quick=True)
    assert quick.epochs < r.epochs and quick.train_limit is not None


def test_quick_recipe_trains_loads_and_scores(tmp_path, monkeypatch, mnist_small):
    monkeypatch.setenv("VAE_COURSE_CHECKPOINTS", str(tmp_path))
    recipe = _tiny()
    model, history, info = best_model.load_or_train_burda_model(recipe)
    assert not info["loaded"] and info["steps"] == 2 * 2 and info["seconds"] > 0
    assert len(history["train_loss"]) == 2 and history["test_loss"][-1] < 545  # below 784 log 2: it learned
    again, _, info2 = best_model.load_or_train_burda_model(recipe)
    assert info2["loaded"] and info2["seconds"] == info["seconds"]
    x = torch.rand(3, 784)
    assert torch.equal(again.encode(x)[0], model.encode(x)[0])
    _, _, info3 = best_model.load_or_train_burda_model(_tiny(lr=1e-3))
    assert not info3["loaded"]  # same file name, another recipe: retrained, never silently reused
    test_bin = torch.bernoulli(mnist_small[2][:40], generator=torch.Generator().manual_seed(1))
    bound, how = best_model.score_bound(again, test_bin, 20, name="tiny")
    assert bound.shape == (40,) and bound.dtype == torch.float64 and not how["loaded"]
    assert bool((bound < 0).all()) and -bound.mean() < 545
    cached, how2 = best_model.score_bound(again, test_bin, 20, name="tiny")
    assert how2["loaded"] and torch.equal(cached, bound)
    elbo, _ = best_model.score_bound(again, test_bin, 1)
    assert bound.mean() > elbo.mean()  # L_20 above L_1 (both averaged over 40 images)


def test_weight_average_holds_the_averaged_weights(mnist_small):
    torch.manual_seed(0)
    model = DeepVAE(hidden_dims=(16,), latent_dim=2, activation="elu")
    start = [p.detach().clone() for p in model.parameters()]
    average = best_model.WeightAverage(model, 0.5)
    for _ in range(3):  # fit's order: on_step before each step, on_epoch_end after the last
        average.on_step(model, 1, 0, 3, None)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
    average.on_epoch_end(model, 1, None)
    assert average.updates == 3
    # decays min(0.5, (1+n)/(10+n)) = 0.1, 2/11, 0.25 for updates n = 0, 1, 2 towards start+1, +2, +3
    expect = 0.0
    for n, target in enumerate((1.0, 2.0, 3.0)):
        d = min(0.5, (1 + n) / (10 + n))
        expect = d * expect + (1 - d) * target
    average.copy_to(model)
    for p, p0 in zip(model.parameters(), start):
        assert torch.allclose(p - p0, torch.full_like(p, expect), atol=1e-5)


def _grads(model, x, estimator, seed):
    model.zero_grad()
    torch.manual_seed(seed)
    best_model.weighted_terms(model, x, 4, estimator).total.mean().backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def test_dreg_keeps_the_decoder_gradient_and_the_encoders_mean():
    torch.manual_seed(0)
    model = DeepVAE(input_dim=6, hidden_dims=(8,), latent_dim=2, activation="elu", image_shape=(6,))
    x = torch.bernoulli(torch.full((1, 6), 0.5), generator=torch.Generator().manual_seed(0))
    iw, dr = _grads(model, x, "iwae", 0), _grads(model, x, "dreg", 0)
    for name in iw:  # the same noise: the decoder's gradients agree, the encoder's differ
        if name.startswith(("decoder", "fc_out")):
            assert torch.allclose(iw[name], dr[name], atol=1e-5), name
    assert not torch.allclose(iw["fc_mu.weight"], dr["fc_mu.weight"], atol=1e-4)
    # both are unbiased for the gradient of L_4: averaged over 20,000 copies of the image they agree
    many = x.repeat(20_000, 1)
    iw, dr = _grads(model, many, "iwae", 1), _grads(model, many, "dreg", 2)
    for name in ("fc_mu.weight", "fc_logvar.weight", "encoder.0.weight"):
        scale = iw[name].abs().max().item()
        assert (iw[name] - dr[name]).abs().max().item() < 0.1 * scale + 1e-3, name
    # the control, w~ once ("stl"), is biased for k > 1: the same average is off; its decoder gradient is DReG's
    st = _grads(model, many, "stl", 2)
    assert max((iw[n] - st[n]).abs().max().item() / iw[n].abs().max().item()
               for n in ("fc_mu.weight", "fc_logvar.weight")) > 0.5
    assert all(torch.allclose(st[n], dr[n]) for n in st if n.startswith(("decoder", "fc_out")))


@pytest.mark.parametrize("changes, words", [
    ({"k": 0}, "k=0"), ({"elbo_epochs": 5}, "elbo_epochs=5"), ({"estimator": "vimco"}, "estimator='vimco'"),
    ({"ema": 1.0}, "ema=1.0"), ({"lr": 0}, "lr=0"), ({"hidden_dims": ()}, "hidden_dims"),
    ({"train_limit": 0}, "train_limit=0"), ({"precision": "fp16"}, "precision='fp16'"), ({"seed": -1}, "seed=-1"),
])
def test_bad_recipes_get_one_sentence(changes, words):
    with pytest.raises(ValueError, match=r"^[^\n]+$") as err:
        _tiny(**changes)
    assert words in str(err.value)


def test_bad_calls_get_one_sentence():
    with pytest.raises(TypeError, match="BurdaRecipe"):
        best_model.load_or_train_burda_model("full")
    model = DeepVAE(hidden_dims=(8,), latent_dim=2)
    with pytest.raises(ValueError, match="k=0 must be a positive whole number"):
        best_model.score_bound(model, torch.zeros(2, 784), 0)
    with pytest.raises(ValueError, match="test_bin must be a non-empty tensor"):
        best_model.score_bound(model, torch.zeros(0, 784), 10)


def _benchmark():
    spec = importlib.util.spec_from_file_location("best_model_benchmark", ROOT / "benchmarks" / "best_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_quick_burda_prints_seeds_table_and_differences(tmp_path, monkeypatch, capsys, mnist_small):
    monkeypatch.setenv("VAE_COURSE_CHECKPOINTS", str(tmp_path))
    _benchmark().main(["--recipe", "burda", "--quick", "--seeds", "0", "1"])
    out = capsys.readouterr().out
    for text in ("seed 0: trained", "seed 1: trained", "std over 2 seeds", "| Burda et al. 2015, IWAE (k=50), one "
                 "stochastic layer | 84.78 |", "82.90", "86.76", "85.33", "batch size: 20 / ", "59,600",
                 "binarize='static', seed=1", "training took"):
        assert text in out, text
    _benchmark().main(["--recipe", "burda", "--quick", "--seeds", "0"])  # a rerun loads model and scores
    assert "seed 0: loaded" in capsys.readouterr().out
    # notebook 13 adds the seeds the benchmark trained: seeds 0 and 1 exist here, 2 does not, nothing is trained
    assert best_model.trained_burda_seeds([0, 1, 2], quick=True) == [0, 1]
    assert not best_model.burda_checkpoint_path(best_model.burda_recipe(True, seed=2)).exists()
    assert best_model.trained_burda_seeds([0, 1], quick=False) == []  # the full recipe has no checkpoint here


def test_burda_differences_name_both_settings():
    recipe = best_model.burda_recipe(quick=False)
    lines = best_model.burda_differences(recipe, train_images=60_000, k=5000, test_images=10_000)
    text = "\n".join(lines)
    for words in ("784-200-200-50 tanh", "784-512-512-32 ELU", "3,280 / 240", "185 with the ELBO",
                  "batch size: 20 / 128", "cosine 0.001 -> 0.0001", "L_50 with the IWAE gradient",
                  "L_5 with the DReG gradient", "59,600 (400 kept for validation) / 60,000",
                  "k = 5000 on all 10,000 images / k = 5000 on all 10,000 images"):
        assert words in text, words
    assert [label for label, _ in best_model.BURDA_TABLE_1][2] == "IWAE (k=50), one stochastic layer"
    assert [value for _, value in best_model.BURDA_TABLE_1] == [86.76, 85.33, 84.78, 82.90]


@pytest.mark.parametrize("argv, words", [
    (["--recipe", "burda", "--seeds", "0", "0"], "--seeds 0 0 must be different"),
    (["--recipe", "burda", "--k", "0"], "--k 0 must be a positive"),
    (["--test-images", "0"], "--test-images 0 must be a positive"),
])
def test_benchmark_bad_options_get_one_sentence(argv, words):
    with pytest.raises(SystemExit) as err:
        _benchmark().main(argv)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_scored_bound_is_the_course_iwae_bound(mnist_small):
    from vae_course.evaluation.iwae import iwae_bound

    torch.manual_seed(0)
    model = DeepVAE(hidden_dims=(16,), latent_dim=3, activation="elu").eval()
    x = torch.bernoulli(mnist_small[2][:10], generator=torch.Generator().manual_seed(0))
    ours, _ = best_model.score_bound(model, x, 30, seed=4)
    ref = iwae_bound(model, x, 30, batch_size=20, chunk=200, generator=torch.Generator().manual_seed(4)).double()
    assert torch.equal(ours, ref) and math.isfinite(ours.sum().item())
