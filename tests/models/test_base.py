import pytest
import torch

from vae_course.models import VAE, ConvVAE


@pytest.mark.parametrize("cls", [VAE, ConvVAE])
def test_interface_and_shapes(cls, seeded):
    m = cls(latent_dim=3)
    x4 = torch.rand(5, 1, 28, 28)
    mu, logvar = m.encode(x4)
    assert mu.shape == (5, 3) and logvar.shape == (5, 3)
    z = m.reparameterize(mu, logvar)
    assert z.shape == (5, 3)
    assert m.decode(z).shape == (5, 1, 28, 28)
    assert m.decode_logits(z).shape == (5, 784)
    recon, mu2, _ = m(x4)
    assert recon.shape == x4.shape and 0 <= float(recon.detach().min()) and float(recon.detach().max()) <= 1
    recon_flat, _, _ = m(x4.reshape(5, 784))
    assert recon_flat.shape == (5, 784)
    assert m.sample(4).shape == (4, 1, 28, 28)


def test_reparameterize_statistics(seeded):
    m = VAE()
    mu = torch.full((20000, 2), 1.5)
    logvar = torch.full((20000, 2), torch.log(torch.tensor(0.25)).item())
    z = m.reparameterize(mu, logvar)
    assert abs(z.mean().item() - 1.5) < 0.02 and abs(z.std().item() - 0.5) < 0.02


def test_reparameterize_is_differentiable():
    m = VAE()
    mu = torch.zeros(3, 2, requires_grad=True)
    logvar = torch.zeros(3, 2, requires_grad=True)
    m.reparameterize(mu, logvar).sum().backward()
    assert torch.equal(mu.grad, torch.ones(3, 2)) and logvar.grad.abs().sum() > 0


@pytest.mark.parametrize("shape", [(28, 28), (4, 1, 28, 27), (4, 783), (0, 784)])
def test_wrong_image_shape_is_one_clear_error(shape):
    with pytest.raises(ValueError, match="expected a batch of images shaped"):
        VAE().encode(torch.rand(*shape))


def test_wrong_types():
    with pytest.raises(TypeError, match="float images"):
        VAE().encode(torch.zeros(2, 784, dtype=torch.uint8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        VAE().encode([[0.0] * 784])
    with pytest.raises(ValueError, match="latent codes shaped"):
        VAE().decode(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="same shape"):
        VAE().reparameterize(torch.zeros(2, 2), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="positive whole number of samples"):
        VAE().sample(0)


def test_single_latent_vector_is_accepted():
    assert VAE().decode(torch.zeros(2)).shape == (1, 1, 28, 28)


def test_float64_inputs_are_cast_and_integer_codes_rejected():
    m = VAE()
    mu, _ = m.encode(torch.rand(3, 784, dtype=torch.float64))
    assert mu.dtype == torch.float32
    assert m.decode(torch.zeros(2, 2, dtype=torch.float64)).dtype == torch.float32
    with pytest.raises(TypeError, match="float latent codes"):
        m.decode(torch.tensor([[0, 0]]))
    double = VAE().double()  # a float64 model (gradcheck in notebook 04) keeps float64
    assert double.encode(torch.rand(2, 784, dtype=torch.float64))[0].dtype == torch.float64
