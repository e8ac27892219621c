import pytest
import torch

from vae_course.models import VAE, ConvVAE, VAEConfig


def test_reference_parameter_count():
    assert VAE().num_parameters() == 631_188
    assert VAE(latent_dim=20).num_parameters() == 652_824  # pytorch/examples' 784-400-20


def test_reference_layers():
    m = VAE()
    names = [n for n, _ in m.named_children()]
    assert names == ["fc1", "fc_mu", "fc_logvar", "fc3", "fc4"]
    assert m.fc1.in_features == 784 and m.fc1.out_features == 400 and m.fc_mu.out_features == 2


def test_decode_is_sigmoid_of_logits(seeded):
    m = VAE()
    z = torch.randn(4, 2)
    assert torch.allclose(m.decode(z).reshape(4, 784), torch.sigmoid(m.decode_logits(z)))


@pytest.mark.parametrize("kwargs", [{"latent_dim": 0}, {"latent_dim": -2}, {"hidden_dim": 0},
                                    {"latent_dim": 2.5}, {"input_dim": True}])
def test_bad_sizes(kwargs):
    with pytest.raises(ValueError, match="must be a positive whole number"):
        VAE(**kwargs)


def test_config_roundtrip():
    m = VAE(hidden_dim=50, latent_dim=4)
    again = VAE.from_config(m.describe()["config"])
    assert again.config == m.config == VAEConfig(784, 50, 4)
    c = ConvVAE(latent_dim=3, channels=8, hidden_dim=32)
    assert ConvVAE.from_config(c.describe()["config"]).config == c.config
