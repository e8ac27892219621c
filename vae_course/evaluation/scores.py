"""The test ELBO of a given model: :func:`evaluate`, in nats per image, split into reconstruction and KL.

Used by notebooks 05-12, :func:`vae_course.training.fit` (its per-epoch test figures) and the measures of
:mod:`vae_course.evaluation.collapse`.
"""
from __future__ import annotations

import torch

from ..config import check_seed, get_device, isolated_rng
from ..objectives.checks import _as_flat_images, _as_terms, _check_labels, _check_model, _positive_int
from ..objectives.losses import images_checked
from ..objectives.objective import as_objective


@torch.no_grad()
def evaluate(model, images: torch.Tensor, labels: torch.Tensor | None = None, *, objective=None,
             batch_size: int = 1000, seed: int = 0, device=None) -> dict[str, float]:
    """Average ``recon``, ``kl`` and ``loss`` (= recon + KL, the negative ELBO) in nats per image over ``images``.

    ``objective``: what scores each batch, ``objective(model, x, y) -> ELBOTerms`` (default
    :class:`vae_course.objectives.ELBO` ``()``; e.g. ``ELBO(likelihood="gaussian")`` or ``IWAE(50)``); the model is in
    eval mode, so ``binarize="dynamic"`` does not binarize. The reparameterized sample uses its own seeded generator,
    so the same model gives the same figure every call.
    """
    _check_model(model)
    _positive_int("batch_size", batch_size)
    check_seed(seed)
    objective = as_objective(objective)
    dev = get_device(device) if device is not None else next(model.parameters()).device
    flat = _as_flat_images(images, "images", model)
    labels = _check_labels(labels, flat, "labels")
    return _evaluate(model, flat, labels, batch_size, objective, seed, dev)


def _evaluate(model, flat, labels, batch_size, objective, seed, dev) -> dict[str, float]:
    """:func:`evaluate` on checked, flat images."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(2, dtype=torch.float64)
    try:
        with isolated_rng(seed, dev), images_checked():
            for i in range(0, flat.shape[0], batch_size):
                xb = flat[i:i + batch_size].to(dev)
                yb = None if labels is None else labels[i:i + batch_size].to(dev)
                terms = _as_terms(objective(model, xb, yb))
                sums[0] += terms.recon.double().sum().item()
                sums[1] += terms.kl.double().sum().item()
    finally:
        model.train(was_training)
    recon, kl = (sums / flat.shape[0]).tolist()
    return {"loss": recon + kl, "recon": recon, "kl": kl}
