"""The VQ-VAE (van den Oord et al. 2017): a convolutional encoder, a codebook, nearest-code quantisation, a decoder.

Used by notebook 12 (discrete latents). Layer by layer (``B`` = batch, ``c`` = channels, ``D`` = ``code_dim``,
``K`` = ``codebook_size``)::

    x (B, 1, 28, 28) -> conv 4x4/2 (B, c, 14, 14) -> conv 4x4/2 (B, c, 7, 7) -> conv 1x1 (B, D, 7, 7)
    z_e = that, channels last                      (B, 7, 7, D)   one D-vector per position of a 7 x 7 grid
    k   = argmin_j |z_e - e_j|^2 at each position  (B, 7, 7)      an index into the codebook e (K, D)
    z_q = e[k]                                     (B, 7, 7, D)
    decoder input z_e + sg(z_q - z_e): the straight-through copy (value z_q, gradient passed to z_e)
    conv 3x3 (B, c, 7, 7) -> deconv 4x4/2 (B, c, 14, 14) -> deconv 4x4/2 (B, 1, 28, 28) Bernoulli logits

The functions below are the pieces notebook 12 derives and checks one at a time: :func:`nearest_code`,
:func:`straight_through`, :func:`vq_terms` (reconstruction, codebook and commitment terms), :func:`ema_codebook`
(the EMA alternative to the codebook term), :func:`code_counts`, :func:`codebook_perplexity`, and
:class:`CodePrior`, a per-position categorical prior over the code grid for sampling and for the bound.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import check_images, require_positive_ints
from .registry import register_model

GRID = (7, 7)  # the code grid of a 28 x 28 image after two stride-2 convolutions


def nearest_code(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """The index of the nearest codebook row for every vector: ``z (..., D)``, ``codebook (K, D)`` -> ``(...)`` int64.

    Squared distances are expanded as |z|^2 - 2 z.e + |e|^2, so no (N, K, D) tensor is built.
    """
    if z.shape[-1] != codebook.shape[-1] or codebook.ndim != 2:
        raise ValueError(f"vectors {tuple(z.shape)} and codebook {tuple(codebook.shape)} need the same last size D "
                         f"and a (K, D) codebook.")
    flat = z.reshape(-1, z.shape[-1])  # (N, D)
    d2 = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codebook.t() + codebook.pow(2).sum(1)  # (N, K)
    return d2.argmin(dim=1).reshape(z.shape[:-1])


def straight_through(z_e: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """``z_e + sg(z_q - z_e)``: the value of ``z_q`` with the gradient of the identity with respect to ``z_e``.

    Written as ``sg(z_q) + (z_e - sg(z_e))`` so that the value is ``z_q`` to the last bit (``z_e - sg(z_e)`` is an
    exact 0); no gradient reaches ``z_q``.
    """
    return z_q.detach() + (z_e - z_e.detach())


def code_counts(indices: torch.Tensor, codebook_size: int) -> torch.Tensor:
    """How often each code is used: ``(K,)`` int64 counts over every position of every image in ``indices``."""
    return torch.bincount(indices.reshape(-1), minlength=codebook_size)


def codebook_perplexity(indices: torch.Tensor, codebook_size: int) -> float:
    """``exp(H(p))`` of the codes' frequencies p: K when all K codes are used equally, 1 when one code is used."""
    counts = code_counts(indices, codebook_size).double()
    p = counts / counts.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum()  # 0 log 0 = 0
    return float(entropy.exp())


def dead_codes(indices: torch.Tensor, codebook_size: int) -> int:
    """How many of the ``codebook_size`` codes ``indices`` never uses."""
    return int((code_counts(indices, codebook_size) == 0).sum())


class VQTerms(NamedTuple):
    """Per-image terms, each ``(B,)``: ``total = recon + codebook + beta * commitment``; ``recon`` in nats."""

    recon: torch.Tensor
    codebook: torch.Tensor
    commitment: torch.Tensor
    total: torch.Tensor


