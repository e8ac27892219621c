import pytest

from vae_course.models import ConvVAE


def test_conv_bad_sizes():
    with pytest.raises(ValueError, match="positive whole number"):
        ConvVAE(latent_dim=0)
