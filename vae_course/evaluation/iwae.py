"""The importance-weighted bound on log p(x) (Burda et al. 2015): how good a trained VAE really is, in nats.

Used by notebooks 08 and 11 (``iwae_bound(..., prior=...)`` under a learned prior) and ``benchmarks/best_model.py``.

Notebook 01 wrote ``p(x)`` as an expectation under a proposal ``q(z|x)`` (importance sampling)::

    p(x) = E_{z ~ q(z|x)} [ p(x, z) / q(z|x) ]  ~  (1/k) sum_i w_i,     w_i = p(x, z_i) / q(z_i|x)

The log of that unbiased estimate is, by Jensen's inequality, a *lower bound in expectation*::

    log p(x) >= L_k(x) = E[ log (1/k) sum_i w_i ] = E[ logsumexp_i(log w_i) - log k ]

``L_1`` is the ELBO, ``L_k <= L_{k+1}``, and ``L_k -> log p(x)`` as ``k`` grows. Everything here works with
``log w`` and ``torch.logsumexp`` (the weights themselves underflow: ``log w`` is about -90 for an MNIST digit), in
batches of images and chunks of samples so that ``k = 1000`` or more fits in memory.

    >>> bound = iwae_bound(model, x, k=1000)             # doctest: +SKIP
    >>> bound.shape                                      # doctest: +SKIP
    torch.Size([B])                                      # nats per image; -bound is an upper bound on -log p(x)

Cost: ``k`` samples for each of ``N`` images are ``k * N`` decoder passes. Past ``_LONG_RUN_SAMPLES`` of them (ten
times the usual k = 1000 bound of the whole 10,000-image test set), :func:`iwae_bound` and :func:`iwae_curve` warn
before they start, with a rough time on a CPU (``k=10**9`` would otherwise run for days without a word).

References:
    Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016 (arXiv:1509.00519):
    Theorem 1 (monotone in k, converges to log p(x)) and the MNIST test log-likelihoods of Table 1.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import torch
from torch.distributions import Distribution, Independent, Normal

from ..config import check_seed
from .likelihoods import decoder_distribution
from ..objectives.checks import _check_pass_bytes
from ..objectives.losses import check_unit_interval

_LONG_RUN_SAMPLES = 10**8  # k * N above this: warn before starting
_CPU_PARAMETER_ROWS_PER_SECOND = 1e10  # measured: ~16,000 samples a second for the 631,188-parameter MLP on 2 cores

LogJoint = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Proposal = Callable[[torch.Tensor], Distribution]


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ValueError(f"k={k!r} must be a positive whole number of importance samples (k=1 is the ELBO).")
    return k


def _check_chunk(chunk) -> int | None:
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk <= 0):
        raise ValueError(f"chunk={chunk!r} must be a positive whole number of samples drawn at a time (or None).")
    return chunk


def _check_images(x, name: str, labels=None) -> None:
    """Images for a bound: a non-empty float tensor in [0, 1] (NaN refused), with one label per image if given."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty float tensor of images shaped (N, 1, 28, 28) or (N, 784).")
    check_unit_interval(x, name)
    if labels is not None and (not isinstance(labels, torch.Tensor) or labels.ndim != 1
                               or labels.shape[0] != x.shape[0]):
        raise ValueError(f"labels must be a 1-D tensor with one label per image ({x.shape[0]}).")


def _warn_if_long(model, k: int, n: int, what: str) -> None:
    """Warn, in one sentence with a rough CPU time, when ``k * n`` decoder passes exceed ``_LONG_RUN_SAMPLES``."""
    samples = k * n
    if samples <= _LONG_RUN_SAMPLES:
        return
    per_second = _CPU_PARAMETER_ROWS_PER_SECOND / max(1, sum(p.numel() for p in model.parameters()))
    seconds = samples / per_second
    took = next(f"{seconds / unit:,.0f} {name}" for unit, name in ((86400, "days"), (3600, "hours"), (60, "minutes"),
                                                                    (1, "seconds")) if seconds >= unit or unit == 1)
    warnings.warn(f"{what} with k={k:,} on {n:,} images decodes {samples:,} importance samples, about {took} on a CPU "
                  f"at {per_second:,.0f} samples a second: lower k (k=1000 is the usual bound) or pass fewer images, "
                  f"or stop it with Ctrl-C.", stacklevel=3)


