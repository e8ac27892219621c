"""Moving around a trained VAE's latent space: posterior means, quantile grids, interpolation, PCA planes.

Used by notebooks 05 and 06, by :mod:`vae_course.views.viz` (manifold grids, traversals) and :mod:`vae_course.views`
(the latent-space explorer).

* :func:`encode_means` runs the encoder over a whole split in batches: the posterior means and log-variances.
* :func:`normal_quantile_grid` is the grid of Kingma & Welling (2013, figure 4): evenly spaced probabilities pushed
  through the inverse CDF of N(0, 1), so that every cell of the grid holds the same prior mass.
* :func:`interpolate` walks the straight line from ``z0`` to ``z1``: ``z(t) = (1 - t) z0 + t z1``.
* :func:`pca_plane` finds the 2-D plane (or k-D subspace) in which the posterior means of a large latent space vary
  most, so that a 20-D model can be explored with two sliders: ``z = origin + coords @ basis``.
* :func:`aggregate_posterior_grid` evaluates the aggregate posterior q(z) = mean_i q(z|x_i) and the prior on a grid
  of a 2-D plane (the explorer's "q(z) vs N(0, I)" layer); :func:`prior_hole_mass` measures how much of the prior's
  mass falls where q(z) is small: the holes that the prior samples from and the codes never visit (notebook 06).
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


class AggregateGrid(NamedTuple):
    """q(z) and p(z) on the cell centres of an ``n x n`` grid over ``[-limit, limit]^2`` of a plane's coordinates.

    ``density[r, c]`` and ``prior[r, c]`` are the densities at ``(xs[c], ys[r])`` (``ys`` increasing with ``r``); the
    midpoint rule ``density.sum() * cell_area`` is q's mass inside the square (about 1 when the square holds the codes).
    """

    xs: torch.Tensor  # (n,)
    ys: torch.Tensor  # (n,)
    density: torch.Tensor  # (n, n) q(c) = mean_i N(c; P(mu_i - o), P diag(sigma_i^2) P^T)
    prior: torch.Tensor  # (n, n) N(c; -P o, I): the prior N(0, I) seen in the plane
    cell_area: float
    prior_mean: torch.Tensor  # (2,) -P o, where the prior's mean lands in the plane


def _check_posteriors(mu, logvar) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(mu, torch.Tensor) and isinstance(logvar, torch.Tensor)) or mu.ndim != 2 \
            or mu.shape != logvar.shape or mu.shape[0] == 0:
        raise ValueError("mu and logvar must be two (N, D) tensors of the same shape with N > 0, e.g. from "
                         "encode_means(model, images).")
    if not (torch.isfinite(mu).all() and torch.isfinite(logvar).all()):
        raise ValueError("mu and logvar must be finite: a NaN or infinite posterior has no density.")
    return mu.detach().double().cpu(), logvar.detach().double().cpu()


def _separable_density(xs: torch.Tensor, centres: torch.Tensor, a: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """(1/N) sum_i N(x; cx_i, a_i) N(y; cy_i, e_i) at every (x, y) = (xs[col], xs[row]): ``(GY^T GX) / N``."""
    gx = torch.exp(-0.5 * (xs[None, :] - centres[:, 0:1]) ** 2 / a[:, None]) / torch.sqrt(2 * math.pi * a[:, None])
    gy = torch.exp(-0.5 * (xs[None, :] - centres[:, 1:2]) ** 2 / e[:, None]) / torch.sqrt(2 * math.pi * e[:, None])
    return gy.T @ gx / centres.shape[0]  # (n, n): row r has y = xs[r], column c has x = xs[c]


def _correlated_density(grid: torch.Tensor, centres: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                        e: torch.Tensor, chunk: int) -> torch.Tensor:
    """(1/N) sum_i N(g; c_i, [[a_i, b_i], [b_i, e_i]]) at the points ``grid`` ``(G, 2)``, in chunks of images."""
    det = a * e - b * b  # (N,)
    total = torch.zeros(grid.shape[0], dtype=torch.float64)
    for i in range(0, centres.shape[0], chunk):
        dx = grid[None, :, 0] - centres[i:i + chunk, None, 0]  # (c, G)
        dy = grid[None, :, 1] - centres[i:i + chunk, None, 1]
        ai, bi, ei, di = (t[i:i + chunk, None] for t in (a, b, e, det))
        quad = (ei * dx * dx - 2 * bi * dx * dy + ai * dy * dy) / di  # (c, G) Mahalanobis distances squared
        total += (torch.exp(-0.5 * quad) / (2 * math.pi * di.sqrt())).sum(dim=0)
    return total / centres.shape[0]  # (G,)


def aggregate_posterior_grid(mu: torch.Tensor, logvar: torch.Tensor, limit: float, n: int = 121,
                             plane: Plane | None = None, chunk: int = 512) -> AggregateGrid:
    """The aggregate posterior q(z) = (1/N) sum_i q(z|x_i) and the prior N(0, I), on a grid of a 2-D plane.

    Seen in the plane ``c = P (z - o)`` (``P`` = ``plane.basis`` with orthonormal rows, ``o`` = ``plane.origin``), each
    q(z|x_i) = N(mu_i, diag sigma_i^2) is the 2-D Gaussian N(P (mu_i - o), P diag(sigma_i^2) P^T) and the prior is
    N(-P o, I). For a 2-D model without a plane these are q(z) and N(0, I) themselves.

    Args:
        mu, logvar: ``(N, D)`` posterior parameters of the images (e.g. the whole test set from :func:`encode_means`).
        limit: the grid covers ``[-limit, limit]^2``; ``n``: cells per side (cell centres, for the midpoint rule).
    """
    mu, logvar = _check_posteriors(mu, logvar)
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not math.isfinite(limit) or limit <= 0:
        raise ValueError(f"limit={limit!r} must be a positive number (the grid spans [-limit, limit]^2).")
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= 1000:
        raise ValueError(f"n={n!r} must be a whole number of grid cells per side between 2 and 1000.")
    d = mu.shape[1]
    if plane is None:
        if d != 2:
            raise ValueError(f"the latent space is {d}-D: pass plane=pca_plane(mu) (or axis_plane) to pick the 2-D "
                             f"slice of q(z) to draw.")
        plane = axis_plane(2)
    if plane.basis.shape != (2, d):
        raise ValueError(f"plane must be a 2-D plane of the {d}-D latent space, got basis {tuple(plane.basis.shape)}.")
    basis, origin = plane.basis.double(), plane.origin.double()
    h = 2 * limit / n
    xs = torch.linspace(-limit + h / 2, limit - h / 2, n, dtype=torch.float64)  # (n,) cell centres
    cy, cx = torch.meshgrid(xs, xs, indexing="ij")  # (n, n): row r has y = xs[r]
    grid = torch.stack([cx.reshape(-1), cy.reshape(-1)], dim=1)  # (G, 2)
    centres = (mu - origin) @ basis.T  # (N, 2)
    var = logvar.exp()  # (N, D)
    a = var @ basis[0].pow(2)  # (N,) the 2x2 covariances P diag(var) P^T = [[a, b], [b, e]]
    b = var @ (basis[0] * basis[1])
    e = var @ basis[1].pow(2)
    if bool((b == 0).all()):  # an axis plane: each q(z|x_i) is a product N(x; ., a_i) N(y; ., e_i) in the plane
        density = _separable_density(xs, centres, a, e)  # (n, n), a matrix product: milliseconds, not seconds
    else:
        density = _correlated_density(grid, centres, a, b, e, chunk).reshape(n, n)
    shift = -(basis @ origin)  # (2,) where the prior's mean lands in the plane
    prior = torch.exp(-0.5 * ((grid - shift) ** 2).sum(dim=1)).reshape(n, n) / (2 * math.pi)
    return AggregateGrid(xs.float(), xs.float().clone(), density.float(), prior.float(), h * h, shift.float())


class HoleMass(NamedTuple):
    """``mass`` = P_{z ~ N(0, I)}[q(z) < fraction * p(z)], a Monte Carlo estimate with its standard error."""

    mass: float
    stderr: float
    fraction: float
    draws: int


def log_aggregate_posterior(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(z) = log (1/N) sum_i N(z; mu_i, diag exp(logvar_i)) for codes ``z`` ``(M, D)``, exactly: ``(M,)``."""
    mu, logvar = _check_posteriors(mu, logvar)
    z = z.detach().double().cpu()
    inv = (-logvar).exp()  # (N, D) 1 / sigma^2
    # sum_d (z_d - mu_d)^2 / sigma_d^2 as three matrix products: (M, N) without an (M, N, D) tensor
    quad = z.pow(2) @ inv.T - 2 * z @ (mu * inv).T + (mu.pow(2) * inv).sum(1)  # (M, N)
    log_n = -0.5 * (quad + logvar.sum(1) + mu.shape[1] * math.log(2 * math.pi))  # (M, N)
    return torch.logsumexp(log_n, dim=1) - math.log(mu.shape[0])


