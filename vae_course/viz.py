"""Static matplotlib figures: image grids and loss curves.

Used by notebooks 00 and 05-10 (and the interactive views in :mod:`vae_course.widgets` pair each widget with one of
these static figures, so the notebooks read well where widgets are dead, e.g. on GitHub).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torchvision.utils import make_grid


def image_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2, pad_value: float = 1.0) -> torch.Tensor:
    """``(N, 1, 28, 28)`` or ``(N, 784)`` images -> one ``(H, W)`` grey tensor laid out by ``torchvision``'s make_grid."""
    if not isinstance(images, torch.Tensor) or images.ndim not in (2, 3, 4) or images.shape[0] == 0:
        raise ValueError("images must be a non-empty tensor shaped (N, 1, 28, 28), (N, 28, 28) or (N, 784).")
    x = images.detach().float().cpu()
    if x.ndim == 2:
        side = int(round(x.shape[1] ** 0.5))
        if side * side != x.shape[1]:
            raise ValueError(f"cannot lay out flat images of {x.shape[1]} pixels as squares.")
        x = x.reshape(-1, 1, side, side)
    elif x.ndim == 3:
        x = x.unsqueeze(1)
    return make_grid(x, nrow=nrow, padding=padding, pad_value=pad_value)[0]  # (H, W)


def show_images(images: torch.Tensor, nrow: int = 8, title: str | None = None, ax=None, figsize=None):
    """Draw a grid of images in grey levels (white background) and return the axes."""
    grid = image_grid(images, nrow=nrow)
    if ax is None:
        rows = -(-images.shape[0] // nrow)
        _, ax = plt.subplots(figsize=figsize or (nrow * 0.9, rows * 0.9 + 0.4))
    ax.imshow(grid.numpy(), cmap="gray", vmin=0, vmax=1)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def plot_history(history, title: str = "Training curves (nats per image)", axes=None):
    """Three panels: negative ELBO, reconstruction and KL, train (solid) and test (dashed), per epoch."""
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    epochs = range(1, history.epochs + 1)
    for ax, key, label in zip(axes, ("loss", "recon", "kl"), ("negative ELBO", "reconstruction  -log p(x|z)",
                                                              "KL(q(z|x) || p(z))")):
        ax.plot(epochs, getattr(history, f"train_{key}"), "o-", label="train")
        test = getattr(history, f"test_{key}")
        if test:
            ax.plot(range(1, len(test) + 1), test, "s--", label="test")
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats per image")
        ax.set_title(label)
        ax.legend()
    axes[0].figure.suptitle(title)
    axes[0].figure.tight_layout()
    return axes
