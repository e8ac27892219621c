"""A VAE with two stochastic layers, p(x|z1) p(z1|z2) p(z2), inferred bottom-up or top-down (Ladder VAE).

Used by notebook 13 (hierarchical VAEs and flow posteriors); trained and cached by
:mod:`vae_course.training.deeper`. :class:`StructuredVAE` is the interface notebook 13's models share (this one
and :class:`vae_course.models.FlowVAE`): any q that is a function of per-image parameters and standard-normal noise.

The generative path (the same for both kinds of inference)::

    z2 (B, D2) ~ N(0, I)                                                       p(z2)
    z2 -> [Linear -> act] x 2 (B, H) -> mu_p1, logvar_p1 (B, D1)               p(z1|z2) = N(mu_p1, diag exp(logvar_p1))
    z1 -> [Linear -> act] x 2 (B, H) -> logits (B, 784)                        p(x|z1)  = Bernoulli(sigmoid(logits))

Bottom-up inference, q(z1, z2 | x) = q(z1|x) q(z2|z1): the encoder runs upwards and z2 is inferred from z1 alone::

    x  -> [Linear -> act] x 2 (B, H) -> mu1, logvar1 (B, D1)                   q(z1|x)
    z1 -> [Linear -> act] x 2 (B, H) -> mu2, logvar2 (B, D2)                   q(z2|z1)

Top-down inference (Ladder VAE), q(z1, z2 | x) = q(z2|x) q(z1|z2, x): a deterministic bottom-up pass gives each layer
a Gaussian "message" (mu_hat_l, sigma_hat_l); the top layer's q is its message, and the lower layer's q is the
precision-weighted merge of its message with the *generative* top-down Gaussian p(z1|z2)::

    x -> d1 = [Linear -> act] x 2 (B, H) -> d2 = [Linear -> act] (B, H)
    q(z2|x)     = N(mu_hat2(d2), sigma_hat2(d2)^2)
    q(z1|z2, x) = N(mu1, sigma1^2),  1/sigma1^2 = 1/sigma_hat1^2 + 1/sigma_p1^2,
                                     mu1 = (mu_hat1/sigma_hat1^2 + mu_p1/sigma_p1^2) sigma1^2

So inference shares the generative path p(z1|z2), and every KL term is between two Gaussians given the layer above:
``KL_2 = KL(q(z2|x) || p(z2))`` and ``KL_1 = E_q(z2|x) KL(q(z1|z2, x) || p(z1|z2))``, in closed form. Bottom-up has
``KL_2 = E_q(z1|x) KL(q(z2|z1) || N(0, I))`` in closed form and ``KL_1 = E_q[log q(z1|x) - log p(z1|z2)]`` by one
sample. Either way ``ELBO = E_q[log p(x|z1)] - KL_1 - KL_2``.

References:
    Sønderby, Raiko, Maaløe, Sønderby & Winther, "Ladder Variational Autoencoders", NeurIPS 2016 (arXiv:1602.02282):
    the precision-weighted merge, eq. (17)-(19), and the top-layer collapse of bottom-up hierarchies.
    Burda, Grosse & Salakhutdinov 2015 (arXiv:1509.00519): the two-stochastic-layer model and the active units.
    Vahdat & Kautz, "NVAE", NeurIPS 2020 (arXiv:2007.03898): top-down inference at scale.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import _ModelInfo, check_images
from .deep import ACTIVATIONS
from .registry import register_model

LOG_2PI = math.log(2 * math.pi)
INFERENCE = ("top-down", "bottom-up")


def gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``log N(z; mu, diag exp(logvar))`` summed over the last axis: ``(..., D) -> (...)``."""
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar)).sum(-1)