def _check_model(model) -> None:
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "encode") or not hasattr(model, "decode_logits"):
        raise TypeError(f"model must be a course VAE (encode and decode_logits), got {type(model).__name__}.")


def log_mean_exp(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """``log( mean_i exp(log_w_i) )`` along ``dim`` without leaving log space: ``logsumexp - log k``."""
    if not isinstance(log_w, torch.Tensor) or log_w.ndim == 0:
        raise ValueError("log_w must be a tensor with at least one axis, e.g. (k, B).")
    return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])


def iwae_from_log_weights(log_w: torch.Tensor) -> torch.Tensor:
    """The importance-weighted estimate from log-weights ``(k, B)``: ``(B,)`` nats (one sample of ``L_k``)."""
    if not isinstance(log_w, torch.Tensor) or log_w.ndim != 2:
        raise ValueError(f"log_w must be a (k, B) tensor of log importance weights, got "
                         f"{tuple(log_w.shape) if isinstance(log_w, torch.Tensor) else type(log_w).__name__}.")
    return log_mean_exp(log_w, dim=0)


def _sample(q: Distribution, n: int, generator: torch.Generator | None) -> torch.Tensor:
    """``n`` draws from ``q`` shaped ``(n, *q.batch_shape, *q.event_shape)``, reproducible with ``generator``."""
    base = q.base_dist if isinstance(q, Independent) else q
    if isinstance(base, Normal):
        shape = (n, *base.batch_shape)  # loc and scale broadcast
        eps = torch.randn(shape, generator=generator, dtype=base.loc.dtype).to(base.loc.device)
        return base.loc + base.scale * eps
    if generator is None:
        return q.sample((n,))
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return q.sample((n,))


@torch.no_grad()
def importance_weighted_bound(log_joint: LogJoint, proposal: Proposal, x: torch.Tensor, k: int, *,
                              chunk: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One draw of ``L_k(x)`` for any model given as two callables, ``(B,)`` nats.

    Args:
        log_joint: ``log_joint(x, z) -> log p(x, z)``; ``x`` is ``(B, ...)``, ``z`` is ``(c, B, D)``, the result
            ``(c, B)``.
        proposal: ``proposal(x)`` returns ``q(z|x)``, a ``torch.distributions`` object with batch shape ``(B,)`` and
            event shape ``(D,)`` (e.g. ``Independent(Normal(mu, std), 1)``).
        x: a batch of data ``(B, ...)``.
        k: importance samples per data point.
        chunk: samples drawn at a time (memory ~ ``chunk * B`` decoder outputs); default all ``k``.
        generator: makes the draw reproducible.
    """
    k = _check_k(k)
    chunk = k if chunk is None else _check_chunk(chunk)
    q = proposal(x)
    pieces = []  # logsumexp of each chunk's log-weights, (B,) each
    for start in range(0, k, chunk):
        c = min(chunk, k - start)
        z = _sample(q, c, generator)  # (c, B, D)
        log_pxz = log_joint(x, z)  # (c, B)
        if log_pxz.shape != z.shape[:2]:
            raise ValueError(f"log_joint returned shape {tuple(log_pxz.shape)}; expected (samples, batch) = "
                             f"{tuple(z.shape[:2])}.")
        log_w = log_pxz - q.log_prob(z)  # (c, B)
        pieces.append(torch.logsumexp(log_w, dim=0))
    return torch.logsumexp(torch.stack(pieces), dim=0) - math.log(k)  # (B,)


def vae_proposal(model, y: torch.Tensor | None = None) -> Proposal:
    """``q(z|x) = N(mu(x), diag(exp(logvar(x))))`` from a course VAE's encoder, as a distribution over ``(D,)``."""
    extra = () if y is None else (y,)

    def proposal(x: torch.Tensor) -> Distribution:
        mu, logvar = model.encode(x, *extra)  # (B, D) each
        return Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)

    return proposal


