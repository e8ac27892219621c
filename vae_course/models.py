"""The course's VAE models: the reference MLP VAE and a convolutional VAE with the same interface.

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

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F


def require_positive_ints(config, names: tuple[str, ...], hint: str = "") -> None:
    """Raise one clear ``ValueError`` if any of ``config``'s fields ``names`` is not a whole number >= 1."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name}={value!r} must be a positive whole number{hint}.")


def image_shape_for(image_shape, input_dim: int) -> tuple[int, ...]:
    """``image_shape`` as a tuple of ints, or ``(input_dim,)`` when it does not hold ``input_dim`` pixels."""
    shape = tuple(int(s) for s in image_shape)
    return shape if math.prod(shape) == input_dim else (input_dim,)


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


def check_images(x: torch.Tensor, input_dim: int, image_shape: tuple[int, ...],
                 dtype: torch.dtype | None = None) -> torch.Tensor:
    """Return ``x`` flattened to ``(B, input_dim)`` (cast to ``dtype`` if given), or raise one clear error.

    Accepts ``(B, *image_shape)`` (e.g. ``(B, 1, 28, 28)``), ``(B, 28, 28)`` or ``(B, input_dim)``.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor of images, got {type(x).__name__}: wrap it with torch.as_tensor(...).")
    if not x.is_floating_point():
        raise TypeError(f"expected float images in [0, 1], got dtype {x.dtype}: convert with x.float() / 255.")
    if x.ndim >= 2 and math.prod(x.shape[1:]) == input_dim and x.shape[0] > 0:
        x = x.reshape(x.shape[0], input_dim)
        return x if dtype is None else x.to(dtype)
    want = "(B, " + ", ".join(str(s) for s in image_shape) + ")"
    raise ValueError(f"expected a batch of images shaped {want} or (B, {input_dim}), got {tuple(x.shape)}: "
                     f"add a batch dimension with x.unsqueeze(0) for a single image.")


def check_latent(z: torch.Tensor, latent_dim: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Validate a batch of latent codes ``(B, latent_dim)``; a single code ``(latent_dim,)`` gets a batch axis.

    Codes are cast to ``dtype`` (the model's) if given, so float64 codes from numpy or ``linspace`` just work.
    """
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor of latent codes, got {type(z).__name__}.")
    if not z.is_floating_point():
        raise TypeError(f"expected float latent codes, got dtype {z.dtype}: convert with z.float().")
    if dtype is not None:
        z = z.to(dtype)
    if z.ndim == 1 and z.shape[0] == latent_dim:
        z = z.unsqueeze(0)
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"expected latent codes shaped (B, {latent_dim}), got {tuple(z.shape)}.")
    return z


class VAEBase(nn.Module):
    """What every course VAE shares: the reparameterized sample, pixel means from logits, ``forward`` and sampling."""

    config: VAEConfig
    conditional = False

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I): a sample of q(z|x) that gradients flow through (notebook 04)."""
        if mu.shape != logvar.shape:
            raise ValueError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must have the same shape.")
        if mu.dtype in (torch.bfloat16, torch.float16):  # fit's mixed precision: sample z in float32
            mu, logvar = mu.float(), logvar.float()
        std = torch.exp(0.5 * logvar)  # (B, D)
        eps = torch.randn_like(std)  # (B, D)
        return mu + std * eps

    def decode(self, z: torch.Tensor, *args) -> torch.Tensor:
        """Pixel means ``sigmoid(logits)`` shaped ``(B, *image_shape)``, e.g. ``(B, 1, 28, 28)``."""
        logits = self.decode_logits(z, *args)  # (B, input_dim)
        return torch.sigmoid(logits).reshape(logits.shape[0], *self.config.image_shape)

    def forward(self, x: torch.Tensor, *args) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(recon, mu, logvar)``; ``recon`` holds pixel means shaped like ``x``."""
        mu, logvar = self.encode(x, *args)
        z = self.reparameterize(mu, logvar)
        return torch.sigmoid(self.decode_logits(z, *args)).reshape(x.shape), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, *args, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``n`` draws from the prior N(0, I): pixel means ``(n, *image_shape)``."""
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError(f"n={n!r} must be a positive whole number of samples.")
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)  # (n, D)
        return self.decode(z, *args)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the weights; inputs are cast to it (so float64 images or codes work)."""
        return next(self.parameters()).dtype

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def describe(self) -> dict:
        """Class name and config, as stored in checkpoints."""
        return {"model_class": type(self).__name__, "config": asdict(self.config)}


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


MODEL_CLASSES: dict[str, type[VAEBase]] = {"VAE": VAE, "ConvVAE": ConvVAE}


def register_model(cls: type[VAEBase]) -> type[VAEBase]:
    """Make a model class loadable by :func:`vae_course.checkpoints.load_checkpoint` (it needs ``from_config``)."""
    MODEL_CLASSES[cls.__name__] = cls
    return cls
