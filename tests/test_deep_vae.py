import pytest
import torch

from vae_course import deep_vae
from vae_course.checkpoints import load_checkpoint, save_checkpoint
from vae_course.models import MODEL_CLASSES


def test_shapes_and_interface(seeded):
    model = deep_vae.DeepVAE(hidden_dims=(64, 32), latent_dim=5)
    x = torch.rand(3, 1, 28, 28)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, 5)
    assert model.decode_logits(mu).shape == (3, 784)
    recon, _, _ = model(x)
    assert recon.shape == x.shape and 0 <= recon.min() and recon.max() <= 1
    assert model.sample(4).shape == (4, 1, 28, 28)
    # the decoder mirrors the encoder: 784-64-32 | 5-32-64-784
    assert [m.out_features for m in model.decoder if isinstance(m, torch.nn.Linear)] == [32, 64]


def test_bad_configs():
    with pytest.raises(ValueError, match="hidden_dims"):
        deep_vae.DeepVAE(hidden_dims=())
    with pytest.raises(ValueError, match="hidden_dims"):
        deep_vae.DeepVAE(hidden_dims=(64, 0))
    with pytest.raises(ValueError, match="latent_dim"):
        deep_vae.DeepVAE(latent_dim=0)
    with pytest.raises(ValueError, match="activation"):
        deep_vae.DeepVAE(activation="sigmoidal")
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        deep_vae.DeepVAE().encode(torch.rand(2, 100))


def test_registered_and_checkpoint_round_trip(tmp_path, seeded):
    assert MODEL_CLASSES["DeepVAE"] is deep_vae.DeepVAE
    model = deep_vae.DeepVAE(hidden_dims=(32, 16), latent_dim=3, activation="elu")
    path = save_checkpoint(model, tmp_path / "deep.pt")
    loaded = load_checkpoint(path, deep_vae.DeepVAEConfig(784, (32, 16), 3, "elu"))
    x = torch.rand(2, 784)
    assert torch.equal(loaded.encode(x)[0], model.encode(x)[0])


def test_output_bias_starts_at_the_mean_image():
    model = deep_vae.DeepVAE(hidden_dims=(16,), latent_dim=2)
    images = torch.rand(50, 1, 28, 28)
    model.init_output_bias(images)
    with torch.no_grad():
        model.fc_out.weight.zero_()
        probs = model.decode(torch.zeros(1, 2)).reshape(784)
    assert torch.allclose(probs, images.reshape(50, 784).mean(0).clamp(1e-3, 1 - 1e-3), atol=1e-5)


def test_cosine_schedule_endpoints():
    r = deep_vae.Recipe(epochs=11, lr=1e-3, lr_final=1e-4)
    assert deep_vae.cosine_lr(1, r) == pytest.approx(1e-3)
    assert deep_vae.cosine_lr(11, r) == pytest.approx(1e-4)
    assert deep_vae.cosine_lr(6, r) == pytest.approx(5.5e-4)
    lrs = [deep_vae.cosine_lr(e, r) for e in range(1, 12)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


def test_load_or_train_saves_then_loads(tmp_path, monkeypatch, mnist_small):
    monkeypatch.setenv("VAE_COURSE_CHECKPOINTS", str(tmp_path))
    recipe = deep_vae.Recipe(hidden_dims=(32,), latent_dim=4, epochs=2, train_limit=256, monitor_test=64)
    model, history, info = deep_vae.load_or_train_best_model(recipe)
    assert not info["loaded"] and (tmp_path / info["path"]).is_file()
    assert len(history["train_loss"]) == 2 and len(history["test_loss"]) == 2
    assert history["test_loss"][-1] < 545  # below log(2) * 784: it learned something
    again, history2, info2 = deep_vae.load_or_train_best_model(recipe)
    assert info2["loaded"] and history2["train_loss"] == history["train_loss"]
    x = torch.rand(2, 784)
    assert torch.equal(again.encode(x)[0], model.encode(x)[0])
    other = deep_vae.Recipe(hidden_dims=(32,), latent_dim=4, epochs=2, train_limit=256, monitor_test=64, lr=5e-4)
    assert deep_vae.checkpoint_path(other) == deep_vae.checkpoint_path(recipe)  # same file name ...
    _, _, info3 = deep_vae.load_or_train_best_model(other)
    assert not info3["loaded"]  # ... but another recipe: retrained, never silently reused


def test_quick_recipe_is_small():
    quick, full = deep_vae.best_recipe(quick=True), deep_vae.best_recipe(quick=False)
    assert quick.epochs < full.epochs and quick.train_limit is not None and full.train_limit is None
