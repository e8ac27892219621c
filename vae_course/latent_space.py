"""Moving around a trained VAE's latent space: posterior means, quantile grids, interpolation, PCA planes.

Used by notebooks 05 and 06, by :mod:`vae_course.viz` (manifold grids, traversals) and :mod:`vae_course.widgets`
(the latent-space explorer).

* :func:`encode_means` runs the encoder over a whole split in batches: the posterior means and log-variances.
* :func:`normal_quantile_grid` is the grid of Kingma & Welling (2013, figure 4): evenly spaced probabilities pushed
  through the inverse CDF of N(0, 1), so that every cell of the grid holds the same prior mass.
* :func:`interpolate` walks the straight line from ``z0`` to ``z1``: ``z(t) = (1 - t) z0 + t z1``.
* :func:`pca_plane` finds the 2-D plane (or k-D subspace) in which the posterior means of a large latent space vary
  most, so that a 20-D model can be explored with two sliders: ``z = origin + coords @ basis``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch


def check_model(model) -> None:
    """Raise a clear ``TypeError`` unless ``model`` is a course VAE (it needs ``encode``, ``decode``, ``latent_dim``)."""
    needed = ("encode", "decode", "latent_dim", "parameters")
    if not all(hasattr(model, name) for name in needed) or not isinstance(model, torch.nn.Module):
        raise TypeError(f"expected a course VAE (e.g. vae_course.models.VAE) with encode/decode/latent_dim, "
                        f"got {type(model).__name__}.")
    if getattr(model, "conditional", False):
        raise TypeError("this is a conditional VAE: its decoder also needs a label, which these tools do not take.")


def _device_of(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def encode_means(model, images: torch.Tensor, batch_size: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mu, logvar)`` of q(z|x) for every image, each ``(N, D)`` on the CPU (the model is put in eval mode).

    Args:
        images: ``(N, 1, 28, 28)`` or ``(N, 784)`` float images in [0, 1].
    """
    check_model(model)
    if not isinstance(images, torch.Tensor) or images.ndim < 2 or images.shape[0] == 0:
        raise ValueError("images must be a non-empty batch of images shaped (N, 1, 28, 28) or (N, 784).")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size={batch_size!r} must be a positive whole number.")
    model.eval()
    dev = _device_of(model)
    mus, logvars = [], []
    for i in range(0, images.shape[0], batch_size):
        mu, logvar = model.encode(images[i:i + batch_size].to(dev))  # (b, D) each
        mus.append(mu.cpu())
        logvars.append(logvar.cpu())
    return torch.cat(mus), torch.cat(logvars)  # (N, D), (N, D)


def normal_quantiles(n: int) -> torch.Tensor:
    """``n`` values of N(0, 1) at the probabilities ``(i + 1/2) / n``: equal prior mass between neighbours. ``(n,)``"""
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n={n!r} must be a positive whole number of grid points.")
    p = (torch.arange(n, dtype=torch.float64) + 0.5) / n  # (n,) in (0, 1), never 0 or 1
    return torch.distributions.Normal(0.0, 1.0).icdf(p).to(torch.float32)


def normal_quantile_grid(n: int) -> torch.Tensor:
    """The ``n x n`` grid of 2-D codes of Kingma & Welling's figure 4, row by row as an image reads: ``(n*n, 2)``.

    Row ``r`` (top to bottom) has ``z2 = q[n-1-r]`` (largest at the top, as on a y axis) and column ``c`` has
    ``z1 = q[c]``, where ``q = normal_quantiles(n)``.
    """
    return value_grid(normal_quantiles(n))


def value_grid(values) -> torch.Tensor:
    """The 2-D grid ``values x values`` row by row as an image reads (``z2`` decreasing down the rows): ``(n*n, 2)``."""
    q = torch.as_tensor(values, dtype=torch.float32)
    if q.ndim != 1 or q.shape[0] == 0 or not torch.all(torch.isfinite(q)):
        raise ValueError("values must be a non-empty 1-D list of finite numbers.")
    z2, z1 = torch.meshgrid(q.flip(0), q, indexing="ij")  # (n, n) each
    return torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)  # (n*n, 2)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, t) -> torch.Tensor:
    """Linear interpolation ``(1 - t) * z0 + t * z1``.

    Args:
        z0, z1: latent codes of the same shape, e.g. ``(D,)``.
        t: a number in [0, 1] (returns ``z0``'s shape) or a 1-D tensor/list of ``T`` values (returns ``(T, *z0.shape)``).
    """
    if not (isinstance(z0, torch.Tensor) and isinstance(z1, torch.Tensor)):
        raise TypeError("z0 and z1 must be torch tensors (latent codes).")
    if z0.shape != z1.shape:
        raise ValueError(f"z0 {tuple(z0.shape)} and z1 {tuple(z1.shape)} must have the same shape.")
    tt = torch.as_tensor(t, dtype=z0.dtype, device=z0.device)
    if tt.ndim > 1 or not torch.all(torch.isfinite(tt)):
        raise ValueError("t must be a finite number or a 1-D list of numbers.")
    if torch.any(tt < 0) or torch.any(tt > 1):
        raise ValueError("t must lie in [0, 1] (0 gives z0, 1 gives z1).")
    if tt.ndim == 0:
        if tt.item() == 0:
            return z0.clone()
        if tt.item() == 1:
            return z1.clone()
        return z0 + tt * (z1 - z0)
    w = tt.reshape(-1, *([1] * z0.ndim))  # (T, 1, ...)
    out = z0.unsqueeze(0) + w * (z1 - z0).unsqueeze(0)  # (T, *z0.shape)
    out[tt == 0] = z0
    out[tt == 1] = z1  # exact endpoints, no rounding
    return out


