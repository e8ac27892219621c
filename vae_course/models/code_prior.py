"""A learned autoregressive prior over a VQ-VAE's grid of code indices: a small causal transformer.

Used by notebook 12 (section 6: how a VQ-VAE generates). The VQ-VAE codes an image as a 7 x 7 grid of indices
``c = (c_1, ..., c_49)`` into its codebook (raster order: row by row, left to right). Any distribution over such grids
factorises by the chain rule, with no approximation::

    log p(c) = sum_i log p(c_i | c_1, ..., c_{i-1})

This model gives each factor a softmax over the K codes, computed from the codes *before* position i only::

    codes c        (B, 7, 7) int64      -> flattened (B, P), P = 49
    shift right    input_i = embed(c_{i-1}) for i > 1, a learned start vector for i = 1
    + position     (B, P, d) the position's own embedding
    n_layers x     causal self-attention (position i attends to inputs 1..i, that is to codes c_<i) + MLP
    head           (B, P, K) logits of p(c_i | c_<i)

The shift plus the causal mask is what makes it autoregressive: output i never depends on c_i or a later code
(``tests/test_vq_prior.py`` checks it with gradients). So ``log_prob`` is a normalized distribution over the K^P grids,
and ``sample`` draws a grid by ancestral sampling, one position after the other, each from its conditional.
van den Oord et al. 2017 fit a PixelCNN to the codes for the same purpose; a causal transformer sees every earlier
position from the first layer (no blind spot) and is as small.

References:
    A. van den Oord, O. Vinyals, K. Kavukcuoglu 2017, "Neural Discrete Representation Learning" (arXiv:1711.00937):
    the VQ-VAE is trained first, an autoregressive prior is fitted to its codes afterwards and generates.
    A. Vaswani et al. 2017, "Attention Is All You Need" (arXiv:1706.03762): causal self-attention.
    A. Karpathy, nanoGPT's model.py: the layout of a small decoder-only transformer.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import require_positive_ints
from .registry import register_model


@contextmanager
def one_thread():
    """Run torch on one CPU thread inside the block, then restore the thread count.

    The prior's matrix products are tiny (a batch of 49 positions of width 32): a second thread gains nothing (about
    38 ms per Adam step at batch 128 on one thread or two, measured on the course's 2-core machine), and while another
    process shares the cores, two threads that wait for each other make every step 10 to 20 times slower (1.1 s
    against 67 ms, measured). Fitting, scoring and sampling the prior therefore run on one thread.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class AutoregressiveCodePriorConfig:
    """Sizes of the prior: K codes on a ``height x width`` grid, a transformer of ``n_layers`` blocks of width
    ``d_model`` with ``n_heads`` attention heads."""

    codebook_size: int = 64
    height: int = 7
    width: int = 7
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4

    def __post_init__(self):
        require_positive_ints(self, ("codebook_size", "height", "width", "d_model", "n_layers", "n_heads"))
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be a multiple of n_heads={self.n_heads}.")

    @property
    def positions(self) -> int:
        return self.height * self.width


