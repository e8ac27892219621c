"""Fixtures shared by the widget tests: an untrained reference VAE and 64 random images with labels."""
import pytest
import torch

from vae_course.models import VAE


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return VAE()


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g)
