"""Argument checks shared by :func:`vae_course.training.fit` and :func:`vae_course.evaluation.evaluate`: one clear
sentence each.

Used by :mod:`vae_course.evaluation.scores` and :mod:`vae_course.training.fit_checks` (notebooks 05-11 and the CLI
reach them through ``fit`` and ``evaluate``). Every check runs once per call, before any data moves, and raises
``ValueError`` or ``TypeError`` with a message that names the argument and says how to fix it, never a traceback
from inside torch.
"""
from __future__ import annotations

import math
import numbers

import torch

from .losses import ELBOTerms, check_unit_interval


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a positive whole number.")
    return value


def _number_at_least_0(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}={value!r} must be a finite number >= 0.")
    return float(value)


def _check_model(model) -> None:
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "encode") or \
            not hasattr(getattr(model, "config", None), "input_dim"):
        raise TypeError(f"model must be a course VAE such as vae_course.models.VAE(), got {type(model).__name__}.")
    if next(model.parameters(), None) is None:
        raise TypeError(f"model ({type(model).__name__}) has no parameters to train or evaluate.")


def _as_flat_images(images, name: str, model) -> torch.Tensor:
    """``images`` flattened to ``(N, input_dim)``, after checking type, shape and that they lie in [0, 1]."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of images (e.g. from load_mnist), got {type(images).__name__}.")
    if not images.is_floating_point():
        raise TypeError(f"{name} has dtype {images.dtype}; expected float images in [0, 1] (divide uint8 by 255).")
    input_dim = model.config.input_dim
    if images.ndim < 2 or images.shape[0] == 0 or images[0].numel() != input_dim:
        raise ValueError(f"{name} has shape {tuple(images.shape)}; expected (N, 1, 28, 28) or (N, {input_dim}) "
                         f"with N > 0.")
    check_unit_interval(images, name)
    return images.reshape(images.shape[0], input_dim)


def _as_terms(terms) -> ELBOTerms:
    """An objective's result as float32 :class:`ELBOTerms`, or one clear ``TypeError``."""
    if not (isinstance(terms, tuple) and len(terms) == 3 and all(isinstance(t, torch.Tensor) for t in terms)):
        raise TypeError(f"the objective must return ELBOTerms(recon, kl, total) of per-image tensors, got "
                        f"{type(terms).__name__}.")
    return ELBOTerms(*(t.float() for t in terms))


def _check_labels(labels, images: torch.Tensor, name: str):
    if labels is None:
        return None
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"{name} must be a 1-D tensor with one label per image ({images.shape[0]}), got {shape}.")
    return labels


def _check_scoring_inputs(model, images, labels) -> None:
    """The images and labels a scoring pass over a model needs: a non-empty image tensor, one label per image, and
    labels when the model is conditional (``evaluation.collapse.posterior_params``, ``training.runs.per_image_elbo``)."""
    if not isinstance(images, torch.Tensor) or images.ndim < 2 or images.shape[0] == 0:
        raise ValueError("images must be a non-empty tensor of images shaped (N, 1, 28, 28) or (N, 784).")
    if labels is not None and (not isinstance(labels, torch.Tensor) or labels.shape[0] != images.shape[0]):
        raise ValueError(f"labels must be a tensor with one label per image ({images.shape[0]}), or None.")
    if getattr(model, "conditional", False) and labels is None:
        raise ValueError("this model is conditional: pass labels= (one label per image).")


def _check_prior_fits(prior, model) -> None:
    """One clear ``ValueError`` unless ``prior`` (an objective's, or None) lives in ``model``'s latent space: the same
    ``latent_dim``, and for a VampPrior the same model's encoder."""
    if prior is None:
        return
    name = type(prior).__name__
    if getattr(prior, "latent_dim", None) != model.config.latent_dim:
        raise ValueError(f"the objective's prior {name} has latent_dim={getattr(prior, 'latent_dim', None)} but the "
                         f"model's is {model.config.latent_dim}: build the prior with latent_dim="
                         f"{model.config.latent_dim}.")
    other = getattr(prior, "_model", None)
    if other is not None and other is not model:
        raise ValueError(f"the objective's prior {name} was built on another model: build it on the model you train, "
                         f"{name}(model, ...).")


_MAX_PASS_BYTES = 8 * 2**30  # the most memory one importance-weighted pass may ask for (8 GiB)


def _check_pass_bytes(samples: int, images: int, model, what: str) -> None:
    """One clear ``ValueError`` before allocating if ``samples`` x ``images`` decoder rows of float32 pixels (logits,
    their log-probabilities and the gradients') would pass ``_MAX_PASS_BYTES``."""
    need = 3 * 4 * samples * images * (model.config.input_dim + 3 * model.config.latent_dim)
    if need > _MAX_PASS_BYTES:
        raise ValueError(f"{what} would need about {need / 2**30:,.0f} GiB at once (more than "
                         f"{_MAX_PASS_BYTES // 2**30} GiB): use fewer importance samples, a smaller chunk or batch_size.")
