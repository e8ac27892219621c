"""A VAE whose decoder is too strong: a MADE-style autoregressive decoder that sees the previous pixels of x.

Used by notebook 09 (posterior collapse).

The decoder models each pixel given **all the pixels before it** (raster order: the rows above and the pixels to
the left) **and** ``z``::

    p(x | z) = prod_i  Bernoulli( x_i | sigmoid( f_i(x_1, ..., x_{i-1}, z) ) )

It is one masked hidden layer (MADE, Germain et al. 2015) with ``z`` added to every hidden unit::

    h      = relu( (W_in * M_in) x + W_z z + b )     # (B, H)   hidden unit k sees pixels 1..m_k only
    logits = (W_out * M_out) h + c                    # (B, 784) output i sees hidden units with m_k < i

Because such a decoder can model MNIST well **without** ``z``, the KL term can be driven to zero at little cost in
reconstruction: the encoder stops sending information and the posterior collapses to the prior. That is the
phenomenon notebook 09 measures (active units, per-dimension KL) and then counters with KL warm-up and free bits.

Teacher forcing. To evaluate ``log p(x|z)`` the decoder needs the observed image ``x`` as its context:
``decode_logits(z, context=x)``. The class says ``decoder_sees_x = True``, so the course's shared objective
(:func:`vae_course.objectives.encode_decode`, and therefore ``fit``/``evaluate``, free bits and warm-up) passes
``context=x`` itself, and ``model(x)`` does too.

Binary images only. The product of Bernoulli factors is a distribution over **binary** images, and each factor's
context ``x_<i`` must be what the model itself would put there: 0s and 1s. So train it on binarized images
(``fit(binarize="dynamic")``) and evaluate it on binary ones (``load_mnist(binarize="static")``); then the negative
ELBO bounds ``-log p(x)`` of binary images. On grey levels ``g`` the teacher-forced product is not even the average
over binarizations ``b ~ Bernoulli(g)`` that it is for the MLP decoder: notebook 07's identity
``E_b[BCE(logits, b)] = BCE(logits, g)`` needs logits that do not depend on ``b``, and here they do. For the same
reason generation feeds back **binary** pixels: with no context, ``decode_logits``, :meth:`~AutoregressiveVAE.generate`
and :meth:`~AutoregressiveVAE.sample` draw every pixel from its Bernoulli, one after the other, and never feed back a
grey probability.

References:
    Germain et al. 2015, "MADE: Masked Autoencoder for Distribution Estimation" (arXiv:1502.03509).
    Chen et al. 2017, "Variational Lossy Autoencoder" (arXiv:1611.02731): why strong decoders ignore z.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import VAEBase, check_images, check_latent, image_shape_for, require_positive_ints
from .registry import register_model


class MaskedLinear(nn.Linear):
    """``y = x (W * M)^T + b`` with a fixed 0/1 mask ``M`` (out_features, in_features)."""

    def __init__(self, mask: torch.Tensor):
        out_features, in_features = mask.shape
        super().__init__(in_features, out_features)
        self.register_buffer("mask", mask.to(torch.float32), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def causal_offsets(window: int = 7) -> list[tuple[int, int]]:
    """The ``(dy, dx)`` offsets of the pixels *before* a pixel in a ``window x window`` patch (raster order).

    For ``window = 7``: the 3 rows above (7 pixels each) and the 3 pixels to the left, 24 offsets (PixelCNN's
    "mask A").
    """
    if window < 3 or window % 2 == 0:
        raise ValueError(f"window={window!r} must be an odd number >= 3.")
    r = window // 2
    return [(dy, dx) for dy in range(-r, 1) for dx in range(-r, r + 1) if dy < 0 or dx < 0]


def causal_neighbours(images: torch.Tensor, window: int = 7, side: int = 28) -> torch.Tensor:
    """For every pixel, the values of the pixels before it in its ``window`` patch: ``(B, side*side, K)``.

    Pixels outside the image count as 0 (background). ``K = len(causal_offsets(window))``.
    """
    r = window // 2
    x = images.reshape(-1, 1, side, side)  # (B, 1, 28, 28)
    padded = F.pad(x, (r, r, r, 0))  # (B, 1, 28 + r, 28 + 2r): zeros above, left and right
    taps = [padded[:, 0, r + dy:r + dy + side, r + dx:r + dx + side] for dy, dx in causal_offsets(window)]
    return torch.stack(taps, dim=-1).reshape(x.shape[0], side * side, len(taps))  # (B, 784, K)


def made_masks(input_dim: int, hidden_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The two MADE masks for natural (raster) order: ``M_in`` (H, N) and ``M_out`` (N, H).

    Pixel ``i`` (1-based) has degree ``i``; hidden unit ``k`` gets a degree ``m_k`` in ``1..N-1``, spread evenly.
    Hidden unit ``k`` sees pixels ``i <= m_k``; output ``i`` sees hidden units with ``m_k < i``. So output ``i``
    depends on pixels ``1..i-1`` only.
    """
    if input_dim < 2 or hidden_dim < 1:
        raise ValueError("made_masks needs input_dim >= 2 and hidden_dim >= 1.")
    pixel_deg = torch.arange(1, input_dim + 1)  # (N,)
    hidden_deg = 1 + (torch.arange(hidden_dim) * (input_dim - 1)) // hidden_dim  # (H,) in 1..N-1
    m_in = (hidden_deg[:, None] >= pixel_deg[None, :]).float()  # (H, N)
    m_out = (pixel_deg[:, None] > hidden_deg[None, :]).float()  # (N, H)
    return m_in, m_out


