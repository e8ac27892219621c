import re

import pytest
import torch

from vae_course.models import VAE
from vae_course.training import (Recipe, checkpoint_name, checkpoint_path, data_fingerprint, load_or_train, make_recipe,
                                 save_pretrained, stored_recipe)
from vae_course.training import save_checkpoint


@pytest.fixture
def tiny(mnist_small):
    train_x, _, test_x, _ = mnist_small
    return train_x[:256], test_x[:64]


def test_names_and_paths(tmp_path):
    assert checkpoint_name(2) == "vae_latent2.pt" and checkpoint_name(20) == "vae_latent20.pt"
    assert checkpoint_path(20, tmp_path) == tmp_path / "vae_latent20.pt"
    with pytest.raises(ValueError, match="positive whole number"):
        checkpoint_name(0)


def test_fingerprint_tells_data_apart(tiny):
    train_x, _ = tiny
    assert data_fingerprint(train_x) == data_fingerprint(train_x.clone())
    assert data_fingerprint(train_x) != data_fingerprint(train_x[:-1])
    r = make_recipe(2, train_x, epochs=1)
    assert r.n_train == 256 and r.epochs == 1 and r == make_recipe(2, train_x.clone(), epochs=1)
    with pytest.raises(ValueError, match="epochs=0"):
        Recipe(epochs=0)


def test_trains_then_loads_the_same_model(tmp_path, tiny, capsys):
    train_x, test_x = tiny
    first = load_or_train(2, train_images=train_x, test_images=test_x, epochs=1, folder=tmp_path)
    assert first.trained and first.path == tmp_path / "vae_latent2.pt" and first.path.is_file()
    assert first.history.epochs == 1 and len(first.history.test_loss) == 1
    second = load_or_train(2, train_images=train_x, test_images=test_x, epochs=1, folder=tmp_path)
    assert not second.trained and second.history.test_loss == first.history.test_loss
    for (k, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(a, b), k
    out = capsys.readouterr().out
    assert "there is no checkpoint yet" in out and "Loaded vae_latent2.pt" in out
    assert str(tmp_path) not in out  # never an absolute path in a notebook's output


def test_training_is_deterministic_and_matches_stored_recipe(tmp_path, tiny):
    train_x, test_x = tiny
    a = load_or_train(3, train_images=train_x, test_images=test_x, epochs=1, folder=tmp_path / "a", verbose=False)
    b = load_or_train(3, train_images=train_x, test_images=test_x, epochs=1, folder=tmp_path / "b", verbose=False)
    assert torch.equal(a.model.fc4.weight, b.model.fc4.weight)
    assert stored_recipe(a.path) == make_recipe(3, train_x, epochs=1)


def test_other_recipe_or_bad_file_retrains(tmp_path, tiny, capsys):
    train_x, test_x = tiny
    load_or_train(2, train_images=train_x, test_images=test_x, epochs=1, folder=tmp_path, verbose=False)
    again = load_or_train(2, train_images=train_x[:128], test_images=test_x, epochs=1, folder=tmp_path)
    assert again.trained and "trained differently" in capsys.readouterr().out
    save_checkpoint(VAE(), tmp_path / "vae_latent2.pt")  # a checkpoint without a recipe
    assert load_or_train(2, train_images=train_x, test_images=test_x, epochs=1, folder=tmp_path).trained
    (tmp_path / "vae_latent2.pt").write_bytes(b"garbage")
    assert stored_recipe(tmp_path / "vae_latent2.pt") is None
    assert load_or_train(2, train_images=train_x, test_images=test_x, epochs=1, folder=tmp_path).trained
    assert load_or_train(2, train_images=train_x, test_images=test_x, epochs=1, folder=tmp_path,
                         retrain=True, verbose=False).trained


def test_save_pretrained_refuses_mismatched_model(tmp_path, tiny):
    recipe = make_recipe(2, tiny[0], epochs=1)
    with pytest.raises(ValueError, match="latent_dim=20"):
        save_pretrained(VAE(latent_dim=20), None, recipe, tmp_path)


# --- issue 13: training on first use says what it trains, roughly how long, and shows a progress bar -----------------
def test_training_on_first_use_says_how_long_and_shows_progress(tmp_path, capsys):
    g = torch.Generator().manual_seed(0)
    train_x, test_x = torch.rand(256, 1, 28, 28, generator=g), torch.rand(64, 1, 28, 28, generator=g)
    pre = load_or_train(2, train_images=train_x, test_images=test_x, epochs=1, folder=tmp_path)
    captured = capsys.readouterr()
    assert pre.trained
    line = captured.out.splitlines()[0]
    assert line.startswith("Training VAE 784-400-2, 1 epoch on 256 images (there is no checkpoint yet): about ")
    assert re.search(r"about \d+ (seconds|minutes?) here", line)
    assert "epoch 1/1" in captured.err and "batch" in captured.err  # tqdm's bar (text outside a notebook)


def test_fashion_mnist_models_have_their_own_checkpoint(tmp_path, tiny):
    assert checkpoint_name(2, "fashion") == "fashion_vae_latent2.pt" and checkpoint_name(2) == "vae_latent2.pt"
    with pytest.raises(ValueError, match="not a course data set"):
        checkpoint_name(2, "cifar")
    train_x, test_x = tiny
    mnist = load_or_train(2, train_images=train_x, test_images=test_x, epochs=1, folder=tmp_path, verbose=False)
    fashion = load_or_train(2, dataset="fashion", train_images=train_x, test_images=test_x, epochs=1, folder=tmp_path,
                            verbose=False)
    assert fashion.trained and fashion.path.name == "fashion_vae_latent2.pt" and mnist.path.is_file()
    assert stored_recipe(fashion.path).dataset == "fashion" and stored_recipe(mnist.path).dataset == "mnist"
    assert "Fashion-MNIST images" in fashion.recipe.describe() and "MNIST" not in mnist.recipe.describe()
    again = load_or_train(2, dataset="fashion", train_images=train_x, test_images=test_x, epochs=1, folder=tmp_path,
                          verbose=False)
    assert not again.trained


def test_a_recipe_stored_before_the_dataset_field_reads_as_mnist(tmp_path, tiny):
    train_x, _ = tiny
    recipe = make_recipe(2, train_x, epochs=1)
    old = {k: v for k, v in recipe.__dict__.items() if k != "dataset"}
    path = save_checkpoint(VAE(784, 400, 2), tmp_path / "vae_latent2.pt", extra={"recipe": old})
    assert stored_recipe(path) == recipe


def test_other_training_seeds_are_cached_beside_the_reference(tmp_path, tiny):
    assert checkpoint_name(2, seed=1) == "vae_latent2_s1.pt" and checkpoint_name(2, "fashion", 2) == "fashion_vae_latent2_s2.pt"
    train_x, test_x = tiny
    ref = load_or_train(2, train_images=train_x, test_images=test_x, epochs=1, folder=tmp_path, verbose=False)
    other = load_or_train(2, seed=1, train_images=train_x, test_images=test_x, epochs=1, folder=tmp_path, verbose=False)
    assert ref.path.name == "vae_latent2.pt" and other.path.name == "vae_latent2_s1.pt" and other.recipe.seed == 1
    assert not torch.equal(ref.model.fc4.weight, other.model.fc4.weight)  # another seed, another model
    again = load_or_train(2, seed=1, train_images=train_x, test_images=test_x, epochs=1, folder=tmp_path, verbose=False)
    assert not again.trained and torch.equal(again.model.fc4.weight, other.model.fc4.weight)
    with pytest.raises(ValueError, match="seed"):
        checkpoint_name(2, seed=-1)

