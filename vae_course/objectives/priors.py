"""Priors p(z) for the VAE's latent space: the standard normal, a mixture of Gaussians, and the VampPrior.

Used by notebook 11 (learned priors and the aggregate posterior) and by :func:`vae_course.training.fit` through its
``prior=`` argument. Every prior is an ``nn.Module`` with

* ``log_prob(z) -> (N,)``: log p(z) of each row of ``z`` (N, D), differentiable in z and in the prior's parameters;
* ``sample(n, generator=None) -> (n, D)``: n independent draws.

With the standard normal the KL term of the ELBO has the closed form of notebook 03. With a learned prior it does
not: :func:`prior_kl` then estimates KL(q(z|x) || p(z)) = E_q[log q(z|x) - log p(z)] by Monte Carlo at the
reparameterized sample z that the reconstruction term uses, which keeps the ELBO estimate unbiased.
:func:`prior_objective` is the resulting objective as a plain function; ``ELBO(prior=...)`` is the same as an object.

* :class:`MixtureOfGaussiansPrior`: p(z) = sum_k pi_k N(z; m_k, diag(s_k^2)), with learned weights, means and
  variances.
* :class:`VampPrior` (Tomczak & Welling 2018): p(z) = (1/K) sum_k q_phi(z | u_k), the mixture of the encoder's own
  posteriors at K learned pseudo-inputs u_k. The encoder is the model's, so the prior moves with it.

References:
    Tomczak & Welling 2018, "VAE with a VampPrior" (arXiv:1705.07120).
    Hoffman & Johnson 2016, "ELBO surgery: yet another way to carve up the variational evidence lower bound".
"""
from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from .losses import ELBOTerms, check_unit_interval, gaussian_kl, reconstruction_nll

LOG_2PI = math.log(2 * math.pi)


def _count(name: str, value, limit: int = 100_000) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= limit:
        raise ValueError(f"{name}={value!r} must be a whole number from 1 to {limit:,}.")
    return int(value)


def _seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**63:
        raise ValueError(f"seed={seed!r} must be a whole number from 0 to 2**63 - 1, e.g. seed=0.")
    return int(seed)


def diagonal_normal_log_prob(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, diag(exp(logvar))), summed over the last dimension; broadcasts over the leading ones."""
    return -0.5 * (LOG_2PI + logvar + (z - mean).pow(2) * torch.exp(-logvar)).sum(dim=-1)


def mixture_log_prob(z: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor,
                     log_weights: torch.Tensor) -> torch.Tensor:
    """log sum_k w_k N(z; means_k, diag(exp(logvars_k))) for z (N, D), components (K, D), log_weights (K,): (N,)."""
    comp = diagonal_normal_log_prob(z[:, None, :], means[None], logvars[None])  # (N, K)
    return torch.logsumexp(comp + log_weights, dim=1)  # (N,)


class Prior(nn.Module):
    """The interface: ``log_prob(z)`` and ``sample(n)`` on a ``latent_dim``-dimensional latent space."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = _count("latent_dim", latent_dim)

    def _check_z(self, z) -> torch.Tensor:
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != self.latent_dim:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"z must be a tensor shaped (N, {self.latent_dim}), got {shape}.")
        return z

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - the interface
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


class StandardNormalPrior(Prior):
    """p(z) = N(0, I): the course's prior until notebook 11, with the closed-form KL of notebook 03."""

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        z = self._check_z(z)
        return -0.5 * (LOG_2PI + z.pow(2)).sum(dim=1)  # (N,)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(_count("n", n, 10**8), self.latent_dim, generator=generator)


class MixtureOfGaussiansPrior(Prior):
    """p(z) = sum_k softmax(logits)_k N(z; means_k, diag(exp(logvars_k))), every part learned.

    The means start as a seeded draw from N(0, I) and the variances at 1, so at initialisation the mixture is a
    blurred standard normal; training moves the components to where the codes are.
    """

    def __init__(self, latent_dim: int, num_components: int = 10, seed: int = 0):
        super().__init__(latent_dim)
        k = _count("num_components", num_components)
        gen = torch.Generator().manual_seed(_seed(seed))
        self.means = nn.Parameter(torch.randn(k, self.latent_dim, generator=gen))  # (K, D)
        self.logvars = nn.Parameter(torch.zeros(k, self.latent_dim))  # (K, D)
        self.logits = nn.Parameter(torch.zeros(k))  # (K,)

    @property
    def num_components(self) -> int:
        return self.means.shape[0]

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        z = self._check_z(z)
        return mixture_log_prob(z, self.means, self.logvars, torch.log_softmax(self.logits, dim=0))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        n = _count("n", n, 10**8)
        with torch.no_grad():
            k = torch.multinomial(torch.softmax(self.logits, 0), n, replacement=True, generator=generator)  # (n,)
            eps = torch.randn(n, self.latent_dim, generator=generator)
            return self.means[k] + torch.exp(0.5 * self.logvars[k]) * eps


