import pytest
import torch

from vae_course import config
from vae_course.training import deep_vae


def test_cosine_schedule_endpoints():
    r = deep_vae.BestRecipe(epochs=11, lr=1e-3, lr_final=1e-4)
    assert deep_vae.cosine_lr(1, r) == pytest.approx(1e-3)
    assert deep_vae.cosine_lr(11, r) == pytest.approx(1e-4)
    assert deep_vae.cosine_lr(6, r) == pytest.approx(5.5e-4)
    lrs = [deep_vae.cosine_lr(e, r) for e in range(1, 12)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


def test_load_or_train_saves_then_loads(tmp_path, monkeypatch, mnist_small):
    monkeypatch.setenv("VAE_COURSE_CHECKPOINTS", str(tmp_path))
    recipe = deep_vae.BestRecipe(hidden_dims=(32,), latent_dim=4, epochs=2, train_limit=256, monitor_test=64)
    model, history, info = deep_vae.load_or_train_best_model(recipe)
    assert not info["loaded"] and (config.checkpoint_dir() / info["path"]).is_file()  # tmp_path/quick in quick mode
    assert info["steps"] == 2 * 2 and info["precision"] in ("fp32", "bf16-mixed")  # 256 images at batch 128, two epochs
    assert len(history["train_loss"]) == 2 and len(history["test_loss"]) == 2
    assert history["test_loss"][-1] < 545  # below log(2) * 784: it learned something
    again, history2, info2 = deep_vae.load_or_train_best_model(recipe)
    assert info2["loaded"] and history2["train_loss"] == history["train_loss"] and info2["steps"] == 4
    x = torch.rand(2, 784)
    assert torch.equal(again.encode(x)[0], model.encode(x)[0])
    other = deep_vae.BestRecipe(hidden_dims=(32,), latent_dim=4, epochs=2, train_limit=256, monitor_test=64, lr=5e-4)
    assert deep_vae.best_checkpoint_path(other) == deep_vae.best_checkpoint_path(recipe)  # same file name ...
    _, _, info3 = deep_vae.load_or_train_best_model(other)
    assert not info3["loaded"]  # ... but another recipe: retrained, never silently reused
    fp32 = deep_vae.BestRecipe(hidden_dims=(32,), latent_dim=4, epochs=2, train_limit=256, monitor_test=64,
                               precision="fp32")
    _, _, info4 = deep_vae.load_or_train_best_model(fp32)
    assert not info4["loaded"] and info4["precision"] == "fp32"  # the precision is part of the recipe


def test_quick_recipe_is_small():
    quick, full = deep_vae.best_recipe(quick=True), deep_vae.best_recipe(quick=False)
    assert quick.epochs < full.epochs and quick.train_limit is not None and full.train_limit is None


def test_the_full_recipe_is_notebook_08s():
    full = deep_vae.best_recipe(quick=False)
    assert (full.hidden_dims, full.latent_dim, full.activation, full.epochs) == ((512, 512), 32, "elu", 30)
    assert full.precision == "auto" and full.batch_size == 128


def test_an_interrupted_training_is_not_saved_as_the_recipe(tmp_path, monkeypatch, mnist_small):
    from vae_course.training import History

    monkeypatch.setenv("VAE_COURSE_CHECKPOINTS", str(tmp_path))
    recipe = deep_vae.BestRecipe(hidden_dims=(32,), latent_dim=4, epochs=5, train_limit=256, monitor_test=64)
    partial = History(train_loss=[200.0], train_recon=[190.0], train_kl=[10.0], test_loss=[210.0],
                      test_recon=[200.0], test_kl=[10.0], interrupted=True)
    monkeypatch.setattr(deep_vae, "train_best_model",
                        lambda recipe, **kw: (deep_vae.DeepVAE.from_config(recipe.model_config()), partial, 1.0))
    _, history, info = deep_vae.load_or_train_best_model(recipe)
    assert info["interrupted"] and info["path"] is None and history["train_loss"] == [200.0]
    assert not deep_vae.best_checkpoint_path(recipe).exists()
