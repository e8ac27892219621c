"""The model registry: class name -> model class, so that a checkpoint can name the class it rebuilds.

Used by :mod:`vae_course.training.checkpoints` (notebooks 05, 06, 08, 10 and the CLI). Every family in :mod:`vae_course.models`
registers itself with :func:`register_model` when it is imported, and importing :mod:`vae_course.models` imports
every family, so ``checkpoints`` needs no model module of its own. A new family (a VQ-VAE, a learned prior) decorates
its class with ``@register_model`` and is imported in ``vae_course/models/__init__.py``.
"""
from __future__ import annotations

from .base import VAEBase

MODEL_CLASSES: dict[str, type[VAEBase]] = {}


def register_model(cls: type[VAEBase]) -> type[VAEBase]:
    """Make a model class loadable by :func:`vae_course.training.load_checkpoint` (it needs ``from_config``)."""
    MODEL_CLASSES[cls.__name__] = cls
    return cls