class VampPrior(Prior):
    """p(z) = (1/K) sum_k q_phi(z | u_k): the encoder's posteriors at K learned pseudo-inputs u_k in [0, 1]^784.

    ``model`` is the VAE whose encoder defines the prior; it is *not* registered as a submodule (its parameters
    stay the model's, so an optimizer over ``model.parameters()`` and ``prior.parameters()`` sees each once). The
    pseudo-inputs are stored as logits, ``u = sigmoid(pseudo_logits)``, so they stay images. With ``init`` (K, 784)
    images they start there (the paper's "data" initialisation); otherwise as seeded noise around grey 0.5.
    """

    def __init__(self, model: nn.Module, num_components: int = 500, *, init: torch.Tensor | None = None,
                 seed: int = 0):
        if not hasattr(model, "encode") or not hasattr(model, "config"):
            raise TypeError(f"model must be a course VAE with encode() and config, got {type(model).__name__}.")
        super().__init__(model.config.latent_dim)
        k = _count("num_components", num_components)
        input_dim = model.config.input_dim
        if init is not None:
            if not isinstance(init, torch.Tensor) or init.reshape(len(init), -1).shape != (k, input_dim):
                raise ValueError(f"init must be {k} images of {input_dim} pixels, one per pseudo-input.")
            if not init.is_floating_point():
                raise TypeError(f"init has dtype {init.dtype}; expected float images in [0, 1] (divide uint8 by 255).")
            check_unit_interval(init, "init")
            u = init.reshape(k, input_dim).detach().float().clamp(1e-3, 1 - 1e-3)
            logits = torch.log(u) - torch.log1p(-u)
        else:
            gen = torch.Generator().manual_seed(_seed(seed))
            logits = 0.1 * torch.randn(k, input_dim, generator=gen)
        self.pseudo_logits = nn.Parameter(logits)  # (K, 784)
        object.__setattr__(self, "_model", model)  # a plain reference, not a submodule

    @property
    def num_components(self) -> int:
        return self.pseudo_logits.shape[0]

    def pseudo_inputs(self) -> torch.Tensor:
        """The K pseudo-inputs as images in [0, 1]: (K, 784)."""
        return torch.sigmoid(self.pseudo_logits)

    def components(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(means, logvars) of q_phi(z | u_k), each (K, D)."""
        return self._model.encode(self.pseudo_inputs())

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        z = self._check_z(z)
        means, logvars = self.components()
        log_w = torch.full((self.num_components,), -math.log(self.num_components), device=z.device)
        return mixture_log_prob(z, means, logvars, log_w)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        n = _count("n", n, 10**8)
        with torch.no_grad():
            means, logvars = self.components()
            k = torch.randint(self.num_components, (n,), generator=generator)
            eps = torch.randn(n, self.latent_dim, generator=generator)
            return means[k] + torch.exp(0.5 * logvars[k]) * eps


def prior_kl(mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor, prior: Prior | None) -> torch.Tensor:
    """KL(q(z|x) || p(z)) per image, (B,): closed form for the standard normal (or ``None``), otherwise the one-sample
    Monte-Carlo estimate log q(z|x) - log p(z) at the given z ~ q(z|x) (unbiased, not closed-form)."""
    if prior is None or isinstance(prior, StandardNormalPrior):
        return gaussian_kl(mu, logvar)
    return diagonal_normal_log_prob(z, mu, logvar) - prior.log_prob(z)


def prior_objective(prior: Prior, *, likelihood: str = "bernoulli", sigma: float = 1.0):
    """An objective ``(model, x, y) -> ELBOTerms`` for :func:`vae_course.training.fit`: the negative ELBO under
    ``prior``.

    The reconstruction term and the KL term share one reparameterized z per image; the KL is :func:`prior_kl`.
    A plain function has no parameters for ``fit`` to train: to train the prior too, use
    ``fit(..., objective=ELBO(prior=prior))``, which is this objective with the prior's parameters.
    """
    if not isinstance(prior, Prior):
        raise TypeError(f"prior must be a vae_course.objectives.Prior, got {type(prior).__name__}.")

    def loss_fn(model, x, y=None) -> ELBOTerms:
        extra = () if y is None else (y,)  # a conditional model's labels, as in losses.encode_decode
        mu, logvar = model.encode(x, *extra)  # (B, D) each
        z = model.reparameterize(mu, logvar)  # (B, D): the one z both terms use
        logits = model.decode_logits(z, *extra)  # (B, 784)
        recon = reconstruction_nll(logits, x, likelihood, sigma)  # (B,)
        kl = prior_kl(mu, logvar, z, prior)  # (B,)
        return ELBOTerms(recon, kl, recon + kl)

    return loss_fn
