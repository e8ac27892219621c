"""The conditional VAE: encoder and decoder both see the digit label, so ``z`` only has to hold the *style*.

Used by notebook 10 (and :mod:`vae_course.views.cvae_explorer`, its interactive view).

The model (Sohn, Lee & Yan 2015), layer by layer (``C`` = number of classes, ``D`` = latent size)::

    y (B,) -> one_hot(y) (B, C)
    h      = relu(fc1([x, one_hot(y)]))         # (B, 784 + C) -> (B, 400)
    mu     = fc_mu(h), logvar = fc_logvar(h)    # (B, D) each:  q(z | x, y)
    h3     = relu(fc3([z, one_hot(y)]))         # (B, D + C)   -> (B, 400)
    logits = fc4(h3)                            # (B, 784):    p(x | z, y)

The prior stays p(z) = N(0, I), so the objective is the ELBO of log p(x | y)::

    log p(x | y) >= E_q(z|x,y)[ log p(x | z, y) ] - KL( q(z | x, y) || N(0, I) )

:func:`vae_course.objectives.model_elbo` computes it as ``model_elbo(model, x, y)``, and ``fit(train_labels=...,
test_labels=...)`` passes the labels. The class is registered with :func:`vae_course.models.register_model`, so
:func:`vae_course.training.load_checkpoint` rebuilds it.

Reference:
    Sohn, Lee & Yan 2015, "Learning Structured Output Representation using Deep Conditional Generative Models"
    (NeurIPS 2015).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import VAEBase, check_images, check_latent, image_shape_for, require_positive_ints
from .registry import register_model


def one_hot(labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Integer labels ``(B,)`` -> float one-hot rows ``(B, num_classes)``: row ``i`` is 1 at column ``labels[i]``."""
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor of class indices, got {type(labels).__name__}.")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"labels must hold whole class indices (dtype long), got {labels.dtype}.")
    if labels.ndim != 1:
        raise ValueError(f"labels must be a 1-D tensor (B,), got shape {tuple(labels.shape)}.")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got values from {int(labels.min())} "
                         f"to {int(labels.max())}.")
    return F.one_hot(labels.long(), num_classes).to(torch.float32)  # (B, C)


def label_codes(y, num_classes: int, batch: int, device=None) -> torch.Tensor:
    """Labels in any of the accepted forms -> float ``(batch, num_classes)`` rows the networks take.

    Accepted: an ``int`` or 0-d tensor (the same label for the whole batch), integer labels ``(batch,)``, or float
    rows ``(batch, num_classes)`` (one-hot, or soft mixtures of classes).
    """
    if isinstance(y, bool):
        raise TypeError("a label must be a whole number or a tensor of labels, not a bool.")
    if isinstance(y, int):
        y = torch.full((batch,), y, dtype=torch.long)
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"labels must be an int or a torch.Tensor, got {type(y).__name__}.")
    if y.ndim == 0:
        y = y.reshape(1).expand(batch)
    if y.is_floating_point():
        if y.ndim != 2 or y.shape != (batch, num_classes):
            raise ValueError(f"float labels must be rows shaped ({batch}, {num_classes}), got {tuple(y.shape)}.")
        codes = y.float()
    else:
        if y.ndim != 1 or y.shape[0] != batch:
            raise ValueError(f"expected {batch} labels (one per image or code), got shape {tuple(y.shape)}.")
        codes = one_hot(y, num_classes)
    return codes.to(device) if device is not None else codes


@dataclass
class CVAEConfig:
    """Sizes of the conditional MLP VAE: the reference 784-400-D-400-784 plus ``num_classes`` label inputs."""

    input_dim: int = 784
    hidden_dim: int = 400
    latent_dim: int = 2
    num_classes: int = 10
    image_shape: tuple[int, ...] = field(default=(1, 28, 28))

    def __post_init__(self):
        require_positive_ints(self, ("input_dim", "hidden_dim", "latent_dim", "num_classes"),
                              " (MNIST: input_dim=784, num_classes=10)")
        self.image_shape = image_shape_for(self.image_shape, self.input_dim)


@register_model
class CVAE(VAEBase):
    """Conditional MLP VAE: ``encode(x, y)`` and ``decode_logits(z, y)``; ``y`` = labels (see :func:`label_codes`).

    ``sample(n, y)`` draws ``n`` styles from the prior and decodes them as digit(s) ``y``.
    """

    conditional = True

    def __init__(self, input_dim: int = 784, hidden_dim: int = 400, latent_dim: int = 2, num_classes: int = 10,
                 image_shape=(1, 28, 28)):
        super().__init__()
        self.config = CVAEConfig(input_dim, hidden_dim, latent_dim, num_classes, tuple(image_shape))
        self.fc1 = nn.Linear(input_dim + num_classes, hidden_dim)
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_logvar = nn.Linear(hidden_dim, latent_dim)
        self.fc3 = nn.Linear(latent_dim + num_classes, hidden_dim)
        self.fc4 = nn.Linear(hidden_dim, input_dim)

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @classmethod
    def from_config(cls, config: CVAEConfig | dict) -> "CVAE":
        c = config if isinstance(config, CVAEConfig) else CVAEConfig(**config)
        return cls(c.input_dim, c.hidden_dim, c.latent_dim, c.num_classes, c.image_shape)

    def encode(self, x: torch.Tensor, y) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of q(z | x, y): two ``(B, D)`` tensors."""
        x = check_images(x, self.config.input_dim, self.config.image_shape, self.dtype)  # (B, 784)
        c = label_codes(y, self.num_classes, x.shape[0], x.device)  # (B, C)
        h = F.relu(self.fc1(torch.cat([x, c], dim=1)))  # (B, 400)
        return self.fc_mu(h), self.fc_logvar(h)  # (B, D), (B, D)

    def decode_logits(self, z: torch.Tensor, y) -> torch.Tensor:
        """Bernoulli logits of p(x | z, y), flat: ``(B, 784)``."""
        z = check_latent(z, self.config.latent_dim, self.dtype)  # (B, D)
        c = label_codes(y, self.num_classes, z.shape[0], z.device)  # (B, C)
        h = F.relu(self.fc3(torch.cat([z, c], dim=1)))  # (B, 400)
        return self.fc4(h)  # (B, 784)


@torch.no_grad()
def digit_style_grid(model: CVAE, styles: torch.Tensor, digits=None) -> torch.Tensor:
    """Decode every digit with every style: ``(len(digits) * S, *image_shape)``, row = digit, column = style.

    ``styles`` is ``(S, D)``; lay the result out with ``show_images(grid, nrow=S)``.
    """
    digits = list(range(model.num_classes)) if digits is None else [int(d) for d in digits]
    styles = check_latent(styles, model.latent_dim)  # (S, D)
    device = next(model.parameters()).device
    s = styles.shape[0]
    z = styles.to(device).repeat(len(digits), 1)  # (len(digits) * S, D): styles cycle fastest
    y = torch.tensor(digits, device=device).repeat_interleave(s)  # (len(digits) * S,)
    return model.decode(z, y).cpu()