def prior_hole_mass(mu: torch.Tensor, logvar: torch.Tensor, fraction: float = 0.1, draws: int = 4000,
                    seed: int = 0, chunk: int = 500) -> HoleMass:
    """How much prior mass falls where the codes are rare: h = P_{z ~ N(0, I)}[ q(z) < fraction * p(z) ].

    Definition: q(z) = (1/N) sum_i N(z; mu_i, diag sigma_i^2) is the aggregate posterior of the ``N`` images whose
    posteriors are given (in the full ``D``-dimensional latent space, no plane), p(z) = N(0, I). A code drawn from the
    prior lands, with probability h, where the codes' density is below ``fraction`` times the prior's: a *hole*, where
    the decoder was hardly ever trained. h is 0 when q = p, and tends to 1 when q covers little of the prior.

    Estimate: ``draws`` codes z_j ~ N(0, I) from a generator seeded with ``seed`` (the global RNG is untouched),
    q(z_j) computed exactly (:func:`log_aggregate_posterior`); ``mass`` is the share of the z_j in a hole and
    ``stderr`` = sqrt(mass (1 - mass) / draws), the binomial standard error.
    """
    mu, logvar = _check_posteriors(mu, logvar)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < math.inf:
        raise ValueError(f"fraction={fraction!r} must be a positive number (a hole is where q(z) < fraction * p(z)).")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ValueError(f"draws={draws!r} must be a positive whole number of prior samples.")
    gen = torch.Generator().manual_seed(int(seed))
    z = torch.randn(draws, mu.shape[1], generator=gen, dtype=torch.float64)  # (M, D)
    log_p = -0.5 * (z.pow(2).sum(1) + mu.shape[1] * math.log(2 * math.pi))  # (M,)
    log_q = torch.cat([log_aggregate_posterior(z[i:i + chunk], mu, logvar) for i in range(0, draws, chunk)])
    holes = (log_q < log_p + math.log(fraction)).double()
    mass = holes.mean().item()
    return HoleMass(mass, math.sqrt(mass * (1 - mass) / draws), float(fraction), draws)