class Plane(NamedTuple):
    """A k-D slice of latent space: ``z = origin + coords @ basis`` (``basis`` rows are orthonormal)."""

    origin: torch.Tensor  # (D,)
    basis: torch.Tensor  # (k, D)
    explained: torch.Tensor  # (k,) share of the means' variance along each direction

    def project(self, z: torch.Tensor) -> torch.Tensor:
        """Coordinates of codes ``(N, D)`` in the plane: ``(z - origin) @ basis.T``, ``(N, k)``."""
        return (z - self.origin) @ self.basis.T

    def lift(self, coords: torch.Tensor) -> torch.Tensor:
        """Codes ``(N, D)`` for plane coordinates ``(N, k)``."""
        return self.origin + coords @ self.basis


def axis_plane(latent_dim: int, dims=(0, 1)) -> Plane:
    """The plane spanned by latent axes ``dims`` through the origin (the prior's mean)."""
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim <= 0:
        raise ValueError(f"latent_dim={latent_dim!r} must be a positive whole number.")
    dims = list(dims)
    if not dims or len(set(dims)) != len(dims) or any(not 0 <= d < latent_dim for d in dims):
        raise ValueError(f"dims={dims} must be distinct axes between 0 and {latent_dim - 1}.")
    basis = torch.eye(latent_dim)[dims]  # (k, D)
    return Plane(torch.zeros(latent_dim), basis, torch.full((len(dims),), float("nan")))


def pca_plane(points: torch.Tensor, k: int = 2) -> Plane:
    """The k directions in which ``points`` ``(N, D)`` vary most (SVD of the centred points), through their mean.

    ``explained[i]`` is the share of the total variance along direction ``i``; the signs are fixed so that each
    direction's largest component is positive (the SVD alone leaves them arbitrary).
    """
    if not isinstance(points, torch.Tensor) or points.ndim != 2 or points.shape[0] < 2:
        raise ValueError("points must be a (N, D) tensor with N >= 2, e.g. posterior means from encode_means.")
    n, d = points.shape
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= min(n, d):
        raise ValueError(f"k={k!r} must be a whole number between 1 and {min(n, d)}.")
    x = points.detach().double().cpu()
    origin = x.mean(dim=0)  # (D,)
    _, s, vh = torch.linalg.svd(x - origin, full_matrices=False)  # s: (min(N, D),), vh: (min(N, D), D)
    basis = vh[:k]  # (k, D)
    idx = basis.abs().argmax(dim=1)
    signs = torch.sign(basis[torch.arange(k), idx])
    basis = basis * signs[:, None]
    var = s.pow(2)
    explained = var[:k] / var.sum()
    return Plane(origin.float(), basis.float(), explained.float())


def sigma_ellipse(mu: torch.Tensor, logvar: torch.Tensor, k: float = 1.0, plane: Plane | None = None,
                  n: int = 64) -> torch.Tensor:
    """Points ``(n, 2)`` on the k-sigma ellipse of q(z|x) = N(mu, diag(exp(logvar))), seen in a 2-D plane.

    In the plane the posterior is N(P(mu - o), P diag(var) P^T); the ellipse is ``centre + k * L @ [cos, sin]`` with
    ``L L^T`` that 2x2 covariance. For a 2-D model without a plane it has half-axes ``k * exp(logvar / 2)``.
    """
    if mu.ndim != 1 or mu.shape != logvar.shape:
        raise ValueError("mu and logvar must be two (D,) tensors of the same shape (one image's posterior).")
    if not (isinstance(k, (int, float)) and k > 0 and math.isfinite(k)):
        raise ValueError(f"k={k!r} must be a positive number of standard deviations.")
    if plane is None and mu.shape[0] == 2:
        plane = axis_plane(2, (0, 1))
    if plane is None or plane.basis.shape != (2, mu.shape[0]):
        raise ValueError("sigma_ellipse needs a 2-D plane of the model's latent space (a 2-D model needs none).")
    centre = plane.project(mu.float().unsqueeze(0))[0]  # (2,)
    cov = plane.basis @ torch.diag(logvar.float().exp()) @ plane.basis.T  # (2, 2)
    chol = torch.linalg.cholesky(cov.double()).float()  # (2, 2)
    angle = torch.linspace(0, 2 * math.pi, n)
    circle = torch.stack([angle.cos(), angle.sin()], dim=1)  # (n, 2)
    return centre + k * circle @ chol.T  # (n, 2)
