import pytest
import torch

from vae_course.models import MODEL_CLASSES, DeepVAE, DeepVAEConfig
from vae_course.training import load_checkpoint, save_checkpoint


def test_shapes_and_interface(seeded):
    model = DeepVAE(hidden_dims=(64, 32), latent_dim=5)
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
        DeepVAE(hidden_dims=())
    with pytest.raises(ValueError, match="hidden_dims"):
        DeepVAE(hidden_dims=(64, 0))
    with pytest.raises(ValueError, match="latent_dim"):
        DeepVAE(latent_dim=0)
    with pytest.raises(ValueError, match="activation"):
        DeepVAE(activation="sigmoidal")
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        DeepVAE().encode(torch.rand(2, 100))


def test_registered_and_checkpoint_round_trip(tmp_path, seeded):
    assert MODEL_CLASSES["DeepVAE"] is DeepVAE
    model = DeepVAE(hidden_dims=(32, 16), latent_dim=3, activation="elu")
    path = save_checkpoint(model, tmp_path / "deep.pt")
    loaded = load_checkpoint(path, DeepVAEConfig(784, (32, 16), 3, "elu"))
    x = torch.rand(2, 784)
    assert torch.equal(loaded.encode(x)[0], model.encode(x)[0])


def test_output_bias_starts_at_the_mean_image():
    model = DeepVAE(hidden_dims=(16,), latent_dim=2)
    images = torch.rand(50, 1, 28, 28)
    model.init_output_bias(images)
    with torch.no_grad():
        model.fc_out.weight.zero_()
        probs = model.decode(torch.zeros(1, 2)).reshape(784)
    assert torch.allclose(probs, images.reshape(50, 784).mean(0).clamp(1e-3, 1 - 1e-3), atol=1e-5)