@dataclass
class AutoregressiveVAEConfig:
    """Sizes of :class:`AutoregressiveVAE`: an MLP encoder like the reference VAE and an autoregressive decoder.

    ``decoder_hidden_dim`` is the MADE layer (global: all previous pixels and z); ``local_hidden_dim`` the width of
    the local PixelCNN-style path over the ``local_window`` patch (0 turns it off).
    """

    input_dim: int = 784
    hidden_dim: int = 400
    latent_dim: int = 16
    decoder_hidden_dim: int = 400
    local_hidden_dim: int = 32
    local_window: int = 7
    image_shape: tuple[int, ...] = field(default=(1, 28, 28))

    def __post_init__(self):
        require_positive_ints(self, ("input_dim", "hidden_dim", "latent_dim", "decoder_hidden_dim", "local_window"))
        if isinstance(self.local_hidden_dim, bool) or not isinstance(self.local_hidden_dim, int) \
                or self.local_hidden_dim < 0:
            raise ValueError(f"local_hidden_dim={self.local_hidden_dim!r} must be a whole number >= 0 (0: no local path).")
        if self.input_dim < 2:
            raise ValueError("input_dim must be at least 2 for an autoregressive decoder.")
        if self.local_hidden_dim and math.isqrt(self.input_dim) ** 2 != self.input_dim:
            raise ValueError(f"the local path needs square images, but input_dim={self.input_dim} is not a square: "
                             f"set local_hidden_dim=0.")
        causal_offsets(self.local_window)  # validates the window
        self.image_shape = image_shape_for(self.image_shape, self.input_dim)


