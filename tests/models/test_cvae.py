import pytest
import torch

from vae_course.evaluation import evaluate
from vae_course.models import CVAE, CVAEConfig, digit_style_grid, label_codes, one_hot
from vae_course.models import MODEL_CLASSES
from vae_course.objectives import model_elbo
from vae_course.training import fit
from vae_course.training import load_checkpoint, save_checkpoint


def _model(latent=2):
    torch.manual_seed(0)
    return CVAE(latent_dim=latent)


def test_one_hot_and_label_codes():
    assert one_hot(torch.tensor([0, 2]), 3).tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    assert label_codes(7, 10, 3).argmax(1).tolist() == [7, 7, 7]
    assert label_codes(torch.tensor(4), 10, 2).argmax(1).tolist() == [4, 4]
    soft = torch.full((2, 10), 0.1)
    assert torch.equal(label_codes(soft, 10, 2), soft)
    with pytest.raises(ValueError):
        one_hot(torch.tensor([10]), 10)
    with pytest.raises(TypeError):
        one_hot(torch.tensor([1.0]), 10)
    with pytest.raises(ValueError):
        label_codes(torch.tensor([1, 2, 3]), 10, 2)


def test_parameters_shapes_and_interface():
    m = _model()
    # the reference 631,188 plus 10 label inputs into each 400-unit layer
    assert m.num_parameters() == 631_188 + 2 * 10 * 400
    assert m.conditional and MODEL_CLASSES["CVAE"] is CVAE
    x, y = torch.rand(5, 1, 28, 28), torch.tensor([0, 1, 2, 3, 4])
    mu, logvar = m.encode(x, y)
    assert mu.shape == (5, 2) and logvar.shape == (5, 2)
    assert m.decode_logits(mu, y).shape == (5, 784) and m.decode(mu, y).shape == (5, 1, 28, 28)
    recon, _, _ = m(x, y)
    assert recon.shape == x.shape
    assert m.sample(3, 8).shape == (3, 1, 28, 28)
    with pytest.raises(ValueError):
        CVAE(num_classes=0)


def test_the_label_changes_the_decoded_image():
    m = _model()
    z = torch.zeros(2, 2)
    a, b = m.decode(z, torch.tensor([1, 7]))
    assert not torch.allclose(a, b)


def test_fit_with_labels_and_checkpoint(tmp_path, mnist_small):
    train_x, train_y, test_x, test_y = mnist_small
    m = _model()
    with pytest.raises(ValueError, match="labels"):
        fit(m, train_x, epochs=1, progress=False)
    before = evaluate(m, test_x, test_y)["loss"]
    hist = fit(m, train_x, test_x, epochs=2, progress=False, labels=(train_y, test_y))
    assert hist.test_loss[-1] < before - 100
    terms = model_elbo(m, test_x[:4], test_y[:4])
    assert terms.total.shape == (4,)
    path = save_checkpoint(m, tmp_path / "cvae.pt")
    loaded = load_checkpoint(path, expected_config=CVAEConfig(latent_dim=2))
    assert type(loaded) is CVAE
    assert evaluate(loaded, test_x, test_y) == evaluate(m, test_x, test_y)


def test_digit_style_grid_order():
    m = _model()
    styles = torch.tensor([[0.0, 0.0], [1.0, -1.0], [-2.0, 0.5]])
    grid = digit_style_grid(m, styles)
    assert grid.shape == (30, 1, 28, 28)
    want = m.decode(styles[1:2], torch.tensor([4]))
    assert torch.allclose(grid[4 * 3 + 1], want[0])
