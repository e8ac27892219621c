"""What every course VAE shares: the :class:`VAEBase` class and the input checks of images, codes and sizes.

Used by every model family in :mod:`vae_course.models` (notebooks 00-10). :class:`VAEBase` holds the reparameterized
sample (notebook 04), pixel means from logits, ``forward``, sampling from the prior and, through
:class:`_ModelInfo` (which notebook 13's models share), ``dtype``, ``num_parameters`` and ``describe`` (what a
checkpoint stores); a family adds ``encode``, ``decode_logits`` and ``from_config``.

NaN in, NaN out, said in one sentence: ``forward`` refuses images with NaN or inf pixels and ``decode`` refuses
codes with NaN or inf entries (issue 27). Each check costs one host sync, so it runs only where a learner calls
these entry points: :func:`vae_course.training.fit` checks its images once per call and trains inside
:func:`_inputs_checked`, where both checks are skipped, so that a training step keeps its single host sync (an
objective that calls ``model(x)`` adds none). The per-step work inside ``fit`` goes through ``encode`` and
``decode_logits``, which never check values, only shapes.
"""
from __future__ import annotations

import contextvars
import math
from contextlib import contextmanager
from dataclasses import asdict

import torch
import torch.nn as nn


_INPUTS_CHECKED = contextvars.ContextVar("vae_course_model_inputs_checked", default=False)


@contextmanager
def _inputs_checked():
    """Inside this block ``forward`` and ``decode`` skip their NaN checks (``fit`` checked its images once)."""
    token = _INPUTS_CHECKED.set(True)
    try:
        yield
    finally:
        _INPUTS_CHECKED.reset(token)


def _refuse_non_finite(t, what: str, fix: str) -> None:
    """One ``ValueError`` if the float tensor ``t`` holds NaN or inf (one host sync; skipped inside ``fit``)."""
    if isinstance(t, torch.Tensor) and t.is_floating_point() and not _INPUTS_CHECKED.get() \
            and not bool(torch.isfinite(t.detach()).all()):
        raise ValueError(f"{what} contain NaN or inf values, which would come out as NaN pixels: {fix}.")


def require_positive_ints(config, names: tuple[str, ...], hint: str = "") -> None:
    """Raise one clear ``ValueError`` if any of ``config``'s fields ``names`` is not a whole number >= 1."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name}={value!r} must be a positive whole number{hint}.")


def image_shape_for(image_shape, input_dim: int) -> tuple[int, ...]:
    """``image_shape`` as a tuple of ints, or ``(input_dim,)`` when the default ``(1, 28, 28)`` does not hold
    ``input_dim`` pixels; any other shape that does not hold them is one clear ``ValueError``."""
    try:
        shape = tuple(int(s) for s in image_shape)
    except (TypeError, ValueError):
        shape = ()
    if not shape or isinstance(image_shape, str) or any(s <= 0 for s in shape):
        raise ValueError(f"image_shape={image_shape!r} must be a tuple of positive whole numbers such as (1, 28, 28).")
    if math.prod(shape) == input_dim:
        return shape
    if shape != (1, 28, 28):
        raise ValueError(f"image_shape={tuple(image_shape)!r} holds {math.prod(shape)} pixels but input_dim is "
                         f"{input_dim}: pass an image_shape with input_dim pixels, e.g. ({input_dim},).")
    return (input_dim,)


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
    if x.numel() == input_dim:
        raise ValueError(f"expected a batch of images shaped {want} or (B, {input_dim}), got {tuple(x.shape)}: "
                         f"add a batch dimension with x.unsqueeze(0) for a single image.")
    raise ValueError(f"expected a batch of images shaped {want} or (B, {input_dim}), got {tuple(x.shape)}: the model "
                     f"takes {input_dim} pixels per image (one channel), so convert the images to that size first.")


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


class _ModelInfo:
    """What every course model reports about itself: the weights' dtype, its size and what a checkpoint stores."""

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the weights; inputs are cast to it (so float64 images or codes work)."""
        return next(self.parameters()).dtype

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def describe(self) -> dict:
        """Class name and config, as stored in checkpoints."""
        return {"model_class": type(self).__name__, "config": asdict(self.config)}


class VAEBase(_ModelInfo, nn.Module):
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
        _refuse_non_finite(z, "the latent codes z given to decode", "decode finite codes, e.g. from "
                           "model.encode(x) or torch.randn, and look for a division by zero where z was made")
        logits = self.decode_logits(z, *args)  # (B, input_dim)
        return torch.sigmoid(logits).reshape(logits.shape[0], *self.config.image_shape)

    def forward(self, x: torch.Tensor, *args) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(recon, mu, logvar)``; ``recon`` holds pixel means shaped like ``x``."""
        _refuse_non_finite(x, "the images x given to the model", "images must lie in [0, 1], so look for a "
                           "division by zero or a broken transform where they were made")
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
