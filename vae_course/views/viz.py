"""Static matplotlib figures: image grids, loss curves and latent-space figures (scatters, manifold grids, traversals).

Used by notebooks 05, 06, 09 and 10 (and the interactive views in :mod:`vae_course.views` pair each widget with one of
these static figures, so the notebooks read well where widgets are dead, e.g. on GitHub).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torchvision.utils import make_grid

from .base import _check_limit


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


# ---------------------------------------------------------------------------------------------------------------
# Latent space (notebooks 05-06): scatter of posterior means, the manifold grid, traversals, posterior ellipses.
# ---------------------------------------------------------------------------------------------------------------
DIGIT_CMAP = "tab10"


def _labels_to_numpy(labels, n):
    import numpy as np

    if labels is None:
        return None
    lab = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if lab.ndim != 1 or lab.shape[0] != n:
        raise ValueError(f"labels must be 1-D with one label per point ({n}), got shape {tuple(lab.shape)}.")
    return lab


def latent_scatter(points: torch.Tensor, labels=None, ax=None, title: str | None = "Posterior means of the test set",
                   limit: float | None = None, s: float = 2.0, alpha: float = 0.6, colorbar: bool = True,
                   axis_labels=("$z_1$", "$z_2$")):
    """Scatter 2-D latent points ``(N, 2)`` coloured by digit label (tab10) and return the axes.

    ``limit`` fixes both axes to ``[-limit, limit]`` (the widgets draw on such a fixed square).
    """
    if not isinstance(points, torch.Tensor) or points.ndim != 2 or points.shape[1] != 2 or points.shape[0] == 0:
        shape = tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
        raise ValueError(f"points must be a (N, 2) tensor of 2-D latent codes, got {shape}; project larger codes "
                         f"first (e.g. latent_space.pca_plane(mu).project(mu)).")
    if limit is not None:
        _check_limit(limit)
    pts = points.detach().float().cpu().numpy()
    lab = _labels_to_numpy(labels, pts.shape[0])
    if ax is None:
        _, ax = plt.subplots(figsize=(5.6, 4.8), layout="constrained")
    if lab is None:
        ax.scatter(pts[:, 0], pts[:, 1], s=s, alpha=alpha, color="tab:blue", linewidths=0,
                   antialiased=pts.shape[0] < 2000)
    else:
        sc = ax.scatter(pts[:, 0], pts[:, 1], c=lab, cmap=DIGIT_CMAP, vmin=-0.5, vmax=9.5, s=s, alpha=alpha,
                        linewidths=0, antialiased=pts.shape[0] < 2000)  # no anti-aliasing: 2x smaller PNGs
        if colorbar:
            cb = ax.figure.colorbar(sc, ax=ax, ticks=range(10), fraction=0.046, pad=0.03)
            cb.set_label("digit")
            cb.solids.set_alpha(1)
    if limit is not None:
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    if title:
        ax.set_title(title)
    return ax


@torch.no_grad()
def decode_codes(model, z: torch.Tensor) -> torch.Tensor:
    """Pixel means ``(N, 1, 28, 28)`` on the CPU for latent codes ``(N, D)`` (the model is put in eval mode)."""
    from ..evaluation.latent_space import check_model

    check_model(model)
    model.eval()
    dev = next(model.parameters()).device
    return model.decode(z.to(dev)).cpu()


def manifold_grid(model, n: int = 20, ax=None, title: str | None = None, plane=None, values=None):
    """Decode an ``n x n`` grid of codes at N(0, 1) quantiles (Kingma & Welling 2013, figure 4); return the axes.

    ``values`` (a 1-D list) replaces the quantiles by your own coordinates, e.g. ``torch.linspace(-3, 3, 13)`` for
    the evenly spaced grid that the explorer's sliders move over.

    For a 2-D model the grid is the latent plane itself. For a larger model pass ``plane`` (a
    :class:`vae_course.evaluation.Plane`): the same quantiles become coordinates along its two orthonormal
    directions, ``z = origin + (q1, q2) @ basis``.
    """
    from ..evaluation.latent_space import normal_quantiles, value_grid

    q = normal_quantiles(n) if values is None else torch.as_tensor(values, dtype=torch.float32).reshape(-1)
    n = q.shape[0]
    coords = value_grid(q)  # (n*n, 2)
    if plane is None:
        if model.latent_dim != 2:
            raise ValueError(f"the model has a {model.latent_dim}-D latent space: pass plane=... (e.g. "
                             f"latent_space.pca_plane(mu) or axis_plane(D, (0, 1))) to pick a 2-D slice.")
        z = coords
    else:
        if plane.basis.shape != (2, model.latent_dim):
            raise ValueError(f"plane must be 2-D in the model's {model.latent_dim}-D latent space, got basis "
                             f"{tuple(plane.basis.shape)}.")
        z = plane.lift(coords)  # (n*n, D)
    images = decode_codes(model, z)  # (n*n, 1, 28, 28)
    grid = image_grid(images, nrow=n, padding=0).numpy()  # (28n, 28n)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 7))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
    q = q.tolist()
    ticks = sorted({round(k * (n - 1) / 4) for k in range(5)})  # first, last and three between
    fmt = "{:.2f}" if values is None else "{:.1f}"
    ax.set_xticks([28 * i + 13.5 for i in ticks], [fmt.format(q[i]) for i in ticks])
    ax.set_yticks([28 * i + 13.5 for i in ticks], [fmt.format(q[n - 1 - i]) for i in ticks])
    names = ("$z_1$", "$z_2$") if plane is None else ("coordinate 1", "coordinate 2")
    what = "N(0,1) quantiles" if values is None else "evenly spaced"
    ax.set_xlabel(f"{names[0]} ({what})")
    ax.set_ylabel(f"{names[1]} ({what})")
    ax.set_title(title or (f"Decoded means over a {n}x{n} grid of prior quantiles" if values is None
                           else f"Decoded means over a {n}x{n} grid"))
    return ax


def show_strip(images: torch.Tensor, ax=None, title: str | None = None, captions=None):
    """One row of images with an optional caption under each (e.g. the value of t or of a latent coordinate)."""
    n = images.shape[0]
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 * n + 0.4, 1.6))
    grid = image_grid(images, nrow=n, padding=2).numpy()
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
    ax.set_yticks([])
    if captions is not None:
        if len(captions) != n:
            raise ValueError(f"captions has {len(captions)} entries for {n} images.")
        ax.set_xticks([2 + 30 * i + 14 for i in range(n)], list(captions), fontsize=8)
    else:
        ax.set_xticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title)
    return ax


def traversal_grid(model, plane=None, values=None, origin: torch.Tensor | None = None, ax=None,
                   title: str | None = None):
    """Rows: one direction of ``plane`` each; columns: ``origin + v * direction`` for v in ``values``; return the axes.

    Default ``plane``: the first ``min(D, 5)`` latent axes; default ``values``: 9 points from -2.5 to 2.5;
    default ``origin``: the plane's origin.
    """
    from ..evaluation.latent_space import axis_plane, check_model

    check_model(model)
    plane = plane or axis_plane(model.latent_dim, range(min(model.latent_dim, 5)))
    if plane.basis.shape[1] != model.latent_dim:
        raise ValueError(f"plane lives in {plane.basis.shape[1]}-D, the model's latent space is {model.latent_dim}-D.")
    vals = torch.linspace(-2.5, 2.5, 9) if values is None else torch.as_tensor(values, dtype=torch.float32)
    base = plane.origin if origin is None else origin.float()
    k, t = plane.basis.shape[0], vals.shape[0]
    z = base + vals.reshape(1, t, 1) * plane.basis.reshape(k, 1, -1)  # (k, T, D)
    images = decode_codes(model, z.reshape(k * t, -1))  # (k*T, 1, 28, 28)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.9 * t + 1.2, 0.9 * k + 0.8))
    ax.imshow(image_grid(images, nrow=t, padding=2).numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([2 + 30 * i + 14 for i in range(t)], [f"{v:+.1f}" for v in vals.tolist()], fontsize=8)
    ax.set_yticks([2 + 30 * i + 14 for i in range(k)], [f"dir {i + 1}" for i in range(k)], fontsize=8)
    ax.set_xlabel("coordinate along the direction")
    ax.set_title(title or "Latent traversal: one direction per row")
    return ax


def posterior_ellipses(ax, mu: torch.Tensor, logvar: torch.Tensor, plane=None, ks=(1.0, 2.0), color="black",
                       label: str | None = None):
    """Draw q(z|x)'s mean and its k-sigma ellipses (for one image) on a 2-D latent axes; return the axes."""
    from ..evaluation.latent_space import sigma_ellipse

    centre = mu.float() if plane is None else plane.project(mu.float().unsqueeze(0))[0]
    for i, k in enumerate(ks):
        pts = sigma_ellipse(mu, logvar, k, plane=plane).numpy()
        ax.plot(pts[:, 0], pts[:, 1], color=color, lw=1.4 if i == 0 else 1.0, ls="-" if i == 0 else "--")
    ax.plot([centre[0].item()], [centre[1].item()], marker="x", color=color, ms=8, mew=2, ls="none", label=label)
    return ax
