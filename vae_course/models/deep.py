"""A deeper MLP VAE: several hidden layers per side, the course's best model for the log-likelihood.

Used by notebook 08 (test log-likelihood with the importance-weighted bound) and ``benchmarks/best_model.py``; the
recipe that trains it (and its checkpoint) is in :mod:`vae_course.training.deep_vae`.

The reference VAE (784-400-2) is built to be *looked at* (a 2-D latent space). To be *measured* as a density model
it needs more room: more latent dimensions, two hidden layers on each side, and binary data. The layout::

    x (B, 784) -> [Linear -> act] x L  (B, H)  -> mu, logvar (B, D)          encoder q(z|x)
    z (B, D)   -> [Linear -> act] x L  (B, H)  -> logits (B, 784)            decoder p(x|z) = Bernoulli(sigmoid(logits))

Reference:
    Burda, Grosse & Salakhutdinov 2015 (arXiv:1509.00519): 784-200-200-50 MLPs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from .base import VAEBase, check_images, check_latent
from .registry import register_model

ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "softplus": nn.Softplus, "gelu": nn.GELU}


@dataclass
class DeepVAEConfig:
    """Sizes of :class:`DeepVAE`: ``hidden_dims`` are the encoder's layers (the decoder mirrors them)."""

    input_dim: int = 784
    hidden_dims: tuple[int, ...] = (512, 512)
    latent_dim: int = 32
    activation: str = "relu"
    image_shape: tuple[int, ...] = field(default=(1, 28, 28))

    def __post_init__(self):
        for name in ("input_dim", "latent_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}={value!r} must be a positive whole number.")
        dims = tuple(self.hidden_dims) if isinstance(self.hidden_dims, (tuple, list)) else (self.hidden_dims,)
        if not dims or any(isinstance(h, bool) or not isinstance(h, int) or h <= 0 for h in dims):
            raise ValueError(f"hidden_dims={self.hidden_dims!r} must be a non-empty list of positive whole numbers, "
                             f"e.g. (512, 512).")
        self.hidden_dims = dims
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation={self.activation!r} is not known: use one of {', '.join(ACTIVATIONS)}.")
        self.image_shape = tuple(int(s) for s in self.image_shape)
        if math.prod(self.image_shape) != self.input_dim:
            self.image_shape = (self.input_dim,)


def _mlp(sizes: list[int], activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
    return nn.Sequential(*layers)


@register_model
class DeepVAE(VAEBase):
    """An MLP VAE with several hidden layers per side; same interface as :class:`vae_course.models.VAE`.

    Args:
        input_dim: pixels per image (784).
        hidden_dims: encoder hidden widths, e.g. ``(512, 512)``; the decoder uses them reversed.
        latent_dim: size of z.
        activation: ``"relu"``, ``"elu"``, ``"tanh"``, ``"softplus"`` or ``"gelu"``.
    """

    def __init__(self, input_dim: int = 784, hidden_dims=(512, 512), latent_dim: int = 32,
                 activation: str = "relu", image_shape=(1, 28, 28)):
        super().__init__()
        self.config = DeepVAEConfig(input_dim, hidden_dims, latent_dim, activation, tuple(image_shape))
        h = list(self.config.hidden_dims)
        self.encoder = _mlp([input_dim, *h], activation)  # (B, 784) -> (B, h[-1])
        self.fc_mu = nn.Linear(h[-1], latent_dim)
        self.fc_logvar = nn.Linear(h[-1], latent_dim)
        self.decoder = _mlp([latent_dim, *reversed(h)], activation)  # (B, D) -> (B, h[0])
        self.fc_out = nn.Linear(h[0], input_dim)

    @classmethod
    def from_config(cls, config: DeepVAEConfig | dict) -> "DeepVAE":
        c = config if isinstance(config, DeepVAEConfig) else DeepVAEConfig(**config)
        return cls(c.input_dim, c.hidden_dims, c.latent_dim, c.activation, c.image_shape)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of q(z|x): ``mu, logvar``, each ``(B, D)``."""
        x = check_images(x, self.config.input_dim, self.config.image_shape, self.dtype)  # (B, 784)
        h = self.encoder(x)  # (B, H)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of p(x|z), ``(B, 784)``."""
        z = check_latent(z, self.config.latent_dim, self.dtype)  # (B, D)
        return self.fc_out(self.decoder(z))  # (B, 784)

    @torch.no_grad()
    def init_output_bias(self, images: torch.Tensor, eps: float = 1e-3) -> None:
        """Start the decoder's output bias at ``logit(mean pixel)``, so the untrained model predicts the mean digit."""
        flat = check_images(images, self.config.input_dim, self.config.image_shape, self.dtype)
        mean = flat.mean(dim=0).clamp(eps, 1 - eps)  # (784,)
        self.fc_out.bias.copy_(torch.log(mean) - torch.log1p(-mean))