def vq_terms(logits: torch.Tensor, x: torch.Tensor, z_e: torch.Tensor, z_q: torch.Tensor,
             beta: float = 0.25) -> VQTerms:
    """The VQ-VAE's objective per image from the decoder's ``logits (B, 784)``, binary images ``x``, the encoder's
    ``z_e`` and the chosen codes ``z_q`` (both ``(B, ..., D)``, ``z_q`` not straight-through).

    recon = Bernoulli NLL of x (nats); codebook = |sg(z_e) - z_q|^2 (moves only the codebook);
    commitment = |z_e - sg(z_q)|^2 (moves only the encoder); both summed over positions and dimensions.
    """
    recon = F.binary_cross_entropy_with_logits(logits, x.reshape(logits.shape), reduction="none").sum(1)  # (B,)
    dims = tuple(range(1, z_e.ndim))
    codebook = (z_e.detach() - z_q).pow(2).sum(dims)  # (B,)
    commitment = (z_e - z_q.detach()).pow(2).sum(dims)  # (B,)
    return VQTerms(recon, codebook, commitment, recon + codebook + beta * commitment)


@torch.no_grad()
def ema_codebook(counts_ema: torch.Tensor, sums_ema: torch.Tensor, z: torch.Tensor, indices: torch.Tensor,
                 decay: float = 0.99, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One EMA codebook step (van den Oord et al. 2017, appendix A.1): returns ``(counts_ema, sums_ema, codebook)``.

    c_k <- decay c_k + (1 - decay) n_k and m_k <- decay m_k + (1 - decay) (sum of the z assigned to k), then
    e_k = m_k / c~_k with the Laplace-smoothed count c~_k = (c_k + eps) / (C + K eps) * C, C = sum_k c_k.

    With ``decay = 0`` and ``eps = 0`` every code that some z chose lands on the mean of its z: one k-means (Lloyd)
    step for the chosen codes. It is not k-means for a code that no z chose: k-means leaves such a code in place,
    here it gets 0/0 = NaN (``eps = 0``) or the origin (``eps > 0``, since then m_k = 0). With ``decay > 0`` an
    unused code does not keep its value either: c_k and m_k both shrink by ``decay`` each step, so e_k stays close to
    its value while c_k is much larger than ``eps``, then decays towards the origin: e_k(t) = decay^t m_k(0) / c~_k(t).
    """
    k = counts_ema.shape[0]
    flat, idx = z.reshape(-1, z.shape[-1]), indices.reshape(-1)  # (N, D), (N,)
    onehot = F.one_hot(idx, k).to(flat.dtype)  # (N, K)
    counts_ema = decay * counts_ema + (1 - decay) * onehot.sum(0)  # (K,)
    sums_ema = decay * sums_ema + (1 - decay) * onehot.t() @ flat  # (K, D)
    total = counts_ema.sum()
    smoothed = (counts_ema + eps) / (total + k * eps) * total  # > 0 when eps > 0; an unused code gets m_k / c~_k, see above
    return counts_ema, sums_ema, sums_ema / smoothed[:, None]


class VQOutput(NamedTuple):
    """What :meth:`VQVAE.forward` returns: decoder logits ``(B, 784)``, ``z_e`` and ``z_q`` ``(B, 7, 7, D)``, codes
    ``(B, 7, 7)``."""

    logits: torch.Tensor
    z_e: torch.Tensor
    z_q: torch.Tensor
    indices: torch.Tensor


@dataclass
class VQVAEConfig:
    """Sizes of the VQ-VAE (MNIST-shaped input only)."""

    codebook_size: int = 64
    code_dim: int = 16
    channels: int = 32
    image_shape: tuple[int, ...] = field(default=(1, 28, 28))
    input_dim: int = 784

    def __post_init__(self):
        require_positive_ints(self, ("codebook_size", "code_dim", "channels"))
        self.image_shape = tuple(int(s) for s in self.image_shape)
        if self.image_shape != (1, 28, 28) or self.input_dim != 784:
            raise ValueError("VQVAE is built for 1x28x28 images (MNIST).")

    @property
    def positions(self) -> int:
        return GRID[0] * GRID[1]


@register_model
class VQVAE(nn.Module):
    """A small convolutional VQ-VAE with a Bernoulli decoder (notebook 12).

    Args:
        codebook_size: K, the number of codes.
        code_dim: D, the length of each code vector.
        channels: width of the convolutions.
    """

    def __init__(self, codebook_size: int = 64, code_dim: int = 16, channels: int = 32):
        super().__init__()
        self.config = VQVAEConfig(codebook_size, code_dim, channels)
        c = channels
        self.enc = nn.Sequential(
            nn.Conv2d(1, c, 4, stride=2, padding=1), nn.ReLU(),  # (B, c, 14, 14)
            nn.Conv2d(c, c, 4, stride=2, padding=1), nn.ReLU(),  # (B, c, 7, 7)
            nn.Conv2d(c, code_dim, 1),  # (B, D, 7, 7)
        )
        self.codebook = nn.Parameter(torch.randn(codebook_size, code_dim))  # (K, D)
        self.dec = nn.Sequential(
            nn.Conv2d(code_dim, c, 3, padding=1), nn.ReLU(),  # (B, c, 7, 7)
            nn.ConvTranspose2d(c, c, 4, stride=2, padding=1), nn.ReLU(),  # (B, c, 14, 14)
            nn.ConvTranspose2d(c, 1, 4, stride=2, padding=1),  # (B, 1, 28, 28)
        )

    @classmethod
    def from_config(cls, config: VQVAEConfig | dict) -> "VQVAE":
        c = config if isinstance(config, VQVAEConfig) else VQVAEConfig(**config)
        return cls(c.codebook_size, c.code_dim, c.channels)

    @property
    def dtype(self) -> torch.dtype:
        return self.codebook.dtype

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's continuous outputs ``z_e``, channels last: ``(B, 7, 7, D)``."""
        x = check_images(x, 784, (1, 28, 28), self.dtype).reshape(-1, 1, 28, 28)  # (B, 1, 28, 28)
        return self.enc(x).permute(0, 2, 3, 1)  # (B, 7, 7, D)

    def quantize(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest codes: ``(indices (B, 7, 7), z_q (B, 7, 7, D))``; ``z_q`` is a differentiable lookup of the codebook."""
        indices = nearest_code(z_e.detach(), self.codebook.detach())
        return indices, self.codebook[indices]

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits ``(B, 784)`` from a grid of code vectors ``(B, 7, 7, D)``."""
        if z.ndim != 4 or tuple(z.shape[1:]) != (*GRID, self.config.code_dim):
            raise ValueError(f"expected code vectors shaped (B, 7, 7, {self.config.code_dim}), got {tuple(z.shape)}.")
        return self.dec(z.permute(0, 3, 1, 2)).reshape(z.shape[0], 784)

    def check_indices(self, indices: torch.Tensor) -> torch.Tensor:
        if not isinstance(indices, torch.Tensor) or indices.dtype != torch.int64 or indices.ndim != 3 \
                or tuple(indices.shape[1:]) != GRID:
            raise ValueError(f"expected int64 code indices shaped (B, 7, 7), got "
                             f"{getattr(indices, 'dtype', type(indices).__name__)} {tuple(getattr(indices, 'shape', ()))}.")
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self.config.codebook_size):
            raise ValueError(f"code indices must lie in 0..{self.config.codebook_size - 1}.")
        return indices

    @torch.no_grad()
    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Pixel means ``(B, 1, 28, 28)`` for a grid of code indices ``(B, 7, 7)``."""
        z_q = self.codebook[self.check_indices(indices)]  # (B, 7, 7, D)
        return torch.sigmoid(self.decode_logits(z_q)).reshape(-1, 1, 28, 28)

    def forward(self, x: torch.Tensor) -> VQOutput:
        """Encode, quantise, decode the straight-through copy: :class:`VQOutput` ``(logits, z_e, z_q, indices)``."""
        z_e = self.encode(x)  # (B, 7, 7, D)
        indices, z_q = self.quantize(z_e)  # (B, 7, 7), (B, 7, 7, D)
        return VQOutput(self.decode_logits(straight_through(z_e, z_q)), z_e, z_q, indices)

    def loss(self, x: torch.Tensor, beta: float = 0.25) -> VQTerms:
        """:func:`vq_terms` of one pass over ``x`` (binary images), per image."""
        out = self(x)
        return vq_terms(out.logits, x, out.z_e, out.z_q, beta)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def describe(self) -> dict:
        """Class name and config, as stored in checkpoints."""
        return {"model_class": type(self).__name__, "config": asdict(self.config)}


class CodePrior:
    """A per-position categorical prior over the code grid: p(k) = prod_p pi_p(k_p), fitted by counting.

    ``CodePrior.fit(indices (N, 7, 7), K, alpha)`` sets pi_p(k) = (n_pk + alpha) / (N + K alpha) (add-alpha
    smoothing, so no code gets probability 0). ``CodePrior.uniform(K)`` is the uniform prior, pi_p(k) = 1/K.
    """

    def __init__(self, log_probs: torch.Tensor):
        if log_probs.ndim != 2 or not torch.allclose(log_probs.logsumexp(1), torch.zeros(()).double(), atol=1e-9):
            raise ValueError("log_probs must be (positions, K) with each row a normalized log-distribution.")
        self.log_probs = log_probs.double()  # (P, K)

    @classmethod
    def fit(cls, indices: torch.Tensor, codebook_size: int, alpha: float = 1.0) -> "CodePrior":
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha < math.inf:
            raise ValueError(f"alpha={alpha!r} must be a finite number >= 0: it is the count added to every code "
                             f"(add-alpha smoothing; alpha=1.0 is Laplace's rule).")
        flat = indices.reshape(indices.shape[0], -1)  # (N, P)
        onehot = F.one_hot(flat, codebook_size).double()  # (N, P, K)
        counts = onehot.sum(0) + alpha  # (P, K)
        return cls((counts / counts.sum(1, keepdim=True)).log())

    @classmethod
    def uniform(cls, codebook_size: int, positions: int = GRID[0] * GRID[1]) -> "CodePrior":
        for name, value in (("codebook_size", codebook_size), ("positions", positions)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}={value!r} must be a positive whole number.")
        return cls(torch.full((positions, codebook_size), -math.log(codebook_size), dtype=torch.float64))

    def log_prob(self, indices: torch.Tensor) -> torch.Tensor:
        """log p(k) of each grid of codes ``(N, 7, 7)`` -> ``(N,)`` (nats, float64)."""
        p, k = self.log_probs.shape
        if not isinstance(indices, torch.Tensor) or indices.is_floating_point() or indices.ndim < 1 or \
                indices[:1].numel() != p:
            shape = tuple(indices.shape) if isinstance(indices, torch.Tensor) else type(indices).__name__
            raise ValueError(f"indices must be an integer tensor of code grids with {p} positions each, got {shape}.")
        if indices.numel() and not bool(((indices >= 0) & (indices < k)).all()):
            raise ValueError(f"code indices must lie in 0..{k - 1} (this prior's codebook_size K = {k}).")
        flat = indices.reshape(indices.shape[0], -1)  # (N, P)
        return self.log_probs.gather(1, flat.t()).sum(0)  # (N,)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` grids of codes ``(n, 7, 7)``, each position drawn independently from its pi_p."""
        probs = self.log_probs.exp()  # (P, K)
        draws = torch.multinomial(probs, n, replacement=True, generator=generator)  # (P, n)
        return draws.t().reshape(n, *GRID)
