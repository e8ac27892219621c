"""A small convolutional VAE with the same interface as the reference :class:`~vae_course.models.VAE`.

Used by notebook 10 (convolutional and conditional VAEs).

    x (B, 1, 28, 28) -> conv 4x4/2 (B, c, 14, 14) -> conv 4x4/2 (B, 2c, 7, 7) -> linear (B, H) -> mu, logvar (B, D)
    z (B, D) -> linear (B, H) -> linear (B, 2c*49) -> deconv (B, c, 14, 14) -> deconv (B, 1, 28, 28) logits
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn

from .base import VAEBase, check_images, check_latent, require_positive_ints
from .registry import register_model


@dataclass
class ConvVAEConfig:
    """Sizes of the convolutional VAE (MNIST-shaped input only)."""

    latent_dim: int = 2
    channels: int = 32
    hidden_dim: int = 256
    image_shape: tuple[int, ...] = field(default=(1, 28, 28))
    input_dim: int = 784

    def __post_init__(self):
        require_positive_ints(self, ("latent_dim", "channels", "hidden_dim"))
        self.image_shape = tuple(int(s) for s in self.image_shape)
        if self.image_shape != (1, 28, 28) or self.input_dim != 784:
            raise ValueError("ConvVAE is built for 1x28x28 images (MNIST); use VAE for other sizes.")


@register_model
class ConvVAE(VAEBase):
    """A small convolutional VAE with the same interface as :class:`VAE` (notebook 10).

    Encoder: two stride-2 convolutions 28 -> 14 -> 7, then a linear layer; decoder mirrors it with transposed
    convolutions. Same ``encode``/``reparameterize``/``decode``/``forward`` as :class:`VAE`.
    """

    def __init__(self, latent_dim: int = 2, channels: int = 32, hidden_dim: int = 256):
        super().__init__()
        self.config = ConvVAEConfig(latent_dim, channels, hidden_dim)
        c = channels
        self.enc = nn.Sequential(
            nn.Conv2d(1, c, 4, stride=2, padding=1), nn.ReLU(),  # (B, c, 14, 14)
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.ReLU(),  # (B, 2c, 7, 7)
            nn.Flatten(),  # (B, 2c*49)
            nn.Linear(2 * c * 49, hidden_dim), nn.ReLU(),  # (B, H)
        )
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_logvar = nn.Linear(hidden_dim, latent_dim)
        self.dec = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim), nn.ReLU(),
            nn.Linear(hidden_dim, 2 * c * 49), nn.ReLU(),
            nn.Unflatten(1, (2 * c, 7, 7)),  # (B, 2c, 7, 7)
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1), nn.ReLU(),  # (B, c, 14, 14)
            nn.ConvTranspose2d(c, 1, 4, stride=2, padding=1),  # (B, 1, 28, 28)
        )

    @classmethod
    def from_config(cls, config: ConvVAEConfig | dict) -> "ConvVAE":
        c = config if isinstance(config, ConvVAEConfig) else ConvVAEConfig(**config)
        return cls(c.latent_dim, c.channels, c.hidden_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = check_images(x, 784, (1, 28, 28), self.dtype).reshape(-1, 1, 28, 28)  # (B, 1, 28, 28)
        h = self.enc(x)  # (B, H)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        z = check_latent(z, self.config.latent_dim, self.dtype)
        return self.dec(z).reshape(z.shape[0], 784)  # (B, 784)