class CausalBlock(nn.Module):
    """Pre-norm transformer block: x + attention(LN(x)) with a causal mask, then x + MLP(LN(x)). ``(B, P, d)``."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, p, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)  # each (B, P, d)
        q, k, v = (t.reshape(b, p, self.n_heads, d // self.n_heads).transpose(1, 2) for t in (q, k, v))  # (B, h, P, d/h)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, h, P, d/h): position i sees 1..i
        x = x + self.proj(att.transpose(1, 2).reshape(b, p, d))
        return x + self.mlp(self.ln2(x))


@register_model
class AutoregressiveCodePrior(nn.Module):
    """p(c) = prod_i p(c_i | c_<i) over a grid of code indices (notebook 12).

    Args:
        codebook_size: K, the number of codes (the VQ-VAE's).
        height, width: the code grid (7 x 7 for the course's VQ-VAE).
        d_model, n_layers, n_heads: the transformer's width, depth and heads.
    """

    def __init__(self, codebook_size: int = 64, height: int = 7, width: int = 7, d_model: int = 64,
                 n_layers: int = 2, n_heads: int = 4):
        super().__init__()
        self.config = c = AutoregressiveCodePriorConfig(codebook_size, height, width, d_model, n_layers, n_heads)
        self.embed = nn.Linear(c.codebook_size, c.d_model, bias=False)  # one-hot (K) -> d: a code's embedding
        self.start = nn.Parameter(torch.zeros(c.d_model))  # the input of position 1, which has no code before it
        self.position = nn.Parameter(0.02 * torch.randn(c.positions, c.d_model))  # (P, d)
        self.blocks = nn.ModuleList(CausalBlock(c.d_model, c.n_heads) for _ in range(c.n_layers))
        self.ln = nn.LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.codebook_size)  # (B, P, d) -> (B, P, K)

    @classmethod
    def from_config(cls, config: AutoregressiveCodePriorConfig | dict) -> "AutoregressiveCodePrior":
        c = config if isinstance(config, AutoregressiveCodePriorConfig) else AutoregressiveCodePriorConfig(**config)
        return cls(c.codebook_size, c.height, c.width, c.d_model, c.n_layers, c.n_heads)

    def describe(self) -> dict:
        """Class name and config, as stored in checkpoints."""
        return {"model_class": type(self).__name__, "config": asdict(self.config)}

    @property
    def dtype(self) -> torch.dtype:
        return self.head.weight.dtype

    def check_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes`` as ``(B, P)`` int64, after one clear error if they are not a batch of code grids of this prior."""
        c = self.config
        if not isinstance(codes, torch.Tensor) or codes.is_floating_point() or codes.is_complex() \
                or codes.dtype == torch.bool:
            raise TypeError(f"codes must be an integer tensor of code indices (B, {c.height}, {c.width}), got "
                            f"{type(codes).__name__ if not isinstance(codes, torch.Tensor) else codes.dtype}.")
        if codes.ndim != 3 or tuple(codes.shape[1:]) != (c.height, c.width):
            raise ValueError(f"codes have shape {tuple(codes.shape)}, but this prior models grids (B, {c.height}, "
                             f"{c.width}): pass a batch of code grids, e.g. encode_indices(vq_model, images).")
        flat = codes.reshape(codes.shape[0], -1).long()  # (B, P)
        if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= c.codebook_size):
            raise ValueError(f"code indices must lie in 0..{c.codebook_size - 1} (codebook_size K = "
                             f"{c.codebook_size}); got {int(flat.min())}..{int(flat.max())}.")
        return flat

    def logits_from_onehot(self, onehot: torch.Tensor) -> torch.Tensor:
        """Logits of p(c_i | c_<i) ``(B, P, K)`` from one-hot codes ``(B, P, K)`` (floats, so that a test can
        differentiate output i with respect to every input position)."""
        return self._logits_from_tokens(self.embed(onehot.to(self.dtype)))  # (B, P, d) -> (B, P, K)

    def _logits_from_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, P, K)`` from the codes' embeddings ``tokens (B, P, d)``: shift right, attend causally."""
        b = tokens.shape[0]
        x = torch.cat([self.start.expand(b, 1, -1), tokens[:, :-1]], dim=1) + self.position  # (B, P, d): shifted
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))  # (B, P, K)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """Logits of every conditional p(c_i | c_<i): ``codes (B, H, W)`` -> ``(B, P, K)``."""
        return self.logits_from_indices(self.check_codes(codes))

    def logits_from_indices(self, flat: torch.Tensor) -> torch.Tensor:
        """As :meth:`logits_from_onehot`, from checked indices ``(B, P)`` int64: the embedding is a row lookup of the
        same weights (``embed(one_hot(c)) = embed.weight[:, c]``), which is cheaper."""
        return self._logits_from_tokens(F.embedding(flat, self.embed.weight.t()))

    def log_prob(self, codes: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        """log p(c) = sum_i log p(c_i | c_<i) of each grid ``(B, H, W)`` -> ``(B,)`` (nats, float64).

        Same interface as :class:`~vae_course.models.vqvae.CodePrior`, so :func:`vae_course.training.vq_bound`
        takes either. Computed in batches of ``batch_size`` grids, without gradients when none are needed.
        """
        flat = self.check_codes(codes)  # (B, P)
        out = []
        with one_thread():
            for i in range(0, flat.shape[0], batch_size):
                part = flat[i:i + batch_size]  # (b, P)
                logp = F.log_softmax(self.logits_from_indices(part).double(), -1)  # (b, P, K)
                out.append(logp.gather(2, part[..., None]).squeeze(2).sum(1))  # (b,)
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` grids ``(n, H, W)`` int64 by ancestral sampling: c_1 ~ p(c_1), then c_2 ~ p(c_2 | c_1), and so on."""
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError(f"n={n!r} must be a positive whole number of grids to draw.")
        c = self.config
        was_training = self.training
        self.eval()
        codes = torch.zeros(n, c.positions, dtype=torch.int64)  # (n, P): positions >= i are ignored at step i
        with one_thread():
            for i in range(c.positions):
                logits = self.logits_from_indices(codes)[:, i]  # (n, K): p(c_i | c_<i)
                codes[:, i] = torch.multinomial(F.softmax(logits.double(), -1), 1, generator=generator).squeeze(1)
        self.train(was_training)
        return codes.reshape(n, c.height, c.width)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

