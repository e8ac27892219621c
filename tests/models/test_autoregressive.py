import pytest
import torch

from vae_course.evaluation import evaluate
from vae_course.models import AutoregressiveVAE, causal_neighbours, causal_offsets, made_masks
from vae_course.objectives import ELBO, model_elbo
from vae_course.training import fit
from vae_course.training import load_checkpoint, save_checkpoint


def _model(**kw):
    torch.manual_seed(0)
    return AutoregressiveVAE(latent_dim=4, decoder_hidden_dim=64, local_hidden_dim=8, **kw)


def test_masks_make_output_i_depend_on_earlier_pixels_only():
    m_in, m_out = made_masks(10, 6)
    assert m_in.shape == (6, 10) and m_out.shape == (10, 6)
    reach = (m_out @ m_in) > 0  # (10, 10): output i reaches pixel j through some hidden unit
    assert not reach.triu().any()  # never pixel i itself or a later one
    assert len(causal_offsets(7)) == 24 and (0, 0) not in causal_offsets(7)


@pytest.mark.parametrize("local", [0, 8])
def test_decoder_is_autoregressive(local):
    torch.manual_seed(0)
    model = AutoregressiveVAE(latent_dim=4, decoder_hidden_dim=64, local_hidden_dim=local)
    x = torch.rand(1, 784, requires_grad=True)
    out = model.decode_logits(torch.randn(1, 4), context=x)
    for i in (0, 1, 27, 28, 29, 400, 783):
        (g,) = torch.autograd.grad(out[0, i], x, retain_graph=True)
        assert (g[0, i:] == 0).all(), f"logit {i} depends on pixel {i} or a later one"
    (g,) = torch.autograd.grad(out[0, 29], x, retain_graph=True)
    if local:  # pixel 29 = row 1, column 1: the local path sees its left (28) and above-left (0) neighbours
        assert g[0, 28] != 0 and g[0, 0] != 0
    else:  # the MADE path alone: hidden units with degree < 30 see the first pixels
        assert g[0, :25].abs().sum() > 0


def test_causal_neighbours_reads_the_right_pixels():
    img = torch.arange(1, 785, dtype=torch.float32).reshape(1, 784)
    feats = causal_neighbours(img)  # (1, 784, 24)
    offsets = causal_offsets(7)
    pix = 5 * 28 + 10  # row 5, column 10
    for k, (dy, dx) in enumerate(offsets):
        assert feats[0, pix, k] == img[0, (5 + dy) * 28 + 10 + dx]
    assert feats[0, 0].abs().sum() == 0  # the first pixel sees only background


def test_generation_matches_teacher_forcing():
    model = _model()
    z = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    images, logits = model.generate(z)
    assert images.shape == (3, 784) and logits.shape == (3, 784)
    assert torch.allclose(model.decode_logits(z, context=images), logits, atol=1e-4)
    drawn, _ = model.generate(z, generator=torch.Generator().manual_seed(0))
    assert set(drawn.unique().tolist()) <= {0.0, 1.0}


def test_elbo_passes_the_images_as_context_and_sample_generates():
    from vae_course.objectives import encode_decode

    model = _model()
    assert model.decoder_sees_x
    x = torch.rand(5, 1, 28, 28)
    torch.manual_seed(0)
    logits, mu, logvar = encode_decode(model, x)
    torch.manual_seed(0)
    mu2, logvar2 = model.encode(x)
    z = model.reparameterize(mu2, logvar2)
    assert torch.allclose(logits, model.decode_logits(z, context=x))
    assert model.sample(2).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match="context"):
        model.decode_logits(torch.zeros(3, 4), context=x)


def test_elbo_fit_evaluate_and_checkpoint(tmp_path, mnist_small):
    train_x, _, test_x, _ = mnist_small
    model = _model()
    terms = model_elbo(model, test_x[:8])
    assert terms.total.shape == (8,) and torch.isfinite(terms.total).all()
    hist = fit(model, train_x[:256], test_x[:64], epochs=1, progress=False, objective=ELBO(free_bits=0.1))
    assert hist.epochs == 1
    path = save_checkpoint(model, tmp_path / "ar.pt")
    loaded = load_checkpoint(path)
    assert type(loaded) is AutoregressiveVAE and loaded.config == model.config
    assert evaluate(loaded, test_x[:64]) == evaluate(model, test_x[:64])


def test_bad_config_is_refused():
    with pytest.raises(ValueError):
        AutoregressiveVAE(latent_dim=0)
    with pytest.raises(ValueError):
        AutoregressiveVAE(input_dim=10, image_shape=(10,))  # not square, local path on
    with pytest.raises(ValueError):
        AutoregressiveVAE(local_window=4)
    assert AutoregressiveVAE(input_dim=10, image_shape=(10,), local_hidden_dim=0).decode_logits(
        torch.zeros(2, 16), context=torch.rand(2, 10)).shape == (2, 10)


def test_shared_uniforms_make_z_the_only_difference():
    model = _model()
    u = torch.rand(784, generator=torch.Generator().manual_seed(3))
    same, _ = model.generate(torch.zeros(2, 4), uniforms=u)
    assert torch.equal(same[0], same[1])  # same code, same noise: the same image
    with torch.no_grad():
        model.dec_z.weight.mul_(50.0)  # make the decoder listen to z
    diff, _ = model.generate(torch.tensor([[3.0, 0, 0, 0], [-3.0, 0, 0, 0]]), uniforms=u)
    assert not torch.equal(diff[0], diff[1])
    with pytest.raises(ValueError):
        model.generate(torch.zeros(2, 4), uniforms=torch.rand(10))


def test_sample_draws_binary_pixels_reproducibly():
    model = _model()
    a = model.sample(3, generator=torch.Generator().manual_seed(0))
    b = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert a.shape == (3, 1, 28, 28) and torch.equal(a, b)
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError):
        model.sample(0)


def test_generation_without_uniforms_feeds_back_binary_pixels():
    # the decoder is trained on binary images, so generating must feed it 0s and 1s, never grey probabilities
    model = _model()
    z = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    images, logits = model.generate(z)  # neither uniforms nor a generator: torch's global generator
    assert set(images.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(model.decode_logits(z, context=images), logits, atol=1e-4)
    torch.manual_seed(5)
    assert torch.equal(model.decode_logits(z), logits)  # no context: the logits of the same binary draws


def test_forward_reads_the_image_as_its_context():
    model = _model()
    x = torch.bernoulli(torch.full((4, 1, 28, 28), 0.3, dtype=torch.float32),
                        generator=torch.Generator().manual_seed(2))
    torch.manual_seed(0)
    recon, mu, logvar = model(x)
    torch.manual_seed(0)
    mu2, logvar2 = model.encode(x)
    z = model.reparameterize(mu2, logvar2)
    assert recon.shape == x.shape and torch.equal(mu, mu2) and torch.equal(logvar, logvar2)
    assert torch.allclose(recon, torch.sigmoid(model.decode_logits(z, context=x)).reshape(x.shape))
