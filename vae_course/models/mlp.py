"""The reference MLP VAE of the course (784-400-D-400-784, Bernoulli decoder through logits).

Used by notebooks 00-10, the CLI and ``benchmarks/``.

References:
    Kingma & Welling, "Auto-Encoding Variational Bayes", 2013 (arXiv:1312.6114): the MLP VAE, appendix C.
    pytorch/examples ``vae/main.py``: the 784-400-20 script this course's 784-400-2 reference follows.

The reference model, layer by layer (``B`` = batch size, ``D`` = latent size)::

    x (B, 1, 28, 28) -> flatten (B, 784)
    h      = relu(fc1(x))          # (B, 400)
    mu     = fc_mu(h)              # (B, D)
    logvar = fc_logvar(h)          # (B, D)
    z      = mu + exp(logvar/2) * eps,  eps ~ N(0, I)   # (B, D)
    h3     = relu(fc3(z))          # (B, 400)
    logits = fc4(h3)               # (B, 784); pixel means = sigmoid(logits)

With D = 2 that is 631,188 parameters, exactly the reference script's count.

Why logits? The reference script computes ``sigmoid`` in the decoder and then ``binary_cross_entropy`` on the
probabilities. When a pixel's probability saturates to 0.0 or 1.0 in float32, ``log(p)`` is ``-inf`` and torch clamps
it at -100, which silently caps the loss and kills the gradient. ``binary_cross_entropy_with_logits`` computes
``log sigmoid(l) = -softplus(-l)`` directly from the logit, which is exact for every ``l``. So the models return
logits through :meth:`decode_logits`, the losses use them, and :meth:`decode` / :meth:`forward` still hand back
pixel means (``sigmoid(logits)``) for plotting, as the reference does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import VAEBase, check_images, check_latent, image_shape_for, require_positive_ints
from .registry import register_model


@dataclass
class VAEConfig:
    """Sizes of the MLP VAE. ``image_shape`` is what :meth:`VAE.decode` reshapes its output to."""

    input_dim: int = 784
    hidden_dim: int = 400
    latent_dim: int = 2
    image_shape: tuple[int, ...] = field(default=(1, 28, 28))

    def __post_init__(self):
        require_positive_ints(self, ("input_dim", "hidden_dim", "latent_dim"),
                              " (the reference uses input_dim=784, hidden_dim=400, latent_dim=2)")
        self.image_shape = image_shape_for(self.image_shape, self.input_dim)


@register_model
class VAE(VAEBase):
    """The reference MLP VAE (784-400-D-400-784, ReLU, Bernoulli decoder through logits).

    Args:
        input_dim: pixels per image (784 for MNIST).
        hidden_dim: width of the one hidden layer on each side (400).
        latent_dim: size of z (2 in the reference; 20 in pytorch/examples).
    """

    def __init__(self, input_dim: int = 784, hidden_dim: int = 400, latent_dim: int = 2, image_shape=(1, 28, 28)):
        super().__init__()
        self.config = VAEConfig(input_dim, hidden_dim, latent_dim, tuple(image_shape))
        self.fc1 = nn.Linear(input_dim, hidden_dim)
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_logvar = nn.Linear(hidden_dim, latent_dim)
        self.fc3 = nn.Linear(latent_dim, hidden_dim)
        self.fc4 = nn.Linear(hidden_dim, input_dim)

    @classmethod
    def from_config(cls, config: VAEConfig | dict) -> "VAE":
        c = config if isinstance(config, VAEConfig) else VAEConfig(**config)
        return cls(c.input_dim, c.hidden_dim, c.latent_dim, c.image_shape)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of q(z|x) = N(mu, diag(exp(logvar))): two ``(B, D)`` tensors."""
        x = check_images(x, self.config.input_dim, self.config.image_shape, self.dtype)  # (B, 784)
        h = F.relu(self.fc1(x))  # (B, 400)
        return self.fc_mu(h), self.fc_logvar(h)  # (B, D), (B, D)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of p(x|z), flat: ``(B, 784)``."""
        z = check_latent(z, self.config.latent_dim, self.dtype)  # (B, D)
        h = F.relu(self.fc3(z))  # (B, 400)
        return self.fc4(h)  # (B, 784)
