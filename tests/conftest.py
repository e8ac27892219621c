"""Shared fixtures: small real MNIST slices from $VAE_COURSE_DATA (../shared/data in CI). Quick mode by default, the
data folder and the autosave hint are set in the repository's top-level conftest.py, which pytest loads first."""
import pytest
import torch


@pytest.fixture(scope="session")
def mnist_small():
    """(train_x, train_y, test_x, test_y): 512 training and 256 test images of real MNIST."""
    from vae_course.data import load_mnist

    try:
        train_x, train_y = load_mnist("train", limit=512, download=False)
        test_x, test_y = load_mnist("test", limit=256, download=False)
    except FileNotFoundError as exc:
        pytest.skip(f"MNIST not available: {exc}")
    return train_x, train_y, test_x, test_y


@pytest.fixture
def seeded():
    torch.manual_seed(0)
    return torch.Generator().manual_seed(0)