def vae_log_joint(model, y: torch.Tensor | None = None, *, likelihood: str = "bernoulli",
                  sigma: float | torch.Tensor = 1.0, prior=None) -> LogJoint:
    """``log p(x, z) = log p(z) + log p(x|z)`` for a course VAE: the decoder's likelihood, and the standard normal
    prior, or ``prior`` (any :class:`vae_course.objectives.Prior`: its ``log_prob`` maps ``(N, D)`` codes to ``(N,)``;
    notebook 11's learned priors)."""
    if prior is not None and not callable(getattr(prior, "log_prob", None)):
        raise TypeError(f"prior must have a log_prob(z) method, such as vae_course.objectives.VampPrior; got "
                        f"{type(prior).__name__}.")

    def log_joint(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        c, b, d = z.shape
        if prior is None:
            log_pz = Independent(Normal(torch.zeros_like(z), torch.ones_like(z)), 1).log_prob(z)  # (c, B)
        else:
            log_pz = prior.log_prob(z.reshape(c * b, d)).reshape(c, b)  # (c, B)
        extra = () if y is None else (y.repeat(c),)
        context = {}
        if getattr(model, "decoder_sees_x", False):  # teacher forcing: the decoder reads x itself
            context = {"context": x.reshape(b, -1).repeat(c, 1)}  # (c*B, 784), same order as the codes
        logits = model.decode_logits(z.reshape(c * b, d), *extra, **context).reshape(c, b, -1)  # (c, B, 784)
        x_flat = x.reshape(1, b, -1)  # (1, B, 784), broadcast over the samples
        return log_pz + decoder_distribution(logits, likelihood, sigma).log_prob(x_flat.expand_as(logits))

    return log_joint


@torch.no_grad()
def iwae_bound(model, x: torch.Tensor, k: int, *, labels: torch.Tensor | None = None, batch_size: int = 100,
               chunk: int | None = None, generator: torch.Generator | None = None, likelihood: str = "bernoulli",
               sigma: float | torch.Tensor = 1.0, prior=None) -> torch.Tensor:
    """``L_k(x)`` for each image of ``x`` under a course VAE, ``(N,)`` nats (higher is better; ``-L_k`` bounds the NLL).

    Args:
        model: a course VAE (``encode`` -> ``(mu, logvar)``, ``decode_logits``). It is put in eval mode.
        x: images ``(N, 1, 28, 28)`` or ``(N, 784)``; binary for the Bernoulli likelihood to be a real pmf.
        k: importance samples per image (``k=1`` is a one-sample ELBO with the KL estimated by sampling).
        labels: for a conditional model.
        batch_size: images per pass; chunk: samples per pass (default: about 20,000 decoder rows at a time).
        generator: a seeded ``torch.Generator`` makes the result reproducible.
        likelihood, sigma: the decoder's distribution (see :func:`vae_course.evaluation.decoder_distribution`).
        prior: the model's prior p(z) if it is not N(0, I), e.g. a :class:`vae_course.objectives.VampPrior` trained
            with it (notebook 11).
    """
    _check_model(model)
    k = _check_k(k)
    _check_chunk(chunk)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size={batch_size!r} must be a positive whole number.")
    _check_images(x, "x", labels)
    if labels is not None and not getattr(model, "conditional", False):
        raise ValueError(f"labels= is for a conditional model, and {type(model).__name__} takes none: leave it out.")
    b = min(batch_size, x.shape[0])
    _check_pass_bytes(chunk or max(1, min(k, 20_000 // b)), b, model,
                     f"iwae_bound(k={k}, chunk={chunk}, batch_size={batch_size})")
    _warn_if_long(model, k, x.shape[0], "iwae_bound")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    try:
        for i in range(0, x.shape[0], batch_size):
            xb = x[i:i + batch_size].to(device)  # (B, ...)
            yb = None if labels is None else labels[i:i + batch_size].to(device)
            c = chunk or max(1, min(k, 20_000 // xb.shape[0]))
            out.append(importance_weighted_bound(vae_log_joint(model, yb, likelihood=likelihood, sigma=sigma,
                                                               prior=prior),
                                                 vae_proposal(model, yb), xb, k, chunk=c,
                                                 generator=generator).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)  # (N,)


@torch.no_grad()
def model_log_weights(model, x: torch.Tensor, k: int, *, labels: torch.Tensor | None = None,
                      chunk: int | None = None, generator: torch.Generator | None = None,
                      likelihood: str = "bernoulli", sigma: float | torch.Tensor = 1.0) -> torch.Tensor:
    """All ``k`` log importance weights ``log p(x, z_i) - log q(z_i|x)`` of one batch of images: ``(k, B)``."""
    _check_model(model)
    k = _check_k(k)
    _check_chunk(chunk)
    _check_images(x, "x", labels)
    log_joint = vae_log_joint(model, labels, likelihood=likelihood, sigma=sigma)
    q = vae_proposal(model, labels)(x)
    c = chunk or max(1, min(k, 20_000 // x.shape[0]))
    out = []
    for start in range(0, k, c):
        z = _sample(q, min(c, k - start), generator)  # (c, B, D)
        out.append(log_joint(x, z) - q.log_prob(z))  # (c, B)
    return torch.cat(out)  # (k, B)


def bounds_from_log_weights(log_w: torch.Tensor, ks) -> dict[int, torch.Tensor]:
    """Estimates of ``L_k`` for several ``k`` from one set of ``K`` log-weights ``(K, B)``.

    For each ``k`` (which must divide ``K``) the ``K`` weights are split into ``K // k`` disjoint groups of ``k``;
    each group gives an independent draw of ``L_k``, and their average is returned, ``(B,)``. So one pass with
    ``K = 1000`` samples yields ``L_1``, ``L_10``, ``L_100`` and ``L_1000`` together.
    """
    big_k = log_w.shape[0]
    out = {}
    for k in ks:
        k = _check_k(k)
        if big_k % k:
            raise ValueError(f"k={k} does not divide the number of samples {big_k}.")
        groups = log_w.reshape(big_k // k, k, -1)  # (K/k, k, B)
        out[k] = log_mean_exp(groups, dim=1).mean(dim=0)  # (B,)
    return out


@torch.no_grad()
def iwae_curve(model, images: torch.Tensor, ks=(1, 10, 100, 1000), *, labels: torch.Tensor | None = None,
               batch_size: int = 100, seed: int = 0, likelihood: str = "bernoulli",
               sigma: float | torch.Tensor = 1.0) -> dict[int, torch.Tensor]:
    """``L_k`` for every ``k`` in ``ks``, per image ``(N,)``, from one pass of ``max(ks)`` samples per image."""
    ks = tuple(ks)
    if not ks:
        raise ValueError("ks must name at least one k, e.g. ks=(1, 10, 100, 1000).")
    _check_model(model)
    _check_images(images, "images", labels)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size={batch_size!r} must be a positive whole number.")
    big_k = max(_check_k(k) for k in ks)
    _warn_if_long(model, big_k, images.shape[0], "iwae_curve")
    gen = torch.Generator().manual_seed(check_seed(seed))
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    parts: dict[int, list[torch.Tensor]] = {k: [] for k in ks}
    try:
        for i in range(0, images.shape[0], batch_size):
            xb = images[i:i + batch_size].to(device)
            yb = None if labels is None else labels[i:i + batch_size].to(device)
            log_w = model_log_weights(model, xb, big_k, labels=yb, generator=gen, likelihood=likelihood, sigma=sigma)
            for k, v in bounds_from_log_weights(log_w, ks).items():
                parts[k].append(v.cpu())
    finally:
        model.train(was_training)
    return {k: torch.cat(v) for k, v in parts.items()}


@dataclass
class LikelihoodEstimate:
    """A test-set estimate: ``mean`` of ``L_k`` in nats per image (``nll = -mean``) and its standard error."""

    k: int
    n: int
    mean: float
    stderr: float
    seconds: float

    @property
    def nll(self) -> float:
        """The upper bound on the negative log-likelihood, nats per image."""
        return -self.mean

    def __str__(self) -> str:
        return (f"k={self.k}: log p(x) >= {self.mean:.2f} +- {self.stderr:.2f} nats per image "
                f"(NLL <= {self.nll:.2f}, {self.n:,} images)")


def estimate_log_likelihood(model, images: torch.Tensor, k: int = 1000, *, labels: torch.Tensor | None = None,
                            batch_size: int = 100, chunk: int | None = None, seed: int = 0,
                            likelihood: str = "bernoulli", sigma: float | torch.Tensor = 1.0) -> LikelihoodEstimate:
    """The average of ``L_k`` over ``images`` (e.g. the whole test set) with its standard error over images."""
    gen = torch.Generator().manual_seed(check_seed(seed))
    start = time.perf_counter()
    bounds = iwae_bound(model, images, k, labels=labels, batch_size=batch_size, chunk=chunk, generator=gen,
                        likelihood=likelihood, sigma=sigma).double()
    seconds = time.perf_counter() - start
    n = bounds.numel()
    stderr = float(bounds.std() / math.sqrt(n)) if n > 1 else float("nan")
    return LikelihoodEstimate(k, n, float(bounds.mean()), stderr, seconds)
