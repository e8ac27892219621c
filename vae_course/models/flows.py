"""A richer q: a Gaussian followed by inverse autoregressive flow (IAF) steps, each built on a MADE.

Used by notebook 13 (hierarchical VAEs and flow posteriors); trained and cached by :mod:`vae_course.training.deeper`.

One IAF step maps ``z`` (B, D) to ``z'`` with an autoregressive shift ``m`` and scale ``s``, both computed by a MADE
from ``z_<i`` (and a per-image context ``h`` from the encoder)::

    m, s = MADE(z, h)                    m_i, s_i depend on z_1 .. z_{i-1} only (in the step's order)
    g = sigmoid(s)                       the scale (a "gate"), in (0, 1); sigma stays q's standard deviation
    z'_i  = g_i z_i + (1 - g_i) m_i

``dz'_i / dz_j = 0`` for ``j > i`` (in the step's order): the Jacobian is triangular, so (notebook 04) its log
determinant is the sum of the log diagonal, ``log |det dz'/dz| = sum_i log g_i``, and the density follows by the
change of variables, ``log q(z') = log q(z) - sum_i log g_i``. A VAE with this q (:class:`FlowVAE`)::

    x (B, 784) -> [Linear -> act] x 2 (B, H) -> mu, logvar (B, D), h (B, C)       encoder
    z_0 = mu + sigma * eps,  log q(z_0) = sum_j log N(eps_j; 0, 1) - 1/2 sum_j logvar_j
    z_t = IAF_t(z_{t-1}, h),  log q(z_t) = log q(z_{t-1}) - sum_i log g_{t,i}         t = 1 .. T (order reversed
                                                                                      from one step to the next)
    z_T -> [Linear -> act] x 2 (B, H) -> logits (B, 784)                           decoder p(x|z), prior N(0, I)

With ``n_flows = 0`` it is the plain Gaussian VAE of the same size (notebook 13's baseline). The inverse of a step
(for the invertibility check) solves for ``z_i`` one coordinate at a time, since ``m_i, g_i`` only need ``z_<i``.

References:
    Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling, "Improved Variational Inference with Inverse
    Autoregressive Flow", NeurIPS 2016 (arXiv:1606.04934): eq. (10)-(14), the sigmoid ("LSTM-type") update.
    Germain, Gregor, Murray & Larochelle, "MADE: Masked Autoencoder for Distribution Estimation", ICML 2015
    (arXiv:1502.03509): the masks.
    Rezende & Mohamed, "Variational Inference with Normalizing Flows", ICML 2015 (arXiv:1505.05770).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from .deep import ACTIVATIONS
from .hierarchical import (StructuredVAE, _check_activation_and_shape, _check_positive_int, _full, _GaussianHead, _mlp,
                           gaussian_log_prob)
from .registry import register_model


def made_degree_masks(degrees: torch.Tensor, hidden_dim: int, n_hidden_layers: int = 2,
                      out_mult: int = 2) -> list[torch.Tensor]:
    """The masks of a MADE over inputs with the given ``degrees`` (a permutation of 1..D): one ``(out, in)`` 0/1 mask
    per layer. Hidden units get degrees 1..D-1 in turn; a hidden unit of degree k sees inputs of degree <= k, an
    output of degree d sees hidden units of degree < d. So output d depends only on inputs of degree < d.
    ``out_mult`` outputs per input (2: a shift and a scale), stacked as ``[all first, all second]``."""
    d = degrees.numel()
    if d < 2:
        raise ValueError(f"a MADE needs at least 2 inputs, got {d}.")
    hidden_deg = 1 + torch.arange(hidden_dim, device=degrees.device) % (d - 1)  # (Hm,) in 1..D-1
    masks = [(hidden_deg[:, None] >= degrees[None, :]).float()]  # (Hm, D)
    for _ in range(n_hidden_layers - 1):
        masks.append((hidden_deg[:, None] >= hidden_deg[None, :]).float())  # (Hm, Hm)
    out_deg = degrees.repeat(out_mult)  # (out_mult * D,)
    masks.append((out_deg[:, None] > hidden_deg[None, :]).float())  # (out_mult * D, Hm)
    return masks


class _Masked(nn.Linear):
    def __init__(self, mask: torch.Tensor):
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """``z (.., D), h (.., C) -> m, s (.., D)``: autoregressive in the order given by ``degrees`` (1 = first).

    Two masked hidden layers; the context ``h`` enters the first hidden layer unmasked (every output may see it).
    """

    def __init__(self, dim: int, hidden_dim: int, context_dim: int = 0, degrees: torch.Tensor | None = None,
                 activation: str = "elu"):
        super().__init__()
        _check_positive_int("hidden_dim", hidden_dim)
        # on the CPU even under torch.device('meta') (how checkpoints size a model before building it)
        degrees = torch.arange(1, dim + 1, device="cpu") if degrees is None else torch.as_tensor(degrees, device="cpu")
        if sorted(degrees.tolist()) != list(range(1, dim + 1)):
            raise ValueError(f"degrees must be a permutation of 1..{dim}, got {degrees.tolist()}.")
        self.register_buffer("degrees", degrees, persistent=False)
        m1, m2, m3 = made_degree_masks(degrees, hidden_dim)
        self.dim, self.context_dim = dim, context_dim
        self.inp, self.hid, self.out = _Masked(m1), _Masked(m2), _Masked(m3)
        self.ctx = nn.Linear(context_dim, hidden_dim, bias=False) if context_dim else None
        self.act = ACTIVATIONS[activation]()
        nn.init.zeros_(self.out.weight)  # start at m = 0, s = 0 (g = sigmoid(bias)): a gentle first flow
        nn.init.zeros_(self.out.bias)

    def forward(self, z: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.inp(z)  # (.., Hm)
        if self.ctx is not None:
            a = a + self.ctx(h)
        a = self.act(self.hid(self.act(a)))  # (.., Hm)
        m, s = _full(self.out(a)).chunk(2, dim=-1)  # (.., D) each
        return m, s


class IAFStep(nn.Module):
    """One inverse autoregressive flow step ``z' = g * z + (1 - g) * m``, ``g = sigmoid(s + bias)``.

    ``forward(z, h)`` returns ``(z', log_det)`` with ``log_det = sum_i log g_i`` ``(..,)``; ``inverse(z', h)``
    recovers ``z`` (D sequential passes). ``reverse=True`` uses the order D, D-1, .., 1.
    """

    def __init__(self, dim: int, hidden_dim: int, context_dim: int = 0, *, reverse: bool = False,
                 activation: str = "elu", scale_bias: float = 1.5):
        super().__init__()
        degrees = torch.arange(dim, 0, -1, device="cpu") if reverse else torch.arange(1, dim + 1, device="cpu")
        self.made = MADE(dim, hidden_dim, context_dim, degrees, activation)
        self.scale_bias = scale_bias  # sigmoid(1.5) = 0.82: the step starts close to the identity

    def shift_and_log_scale(self, z: torch.Tensor, h: torch.Tensor | None = None):
        """``m`` and ``log g`` ``(.., D)``, each a function of the coordinates before it."""
        m, s = self.made(z, h)
        return m, F.logsigmoid(s + self.scale_bias)

    def forward(self, z: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        m, log_g = self.shift_and_log_scale(z, h)
        g = torch.exp(log_g)
        return g * z + (1 - g) * m, log_g.sum(-1)  # (.., D), (..,)

    @torch.no_grad()
    def inverse(self, z_new: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """``z`` with ``forward(z, h)[0] == z_new``: after pass t the first t coordinates (in order) are exact."""
        z = torch.zeros_like(z_new)
        for _ in range(z_new.shape[-1]):
            m, log_g = self.shift_and_log_scale(z, h)
            g = torch.exp(log_g)
            z = (z_new - (1 - g) * m) / g
        return z


@dataclass
class FlowVAEConfig:
    """Sizes of :class:`FlowVAE`: encoder/decoder width ``hidden_dim`` (two layers), ``n_flows`` IAF steps with MADE
    width ``flow_hidden_dim`` and a context of ``context_dim`` from the encoder (``n_flows = 0``: a Gaussian q)."""

    input_dim: int = 784
    hidden_dim: int = 256
    latent_dim: int = 32
    n_flows: int = 2
    flow_hidden_dim: int = 256
    context_dim: int = 32
    activation: str = "elu"
    image_shape: tuple[int, ...] = field(default=(1, 28, 28))

    def __post_init__(self):
        for name in ("input_dim", "hidden_dim", "latent_dim", "flow_hidden_dim", "context_dim"):
            _check_positive_int(name, getattr(self, name))
        if isinstance(self.n_flows, bool) or not isinstance(self.n_flows, int) or self.n_flows < 0:
            raise ValueError(f"n_flows={self.n_flows!r} must be a whole number of IAF steps, 0 or more.")
        if self.n_flows and self.latent_dim < 2:
            raise ValueError("an IAF step needs latent_dim >= 2 (it is autoregressive over the latent coordinates).")
        _check_activation_and_shape(self)


@register_model
class FlowVAE(StructuredVAE):
    """A VAE whose q is a diagonal Gaussian followed by ``n_flows`` IAF steps; prior N(0, I), Bernoulli decoder.

    ``local_params(x)`` is ``cat(mu, logvar, h)`` ``(B, 2D + C)`` (``(B, 2D)`` without flows).
    """

    def __init__(self, input_dim: int = 784, hidden_dim: int = 256, latent_dim: int = 32, n_flows: int = 2,
                 flow_hidden_dim: int = 256, context_dim: int = 32, activation: str = "elu",
                 image_shape=(1, 28, 28)):
        super().__init__()
        c = self.config = FlowVAEConfig(input_dim, hidden_dim, latent_dim, n_flows, flow_hidden_dim, context_dim,
                                        activation, tuple(image_shape))
        h = c.hidden_dim
        self.encoder = _mlp([c.input_dim, h, h], c.activation)  # (B, 784) -> (B, H)
        self.head = _GaussianHead(h, c.latent_dim)
        self.fc_context = nn.Linear(h, c.context_dim) if c.n_flows else None
        self.flows = nn.ModuleList(IAFStep(c.latent_dim, c.flow_hidden_dim, c.context_dim, reverse=t % 2 == 1,
                                           activation=c.activation) for t in range(c.n_flows))
        self.decoder = _mlp([c.latent_dim, h, h], c.activation)
        self.fc_out = nn.Linear(h, c.input_dim)
        self.noise_dim = c.latent_dim

    @classmethod
    def from_config(cls, config: FlowVAEConfig | dict) -> "FlowVAE":
        c = config if isinstance(config, FlowVAEConfig) else FlowVAEConfig(**config)
        return cls(c.input_dim, c.hidden_dim, c.latent_dim, c.n_flows, c.flow_hidden_dim, c.context_dim,
                   c.activation, c.image_shape)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of p(x|z): ``(..., D) -> (..., 784)``."""
        return self.fc_out(self.decoder(z))

    def log_joint(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``log p(x|z) + log N(z; 0, I)`` for ``z`` ``(n, B, D)``: ``(n, B)``."""
        x = self._flat(x)
        zero = torch.zeros_like(z)
        return self.bernoulli_log_lik(x, z) + gaussian_log_prob(z, zero, zero)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``n`` draws of the prior: pixel means ``(n, *image_shape)``."""
        _check_positive_int("n", n)
        z = torch.randn(n, self.config.latent_dim, generator=generator, dtype=self.dtype).to(self.fc_out.weight.device)
        return torch.sigmoid(self.decode_logits(z)).reshape(n, *self.config.image_shape)

    def local_params(self, x: torch.Tensor) -> torch.Tensor:
        """``cat(mu, logvar, h)`` ``(B, 2D + C)``: the Gaussian's parameters and the flow's context per image."""
        a = self.encoder(self._flat(x))  # (B, H)
        mu, logvar = self.head(a)  # (B, D)
        parts = [mu, logvar] + ([_full(self.fc_context(a))] if self.fc_context is not None else [])
        return torch.cat(parts, -1)

    def flow(self, z0: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``z_T`` and ``sum_t log |det dz_t / dz_{t-1}|`` for ``z0`` ``(.., D)``: ``(.., D)``, ``(..,)``."""
        z, log_det = z0, torch.zeros(z0.shape[:-1], device=z0.device, dtype=z0.dtype)
        for step in self.flows:
            z, ld = step(z, h)
            z, log_det = _full(z), log_det + ld
        return z, log_det

    def sample_local(self, theta: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``z_T`` ``(n, B, D)`` from the noise ``eps`` ``(n, B, D)`` and ``log q(z_T|x) = log q(z_0|x) - log det``."""
        d = self.config.latent_dim
        theta = _full(theta)
        mu, logvar = theta[:, :d].unsqueeze(0), theta[:, d:2 * d].unsqueeze(0)  # (1, B, D)
        h = theta[:, 2 * d:].unsqueeze(0).expand(eps.shape[0], -1, -1) if self.config.n_flows else None
        z0 = mu + torch.exp(0.5 * logvar) * eps  # (n, B, D)
        log_q0 = -0.5 * (math.log(2 * math.pi) + logvar + eps ** 2).sum(-1)  # (n, B): log N(z0; mu, sigma^2)
        z, log_det = self.flow(z0, h)
        return z, log_q0 - log_det

    def elbo_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor]]:
        """One draw per image: ``recon = -log p(x|z_T)`` and ``(KL,)`` with ``KL = log q(z_T|x) - log p(z_T)`` (one
        sample; the closed form when there is no flow), each ``(B,)``."""
        x = self._flat(x)
        theta = self.local_params(x)
        eps = torch.randn(1, x.shape[0], self.noise_dim, device=x.device, dtype=_full(theta).dtype)
        z, log_q = self.sample_local(theta, eps)
        recon = -self.bernoulli_log_lik(x, z)[0]
        if not self.config.n_flows:
            d = self.config.latent_dim
            mu, logvar = _full(theta[:, :d]), _full(theta[:, d:])
            return recon, (0.5 * (mu ** 2 + torch.exp(logvar) - 1 - logvar).sum(-1),)
        return recon, ((log_q - gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z)))[0],)