def gaussian_kl_pair(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor,
                     logvar_p: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu_q, e^logvar_q) || N(mu_p, e^logvar_p))`` of diagonal Gaussians, summed over the last axis."""
    return 0.5 * (logvar_p - logvar_q + (torch.exp(logvar_q) + (mu_q - mu_p) ** 2) * torch.exp(-logvar_p)
                  - 1).sum(-1)


def precision_weighted_merge(mu_hat: torch.Tensor, logvar_hat: torch.Tensor, mu_p: torch.Tensor,
                             logvar_p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The Ladder VAE's q: the product of N(mu_hat, sigma_hat^2) and N(mu_p, sigma_p^2), normalised (mu, logvar).

    Precisions add, ``1/sigma^2 = 1/sigma_hat^2 + 1/sigma_p^2``, and the mean is the precision-weighted average.
    Computed in log space: ``logvar = -logaddexp(-logvar_hat, -logvar_p)``.
    """
    logvar = -torch.logaddexp(-logvar_hat, -logvar_p)
    mu = (mu_hat * torch.exp(-logvar_hat) + mu_p * torch.exp(-logvar_p)) * torch.exp(logvar)
    return mu, logvar


def _mlp(sizes: list[int], activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
    return nn.Sequential(*layers)


class _GaussianHead(nn.Module):
    """``h (.., H) -> mu, logvar (.., D)``, computed in float32 (bfloat16 products upstream are fine)."""

    def __init__(self, hidden: int, dim: int):
        super().__init__()
        self.fc = nn.Linear(hidden, 2 * dim)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = _full(self.fc(h)).chunk(2, dim=-1)
        return mu, logvar.clamp(-12.0, 8.0)


def _full(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 when it came out of bfloat16/float16 products (fit's mixed precision), else unchanged."""
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a positive whole number.")


def _check_activation_and_shape(config) -> None:
    """The end of a notebook-13 config's checks: a known ``activation``, and ``image_shape`` as a tuple of ints
    (``(input_dim,)`` when it does not hold ``input_dim`` pixels)."""
    if config.activation not in ACTIVATIONS:
        raise ValueError(f"activation={config.activation!r} is not known: use one of {', '.join(ACTIVATIONS)}.")
    config.image_shape = tuple(int(s) for s in config.image_shape)
    if math.prod(config.image_shape) != config.input_dim:
        config.image_shape = (config.input_dim,)


class StructuredVAE(_ModelInfo, nn.Module):
    """What notebook 13's models share: ``q`` given by per-image parameters and standard-normal noise.

    A subclass defines:

    * ``local_params(x) -> theta (B, P)``: what the encoder computes per image (the amortized part of q);
    * ``sample_local(theta, eps) -> (z (n, B, Dz), log_q (n, B))``: draws of q for the noise ``eps (n, B, noise_dim)``
      and their log-density, a differentiable function of ``theta``;
    * ``log_joint(x, z) -> (n, B)``: ``log p(x, z)`` for every draw;
    * ``elbo_terms(x) -> (recon (B,), kls)``: one-sample training terms, each KL ``(B,)`` (one per layer).

    From these it gets the log importance weights (``L_k`` for any k), and notebook 08's gap split works on
    ``theta`` (a per-image optimum of the same family; :func:`vae_course.evaluation.structured_gap_split`).
    """

    noise_dim: int

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The per-image parameters of q, ``(B, P)`` (same as :meth:`local_params`)."""
        return self.local_params(x)

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        return check_images(x, self.config.input_dim, self.config.image_shape, self.dtype)

    def bernoulli_log_lik(self, x: torch.Tensor, z_bottom: torch.Tensor) -> torch.Tensor:
        """``log p(x | z)`` for codes ``(n, B, D)`` and images ``x`` ``(B, 784)`` (binary): ``(n, B)``."""
        logits = _full(self.decode_logits(z_bottom))  # (n, B, 784)
        return -F.binary_cross_entropy_with_logits(logits, x.to(logits.dtype).expand_as(logits),
                                                   reduction="none").sum(-1)

    def log_weights(self, x: torch.Tensor, k: int, *, generator: torch.Generator | None = None,
                    chunk: int | None = None, theta: torch.Tensor | None = None) -> torch.Tensor:
        """``log p(x, z_i) - log q(z_i|x)`` for ``k`` draws per image: ``(k, B)``. ``theta`` replaces the encoder's
        per-image parameters (notebook 08's per-image optimum); ``chunk`` draws are made at a time."""
        _check_positive_int("k", k)
        x = self._flat(x)
        if theta is None:
            theta = self.local_params(x)
        chunk = chunk or max(1, min(k, 20_000 // x.shape[0]))
        out = []
        for start in range(0, k, chunk):
            c = min(chunk, k - start)
            eps = torch.randn(c, x.shape[0], self.noise_dim, generator=generator,
                              dtype=_full(theta).dtype).to(x.device)  # (c, B, E)
            z, log_q = self.sample_local(theta, eps)
            out.append(self.log_joint(x, z) - log_q)  # (c, B)
        return torch.cat(out)  # (k, B)

    def elbo(self, x: torch.Tensor) -> torch.Tensor:
        """One-sample ELBO per image ``(B,)``: ``-(recon + sum of the layers' KL terms)``."""
        recon, kls = self.elbo_terms(x)
        return -(recon + sum(kls))


@dataclass
class HierarchicalVAEConfig:
    """Sizes of :class:`HierarchicalVAE`: ``hidden_dim`` is every MLP's width (two hidden layers each)."""

    input_dim: int = 784
    hidden_dim: int = 256
    z1_dim: int = 32
    z2_dim: int = 16
    inference: str = "top-down"
    activation: str = "elu"
    image_shape: tuple[int, ...] = field(default=(1, 28, 28))

    def __post_init__(self):
        for name in ("input_dim", "hidden_dim", "z1_dim", "z2_dim"):
            _check_positive_int(name, getattr(self, name))
        if self.inference not in INFERENCE:
            raise ValueError(f"inference={self.inference!r} is not known: use 'top-down' (Ladder VAE) or "
                             f"'bottom-up'.")
        _check_activation_and_shape(self)


@register_model
class HierarchicalVAE(StructuredVAE):
    """Two stochastic layers, p(x|z1) p(z1|z2) p(z2), with bottom-up or top-down (Ladder) inference.

    ``local_params(x)`` is ``(mu1, logvar1)`` of q(z1|x) (bottom-up) or the two messages ``(mu_hat1, logvar_hat1,
    mu_hat2, logvar_hat2)`` (top-down); the latent code ``z`` is ``cat(z1, z2)`` ``(n, B, D1 + D2)``.
    """

    def __init__(self, input_dim: int = 784, hidden_dim: int = 256, z1_dim: int = 32, z2_dim: int = 16,
                 inference: str = "top-down", activation: str = "elu", image_shape=(1, 28, 28)):
        super().__init__()
        c = self.config = HierarchicalVAEConfig(input_dim, hidden_dim, z1_dim, z2_dim, inference, activation,
                                                tuple(image_shape))
        h, act = c.hidden_dim, c.activation
        # generative path, shared by both kinds of inference
        self.prior1 = nn.Sequential(_mlp([c.z2_dim, h, h], act), _GaussianHead(h, c.z1_dim))  # z2 -> p(z1|z2)
        self.decoder = _mlp([c.z1_dim, h, h], act)  # z1 -> (.., H)
        self.fc_out = nn.Linear(h, c.input_dim)  # (.., H) -> logits (.., 784)
        # inference path
        self.up1 = _mlp([c.input_dim, h, h], act)  # x -> d1 (B, H)
        self.head1 = _GaussianHead(h, c.z1_dim)  # d1 -> q(z1|x) (bottom-up) or the message of z1 (top-down)
        if c.inference == "top-down":
            self.up2 = _mlp([h, h], act)  # d1 -> d2 (B, H)
        else:
            self.up2 = _mlp([c.z1_dim, h, h], act)  # z1 -> (.., H) of q(z2|z1)
        self.head2 = _GaussianHead(h, c.z2_dim)
        self.noise_dim = c.z1_dim + c.z2_dim

    @classmethod
    def from_config(cls, config: HierarchicalVAEConfig | dict) -> "HierarchicalVAE":
        c = config if isinstance(config, HierarchicalVAEConfig) else HierarchicalVAEConfig(**config)
        return cls(c.input_dim, c.hidden_dim, c.z1_dim, c.z2_dim, c.inference, c.activation, c.image_shape)

    @property
    def latent_dim(self) -> int:
        return self.config.z1_dim + self.config.z2_dim

    # --- generative path -------------------------------------------------------------------------------------------
    def decode_logits(self, z1: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of p(x|z1): ``(..., D1) -> (..., 784)``."""
        return self.fc_out(self.decoder(z1))

    def prior_z1(self, z2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``mu_p1, logvar_p1`` of p(z1|z2): ``(..., D2) -> (..., D1)`` each."""
        return self.prior1(z2)

    def split(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``cat(z1, z2)`` ``(..., D1 + D2)`` -> ``z1 (..., D1), z2 (..., D2)``."""
        return z[..., :self.config.z1_dim], z[..., self.config.z1_dim:]

    def log_joint(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``log p(x|z1) + log p(z1|z2) + log p(z2)`` for ``z = cat(z1, z2)`` ``(n, B, D1 + D2)``: ``(n, B)``."""
        x = self._flat(x)  # (B, 784)
        z1, z2 = self.split(z)
        mu_p1, logvar_p1 = self.prior_z1(z2)  # (n, B, D1)
        log_pz2 = gaussian_log_prob(z2, torch.zeros_like(z2), torch.zeros_like(z2))  # (n, B)
        return self.bernoulli_log_lik(x, z1) + gaussian_log_prob(z1, mu_p1, logvar_p1) + log_pz2

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Ancestral samples: z2 ~ N(0, I), z1 ~ p(z1|z2), pixel means of p(x|z1), ``(n, *image_shape)``."""
        _check_positive_int("n", n)
        device = next(self.parameters()).device
        z2 = torch.randn(n, self.config.z2_dim, generator=generator, dtype=self.dtype).to(device)  # (n, D2)
        mu_p1, logvar_p1 = self.prior_z1(z2)
        noise = torch.randn(mu_p1.shape, generator=generator, dtype=mu_p1.dtype).to(device)  # (n, D1)
        z1 = mu_p1 + torch.exp(0.5 * logvar_p1) * noise
        return torch.sigmoid(self.decode_logits(z1)).reshape(n, *self.config.image_shape)

    # --- inference path --------------------------------------------------------------------------------------------
    def local_params(self, x: torch.Tensor) -> torch.Tensor:
        """Per-image parameters of q: ``(B, 2 D1)`` bottom-up, ``(B, 2 D1 + 2 D2)`` top-down."""
        d1 = self.up1(self._flat(x))  # (B, H)
        mu1, logvar1 = self.head1(d1)  # (B, D1)
        if self.config.inference == "bottom-up":
            return torch.cat([mu1, logvar1], -1)
        mu2, logvar2 = self.head2(self.up2(d1))  # (B, D2)
        return torch.cat([mu1, logvar1, mu2, logvar2], -1)

    def _q_layers(self, theta: torch.Tensor, eps: torch.Tensor):
        """Draws of both layers with the Gaussians they came from: ``z1, z2`` and ``(mu, logvar)`` of q per layer,
        plus p(z1|z2)'s ``(mu_p1, logvar_p1)``; every tensor ``(n, B, .)``."""
        d1, d2 = self.config.z1_dim, self.config.z2_dim
        e1, e2 = eps[..., :d1], eps[..., d1:]  # (n, B, D1), (n, B, D2)
        if self.config.inference == "bottom-up":
            mu1, logvar1 = theta[:, :d1].unsqueeze(0), theta[:, d1:].unsqueeze(0)  # (1, B, D1)
            z1 = mu1 + torch.exp(0.5 * logvar1) * e1  # (n, B, D1)   z1 ~ q(z1|x)
            mu2, logvar2 = self.head2(self.up2(z1))  # (n, B, D2)     q(z2|z1)
            z2 = mu2 + torch.exp(0.5 * logvar2) * e2
            mu_p1, logvar_p1 = self.prior_z1(z2)
        else:
            mu_hat1, logvar_hat1 = theta[:, :d1].unsqueeze(0), theta[:, d1:2 * d1].unsqueeze(0)  # (1, B, D1)
            mu2, logvar2 = theta[:, 2 * d1:2 * d1 + d2].unsqueeze(0), theta[:, 2 * d1 + d2:].unsqueeze(0)
            z2 = mu2 + torch.exp(0.5 * logvar2) * e2  # (n, B, D2)   z2 ~ q(z2|x)
            mu_p1, logvar_p1 = self.prior_z1(z2)  # (n, B, D1)   the generative top-down step
            mu1, logvar1 = precision_weighted_merge(mu_hat1, logvar_hat1, mu_p1, logvar_p1)
            z1 = mu1 + torch.exp(0.5 * logvar1) * e1  # z1 ~ q(z1|z2, x)
        mu1, logvar1 = mu1.expand_as(z1), logvar1.expand_as(z1)
        mu2, logvar2 = mu2.expand_as(z2), logvar2.expand_as(z2)
        return z1, z2, (mu1, logvar1), (mu2, logvar2), (mu_p1, logvar_p1)

    def sample_local(self, theta: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``z = cat(z1, z2)`` ``(n, B, D1 + D2)`` from the noise ``eps`` ``(n, B, D1 + D2)``, and ``log q(z|x)``
        ``(n, B)``: ``log q(z1|x) + log q(z2|z1)`` or ``log q(z2|x) + log q(z1|z2, x)``."""
        z1, z2, (mu1, logvar1), (mu2, logvar2), _ = self._q_layers(_full(theta), _full(eps))
        log_q = gaussian_log_prob(z1, mu1, logvar1) + gaussian_log_prob(z2, mu2, logvar2)
        return torch.cat([z1, z2], -1), log_q

    def elbo_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One draw per image: ``recon = -log p(x|z1)`` and the per-layer KL terms ``(KL_1, KL_2)``, each ``(B,)``."""
        x = self._flat(x)
        theta = self.local_params(x)
        eps = torch.randn(1, x.shape[0], self.noise_dim, device=x.device, dtype=theta.dtype)
        theta = _full(theta)
        z1, z2, (mu1, logvar1), (mu2, logvar2), (mu_p1, logvar_p1) = self._q_layers(theta, eps.to(theta.dtype))
        recon = -self.bernoulli_log_lik(x, z1)[0]  # (B,)
        zero = torch.zeros_like(mu2)
        kl2 = gaussian_kl_pair(mu2, logvar2, zero, zero)[0]  # KL(q(z2|.) || N(0, I)), (B,)
        if self.config.inference == "top-down":
            kl1 = gaussian_kl_pair(mu1, logvar1, mu_p1, logvar_p1)[0]  # KL(q(z1|z2,x) || p(z1|z2)) given z2
        else:  # z2 was drawn after z1: the z1 term stays a one-sample estimate
            kl1 = (gaussian_log_prob(z1, mu1, logvar1) - gaussian_log_prob(z1, mu_p1, logvar_p1))[0]
        return recon, (kl1, kl2)

    @torch.no_grad()
    def posterior_means(self, x: torch.Tensor, n: int = 16,
                        generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``E_q[z1|x]`` and ``E_q[z2|x]`` per image, ``(B, D1)`` and ``(B, D2)``, by averaging ``n`` draws (exact
        where q's mean is in closed form: q(z1|x) bottom-up, q(z2|x) top-down). For the active units per layer."""
        theta = self.local_params(x)
        theta = _full(theta)
        eps = torch.randn(n, theta.shape[0], self.noise_dim, generator=generator, dtype=theta.dtype).to(theta.device)
        z1, z2, (mu1, _), (mu2, _), _ = self._q_layers(_full(theta), eps.to(_full(theta).dtype))
        return mu1.mean(0), mu2.mean(0)
