"""Scores of notebook 13's models (:class:`vae_course.models.StructuredVAE`: a hierarchy, a flow posterior): the
importance-weighted bound, active units per stochastic layer, and notebook 08's split of the inference gap.

Used by notebook 13 (hierarchical VAEs and flow posteriors) and :mod:`vae_course.training.deeper`.

Notebook 08 split ``log p(x) - ELBO(q_enc)`` into an approximation gap (what the family of q costs) and an
amortization gap (what sharing one encoder costs) by optimising each image's own Gaussian. Here the family is the
model's own: the per-image parameters ``theta`` that the encoder computes (``model.local_params(x)``: a Gaussian's
mean and log-variance, plus the flow's context, or a ladder's two bottom-up messages) are optimised for each image
alone, with the rest of q (the flow's MADEs, the top-down path) kept as trained::

    log p(x) - ELBO(theta_enc) = [log p(x) - ELBO(theta*)]  +  [ELBO(theta*) - ELBO(theta_enc)]
                                  approximation gap             amortization gap

For a plain Gaussian q this is exactly notebook 08's split. The ELBO is averaged over a fixed set of noise draws
while optimising (common random numbers) and re-estimated with fresh draws afterwards, so the optimisation's noise
does not flatter ``theta*``; ``log p(x)`` is ``L_k`` with ``theta*``'s q as the proposal (a lower bound, so the
approximation gap printed is a lower bound too).

References:
    Cremer, Li & Duvenaud, "Inference Suboptimality in Variational Autoencoders", ICML 2018 (arXiv:1801.03558):
    the split, and flows that shrink both gaps.
    Burda, Grosse & Salakhutdinov 2015 (arXiv:1509.00519): L_k and the active units.
"""
from __future__ import annotations

import math

import torch

from ..config import check_seed
from .amortization import GapSplit


def _check_structured(model) -> None:
    if not all(callable(getattr(model, name, None)) for name in ("local_params", "sample_local", "log_joint")):
        raise TypeError(f"model must be one of notebook 13's models (HierarchicalVAE or FlowVAE, with local_params, "
                        f"sample_local and log_joint), got {type(model).__name__}.")


def _check_binary(x, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty float tensor of binary images shaped (N, 1, 28, 28) or (N, 784).")
    if not bool(((x == 0) | (x == 1)).all()):
        raise ValueError(f"{name} must be binary (0 or 1) for the Bernoulli bound to be a probability: binarize the "
                         f"test images, e.g. load_mnist('test', binarize='static', seed=1).")


@torch.no_grad()
def structured_iwae(model, images: torch.Tensor, ks=(1, 100), *, batch_size: int = 100,
                    seed: int = 0) -> dict[int, torch.Tensor]:
    """``L_k`` per image ``(N,)`` for every ``k`` in ``ks``, from one pass of ``max(ks)`` draws per image (each k
    must divide the largest); nats per image, binary images."""
    from .iwae import bounds_from_log_weights

    _check_structured(model)
    _check_binary(images, "images")
    ks = tuple(ks)
    big_k = max(ks) if ks else 0
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k <= 0 or big_k % k for k in ks):
        raise ValueError(f"ks={ks!r} must be positive whole numbers that divide the largest, e.g. (1, 100, 1000).")
    gen = torch.Generator().manual_seed(check_seed(seed))
    was_training = model.training
    model.eval()
    parts: dict[int, list[torch.Tensor]] = {k: [] for k in ks}
    try:
        for i in range(0, images.shape[0], batch_size):
            log_w = model.log_weights(images[i:i + batch_size], big_k, generator=gen)  # (K, B)
            for k, v in bounds_from_log_weights(log_w.double(), ks).items():
                parts[k].append(v)
    finally:
        model.train(was_training)
    return {k: torch.cat(v) for k, v in parts.items()}