@register_model
class AutoregressiveVAE(VAEBase):
    """MLP encoder + autoregressive decoder that sees the previous pixels and ``z`` (notebook 09's collapsing model).

    Decoder logits of pixel ``i`` = MADE(pixels before ``i``, z) + local(the previous pixels in ``i``'s 7x7 patch).
    """

    decoder_sees_x = True  # the ELBO code passes context=x to decode_logits (teacher forcing)

    def __init__(self, input_dim: int = 784, hidden_dim: int = 400, latent_dim: int = 16,
                 decoder_hidden_dim: int = 400, local_hidden_dim: int = 32, local_window: int = 7,
                 image_shape=(1, 28, 28)):
        super().__init__()
        self.config = AutoregressiveVAEConfig(input_dim, hidden_dim, latent_dim, decoder_hidden_dim,
                                              local_hidden_dim, local_window, tuple(image_shape))
        self.fc1 = nn.Linear(input_dim, hidden_dim)
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_logvar = nn.Linear(hidden_dim, latent_dim)
        m_in, m_out = made_masks(input_dim, decoder_hidden_dim)
        self.dec_in = MaskedLinear(m_in)  # (N -> H): hidden unit k sees pixels 1..m_k
        self.dec_z = nn.Linear(latent_dim, decoder_hidden_dim, bias=False)  # z reaches every hidden unit
        self.dec_out = MaskedLinear(m_out)  # (H -> N): output i sees hidden units with m_k < i
        if local_hidden_dim:
            k = len(causal_offsets(local_window))
            self.local = nn.Sequential(nn.Linear(k, local_hidden_dim), nn.ReLU(), nn.Linear(local_hidden_dim, 1))
        else:
            self.local = None

    @classmethod
    def from_config(cls, config: AutoregressiveVAEConfig | dict) -> "AutoregressiveVAE":
        c = config if isinstance(config, AutoregressiveVAEConfig) else AutoregressiveVAEConfig(**config)
        return cls(c.input_dim, c.hidden_dim, c.latent_dim, c.decoder_hidden_dim, c.local_hidden_dim,
                   c.local_window, c.image_shape)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)`` of q(z|x), each ``(B, D)``."""
        x = check_images(x, self.config.input_dim, self.config.image_shape, self.dtype)  # (B, 784)
        h = F.relu(self.fc1(x))  # (B, 400)
        return self.fc_mu(h), self.fc_logvar(h)

    def _local_logits(self, context: torch.Tensor) -> torch.Tensor:
        side = math.isqrt(self.config.input_dim)
        feats = causal_neighbours(context, self.config.local_window, side)  # (B, 784, K)
        return self.local(feats).squeeze(-1)  # (B, 784)

    def decode_logits(self, z: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of p(x_i | x_<i, z) for every pixel, ``(B, 784)``.

        ``context`` holds the (binary) images whose previous pixels the decoder sees (teacher forcing). Without it,
        an image is generated pixel by pixel, each pixel a Bernoulli draw from torch's global generator, and these
        are the logits the draws came from (see :meth:`generate`).
        """
        z = check_latent(z, self.config.latent_dim, self.dtype)  # (B, D)
        if context is None:
            return self.generate(z)[1]
        context = check_images(context, self.config.input_dim, self.config.image_shape, self.dtype)  # (B, 784)
        if context.shape[0] != z.shape[0]:
            raise ValueError(f"the context holds {context.shape[0]} images but z holds {z.shape[0]} codes: "
                             f"decode the codes of the images you encoded, or pass context= explicitly.")
        h = F.relu(self.dec_in(context) + self.dec_z(z))  # (B, H)
        logits = self.dec_out(h)  # (B, 784): global path, all previous pixels and z
        if self.local is not None:
            logits = logits + self._local_logits(context)  # (B, 784): local path, the 7x7 causal patch
        return logits

    def forward(self, x: torch.Tensor, *args) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(recon, mu, logvar)`` as for every course VAE; ``recon`` holds the pixel means of p(x_i | x_<i, z) with
        the image ``x`` itself as the context (teacher forcing), not a generated image."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        return torch.sigmoid(self.decode_logits(z, context=x)).reshape(x.shape), mu, logvar

    @torch.no_grad()
    def generate(self, z: torch.Tensor, *, generator: torch.Generator | None = None,
                 uniforms: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw images pixel by pixel from p(x|z): returns ``(images (B, 784), logits (B, 784))``.

        Pixel ``i`` is 1 when ``uniforms[..., i] < p_i`` (a Bernoulli draw), and that 0 or 1 joins the context of
        the next pixels: the decoder is trained on binary images, so it is fed binary pixels here too. ``uniforms``
        is ``(784,)`` (the same random numbers for every code, so only ``z`` can make the images differ) or
        ``(B, 784)``; without it, fresh uniforms are drawn from ``generator`` (or torch's global generator). One
        cheap update of the MADE layer per pixel.
        """
        z = check_latent(z, self.config.latent_dim, self.dtype)
        n = self.config.input_dim
        if uniforms is None:
            uniforms = torch.rand(z.shape[0], n, generator=generator)
        if not isinstance(uniforms, torch.Tensor) or uniforms.shape[-1] != n or uniforms.ndim > 2:
            raise ValueError(f"uniforms must be shaped ({n},) or (B, {n}).")
        uniforms = uniforms.to(z.device).expand(z.shape[0], n)  # (B, N)
        w_in = self.dec_in.weight * self.dec_in.mask  # (H, N)
        w_out = self.dec_out.weight * self.dec_out.mask  # (N, H)
        pre = self.dec_in.bias + self.dec_z(z)  # (B, H): no pixel seen yet
        images = torch.zeros(z.shape[0], n, device=z.device)
        logits = torch.zeros(z.shape[0], n, device=z.device)
        if self.local is not None:
            side = math.isqrt(n)
            rows, cols = torch.arange(n) // side, torch.arange(n) % side
            idx = []  # (N, K): flat index of each causal neighbour, or n (a zero slot) outside the image
            for dy, dx in causal_offsets(self.config.local_window):
                rr, cc = rows + dy, cols + dx
                inside = (rr >= 0) & (cc >= 0) & (cc < side)
                idx.append(torch.where(inside, rr * side + cc, torch.full_like(rr, n)))
            idx = torch.stack(idx, dim=1).to(z.device)  # (N, K)
            padded = torch.zeros(z.shape[0], n + 1, device=z.device)  # the image so far, plus one zero slot
        for i in range(n):
            logit = F.relu(pre) @ w_out[i] + self.dec_out.bias[i]  # (B,)
            if self.local is not None:
                logit = logit + self.local(padded[:, idx[i]]).squeeze(-1)  # (B,)
            p = torch.sigmoid(logit)
            value = (uniforms[:, i] < p).to(p.dtype)  # (B,): a Bernoulli draw, 0 or 1
            logits[:, i] = logit
            images[:, i] = value
            if self.local is not None:
                padded[:, i] = value
            pre = pre + value[:, None] * w_in[:, i]  # pixel i joins the context
        return images, logits

    @torch.no_grad()
    def sample(self, n: int, *args, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images drawn from the model: z ~ N(0, I), then every pixel ~ Bernoulli, one after the other.

        Both the codes and the pixels come from ``generator`` (or torch's global generator). ``(n, *image_shape)``.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError(f"n={n!r} must be a positive whole number of samples.")
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)  # (n, D)
        uniforms = torch.rand(n, self.config.input_dim, generator=generator)  # (n, 784)
        images, _ = self.generate(z, uniforms=uniforms)
        return images.reshape(n, *self.config.image_shape)
