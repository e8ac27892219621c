"""The test ELBO of a given model: :func:`evaluate`, in nats per image, split into reconstruction and KL.

Used by notebooks 05-10, :func:`vae_course.training.fit` (its per-epoch test figures) and the measures of
:mod:`vae_course.evaluation.collapse`.
"""
from __future__ import annotations

from typing import Callable

import torch

from ..config import check_seed, get_device, isolated_rng
from ..objectives.checks import _as_flat_images, _as_terms, _check_labels, _check_model, _check_objective, _positive_int
from ..objectives.losses import ELBOTerms, images_checked, model_elbo

LossFn = Callable[..., ELBOTerms]


@torch.no_grad()
def evaluate(model, images: torch.Tensor, labels: torch.Tensor | None = None, *, batch_size: int = 1000,
             likelihood: str = "bernoulli", sigma: float | torch.Tensor = 1.0, seed: int = 0,
             device=None, loss_fn: LossFn | None = None) -> dict[str, float]:
    """Average ``recon``, ``kl`` and ``loss`` (= recon + KL, the negative ELBO) in nats per image over ``images``.

    The reparameterized sample uses its own seeded generator, so the same model gives the same figure every call.
    """
    _check_model(model)
    _positive_int("batch_size", batch_size)
    check_seed(seed)
    _check_objective(likelihood, sigma, loss_fn)
    dev = get_device(device) if device is not None else next(model.parameters()).device
    flat = _as_flat_images(images, "images", model)
    labels = _check_labels(labels, flat, "labels")
    return _evaluate(model, flat, labels, batch_size, likelihood, sigma, seed, dev, loss_fn)


def _evaluate(model, flat, labels, batch_size, likelihood, sigma, seed, dev, loss_fn) -> dict[str, float]:
    """:func:`evaluate` on checked, flat images."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(2, dtype=torch.float64)
    try:
        with isolated_rng(seed, dev), images_checked():
            for i in range(0, flat.shape[0], batch_size):
                xb = flat[i:i + batch_size].to(dev)
                yb = None if labels is None else labels[i:i + batch_size].to(dev)
                if loss_fn is not None:
                    terms = _as_terms(loss_fn(model, xb, yb))
                else:
                    terms = model_elbo(model, xb, yb, likelihood=likelihood, sigma=sigma)
                sums[0] += terms.recon.double().sum().item()
                sums[1] += terms.kl.double().sum().item()
    finally:
        model.train(was_training)
    recon, kl = (sums / flat.shape[0]).tolist()
    return {"loss": recon + kl, "recon": recon, "kl": kl}