@torch.no_grad()
def active_units_per_layer(model, images: torch.Tensor, threshold: float = 0.01, *, n: int = 16,
                           seed: int = 0) -> tuple[int, ...]:
    """Burda et al.'s active units of each stochastic layer: units whose posterior mean ``E_q[z_u|x]`` varies over
    the images with variance above ``threshold``. A hierarchy gives ``(A_1, A_2)``, a flat model ``(A,)``."""
    _check_structured(model)
    model.eval()
    gen = torch.Generator().manual_seed(check_seed(seed))
    if hasattr(model, "posterior_means"):
        means = model.posterior_means(images, n, generator=gen)
    else:
        theta = model.local_params(images)
        eps = torch.randn(n, theta.shape[0], model.noise_dim, generator=gen, dtype=theta.dtype)
        means = (model.sample_local(theta, eps)[0].mean(0),)
    return tuple(int((m.double().var(0) > threshold).sum()) for m in means)


def _mc_elbo(model, x: torch.Tensor, theta: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """``mean_s [log p(x, z_s) - log q(z_s)]`` per image ``(B,)`` for the noise ``eps`` ``(S, B, E)``."""
    z, log_q = model.sample_local(theta, eps)
    return (model.log_joint(x, z) - log_q).mean(0)


def optimise_local_params(model, x: torch.Tensor, *, steps: int = 200, lr: float = 0.02, n_samples: int = 32,
                          seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each image's own ``theta`` by Adam on its fixed-noise ELBO, from the encoder's (learning rate decayed linearly
    to 0); returns ``(theta_enc, theta_best, gain)``, the best theta seen per image, never worse than the start."""
    gen = torch.Generator().manual_seed(check_seed(seed))
    eps = torch.randn(n_samples, x.shape[0], model.noise_dim, generator=gen, dtype=x.dtype).to(x.device)  # (S, B, E)
    with torch.no_grad():
        theta0 = model.local_params(x)
        best_value = _mc_elbo(model, x, theta0, eps)
    start_value = best_value.clone()
    best = theta0.clone()
    theta = theta0.clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: max(0.0, 1 - t / max(steps, 1)))
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for step in range(steps + 1):
            value = _mc_elbo(model, x, theta, eps)  # (B,)
            with torch.no_grad():
                better = torch.isfinite(value) & (value > best_value)
                best_value = torch.where(better, value, best_value)
                best[better] = theta.detach()[better]
            if step == steps:
                break
            opt.zero_grad(set_to_none=True)
            (-value.sum()).backward()
            opt.step()
            sched.step()
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
    return theta0, best, best_value - start_value


def structured_gap_split(model, x: torch.Tensor, *, steps: int = 200, lr: float = 0.02, n_samples: int = 32,
                         k: int = 1000, eval_samples: int = 500, seed: int = 0) -> GapSplit:
    """Notebook 08's split of ``log p(x) - ELBO(q_enc)`` for each binary image of ``x`` (see the module docstring),
    as a :class:`vae_course.evaluation.GapSplit` (per image ``(B,)``, ``.summary()`` gives means and s.e.)."""
    _check_structured(model)
    _check_binary(x)
    model.eval()
    x = model._flat(x)  # (B, 784) in the model's dtype
    theta0, best, _ = optimise_local_params(model, x, steps=steps, lr=lr, n_samples=n_samples, seed=seed)
    gen = torch.Generator().manual_seed(check_seed(seed) + 1)
    with torch.no_grad():
        def fresh_elbo(theta):
            total = torch.zeros(x.shape[0], dtype=torch.float64)
            for c in range(0, eval_samples, 100):
                eps = torch.randn(min(100, eval_samples - c), x.shape[0], model.noise_dim, generator=gen,
                                  dtype=x.dtype)
                total += _mc_elbo(model, x, theta, eps).double() * eps.shape[0]
            return total / eval_samples

        enc, opt = fresh_elbo(theta0), fresh_elbo(best)
        log_w = model.log_weights(x, k, generator=gen, theta=best).double()  # (k, B)
        log_px = torch.logsumexp(log_w, 0) - math.log(k)
    return GapSplit(log_px, enc, opt, k)
