"""What the views share: the :class:`_View` base (display, ``close``, update timings) and the argument checks.

Used by every view in :mod:`vae_course.widgets` (notebooks 02, 06, 10).

Every view is a plain Python object that *displays as* its ipywidgets container (``.widget``), so a notebook cell
that ends with it shows the widget. Each update appends its duration to ``timings``; :meth:`_View.latency_ms`
summarizes them (``benchmarks/bench_explorer.py``).
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np
import torch

from ..latent_space import Plane


def _check_limit(limit) -> float:
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not math.isfinite(limit) or limit <= 0:
        raise ValueError(f"limit={limit!r} must be a positive number (the sliders span [-limit, limit]).")
    return float(limit)


def _check_images_labels(images, labels, name="images"):
    if images is None:
        if labels is not None:
            raise ValueError("labels were given without images: pass the images they belong to as well.")
        return
    if not isinstance(images, torch.Tensor) or not images.is_floating_point() or images.ndim < 2 \
            or images.shape[0] == 0 or images[0].numel() != 784:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{name} must be float MNIST images shaped (N, 1, 28, 28) or (N, 784), got {shape}.")
    if labels is not None and (not isinstance(labels, torch.Tensor) or labels.ndim != 1
                               or labels.shape[0] != images.shape[0]):
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must be a 1-D tensor with one label per image ({images.shape[0]}), got {shape}.")


def _check_plane(plane: Plane, latent_dim: int, need2: bool = False) -> Plane:
    if not isinstance(plane, Plane):
        raise TypeError(f"plane must be a vae_course.latent_space.Plane (from axis_plane or pca_plane), "
                        f"got {type(plane).__name__}.")
    if plane.basis.ndim != 2 or plane.basis.shape[1] != latent_dim or plane.origin.shape != (latent_dim,):
        raise ValueError(f"plane lives in {plane.basis.shape[-1]}-D but the model's latent space is "
                         f"{latent_dim}-D.")
    if need2 and plane.basis.shape[0] != 2:
        raise ValueError(f"this view needs a 2-D plane, got {plane.basis.shape[0]} directions.")
    return plane


def _snapped_back(change) -> bool:
    """If a slider was given NaN (or +-inf), put it back to its last finite value and return True.

    A NaN code would decode to a NaN image; the browser never sends one, but ``slider.value = x / 0`` can.
    """
    new = change["new"]
    if not isinstance(new, float) or math.isfinite(new):
        return False
    old = change["old"]
    change["owner"].value = old if isinstance(old, (int, float)) and math.isfinite(old) else 0.0
    return True


def _snap(value: float, slider) -> float:
    """``value`` clamped to the slider's range and rounded to its step grid ``min + k * step`` (as the browser does)."""
    v = min(max(float(value), slider.min), slider.max)
    k = round((v - slider.min) / slider.step)
    return round(min(slider.min + k * slider.step, slider.max), 10)


class _View:
    """Shared by the views: display as ``self.widget``; remember the time of the last updates."""

    widget = None

    def __init__(self):
        self.timings: deque[float] = deque(maxlen=2000)  # seconds per update, newest last

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def close(self) -> None:
        """Close every widget of this view (the kernel forgets them; a displayed view goes blank)."""
        stack = [self.widget]
        while stack:
            w = stack.pop()
            stack.extend(getattr(w, "children", ()))
            for part in (getattr(w, "layout", None), getattr(w, "style", None), w):
                if part is not None:
                    part.close()

    def latency_ms(self) -> dict[str, float]:
        """p50 and p95 of the recorded update times in milliseconds (and how many there were)."""
        if not self.timings:
            return {"n": 0, "p50": float("nan"), "p95": float("nan")}
        ms = np.asarray(self.timings) * 1e3
        return {"n": int(ms.size), "p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95))}
