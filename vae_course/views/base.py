"""What the views share: the :class:`_View` base (display, ``close``, update timings) and the argument checks.

Used by every view in :mod:`vae_course.views` (notebooks 02, 06, 10).

Every view is a plain Python object that *displays as* its ipywidgets container (``.widget``), so a notebook cell
that ends with it shows the widget. Each update appends its duration to ``timings``; :meth:`_View.latency_ms`
summarizes them (``benchmarks/bench_explorer.py``).

The static twin: :meth:`_View.snapshot` is a picture (``IPython.display.Image``) of the view as it is now, drawn
from its widgets (:mod:`~vae_course.views.snapshot`). Display it right below the widget for readers on GitHub or
in exported HTML. The view's own display also carries that picture as an ``image/png`` fallback next to the widget
view: JupyterLab shows the live widget, and a renderer without the widget (or ``nbconvert`` without the stored
widget state) shows the picture.

The views' sliders, number boxes and choice buttons are ipywidgets' own with their values checked by the course
(``_CourseSlider``, ``_CourseIntSlider``, ``_CourseIntBox``, ``_CourseChoice``): a value set from code that is not
a number (``'abc'``, ``None``) or not one of the options is one sentence from ``vae_course`` instead of a traitlets
error, and a NaN or infinite value keeps the last finite one, so nothing that JSON cannot carry reaches the page
(``jupyter_client`` refuses NaN while it sends the widget's state, before any observer runs).
"""
from __future__ import annotations

import math
from collections import deque

import ipywidgets as W
import numpy as np
import torch
import traitlets

from ..evaluation.latent_space import Plane
from ..objectives.losses import check_unit_interval


PRIOR_LIMIT = 3.0  # the window without images: [-3, 3] per coordinate, 99.7% of N(0, 1)
WINDOW_SHARE = 0.99  # a default window holds at least this share of the images' posterior means
WINDOW_MULTIPLE = 0.5  # ... and is a multiple of this (so on the 0.05 step grid of the sliders)


def covering_limit(coords: torch.Tensor, share: float = WINDOW_SHARE, multiple: float = WINDOW_MULTIPLE,
                   floor: float = PRIOR_LIMIT) -> float:
    """The views' default window: the smallest ``L`` whose box ``[-L, L]^k`` holds ``share`` of the rows of ``coords``.

    ``coords`` is ``(N, k)``, e.g. the slider coordinates of the test images' posterior means; a row is inside when
    every one of its ``k`` coordinates is. ``L`` is rounded up to a multiple of ``multiple`` and is at least ``floor``
    (the prior's ``[-3, 3]``: the codes need not fill the prior, but the ``random z`` button draws from it).
    """
    coords = torch.as_tensor(coords)
    if coords.ndim != 2 or coords.shape[0] == 0 or coords.shape[1] == 0:
        raise ValueError(f"coords must be a non-empty (N, k) tensor, got shape {tuple(coords.shape)}.")
    if not torch.isfinite(coords).all():
        raise ValueError("coords must be finite: a NaN or infinite posterior mean has no window.")
    if isinstance(share, bool) or not 0 < share <= 1:
        raise ValueError(f"share={share!r} must be in (0, 1].")
    if isinstance(multiple, bool) or not (isinstance(multiple, (int, float)) and multiple > 0):
        raise ValueError(f"multiple={multiple!r} must be a positive number.")
    if isinstance(floor, bool) or not (isinstance(floor, (int, float)) and math.isfinite(floor) and floor >= 0):
        raise ValueError(f"floor={floor!r} must be a number >= 0.")
    reach = coords.detach().abs().amax(dim=1).double().sort().values  # (N,) each row's largest |coordinate|
    need = math.ceil(share * reach.shape[0] - 1e-9)  # rows that must be inside
    r = reach[need - 1].item()  # the need-th smallest reach: a box of half-width r holds `need` rows
    limit = math.ceil(r / multiple) * multiple  # rounded up to the multiple
    while limit < r:  # (guard against rounding in r / multiple)
        limit += multiple
    return float(max(floor, limit, multiple))  # never 0, even when every code is 0


def _check_limit(limit) -> float:
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not math.isfinite(limit) or limit <= 0:
        raise ValueError(f"limit={limit!r} must be a positive number (the sliders span [-limit, limit]).")
    return float(limit)


def _window(limit, coords: torch.Tensor | None) -> float:
    """``limit`` checked; ``None`` means :func:`covering_limit` of ``coords`` (``PRIOR_LIMIT`` without them)."""
    if limit is None:
        return PRIOR_LIMIT if coords is None else covering_limit(coords)
    return _check_limit(limit)


def _check_images_labels(images, labels, name="images"):
    if images is None:
        if labels is not None:
            raise ValueError("labels were given without images: pass the images they belong to as well.")
        return
    if isinstance(images, torch.Tensor) and not images.is_floating_point():
        raise TypeError(f"{name} have dtype {images.dtype}; expected float images in [0, 1] (divide uint8 by 255).")
    if not isinstance(images, torch.Tensor) or images.ndim < 2 \
            or images.shape[0] == 0 or images[0].numel() != 784:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{name} must be float MNIST images shaped (N, 1, 28, 28) or (N, 784), got {shape}.")
    check_unit_interval(images, name)
    if labels is not None and (not isinstance(labels, torch.Tensor) or labels.ndim != 1
                               or labels.shape[0] != images.shape[0]):
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must be a 1-D tensor with one label per image ({images.shape[0]}), got {shape}.")


def _check_plane(plane: Plane, latent_dim: int, need2: bool = False) -> Plane:
    if not isinstance(plane, Plane):
        raise TypeError(f"plane must be a vae_course.evaluation.Plane (from axis_plane or pca_plane), "
                        f"got {type(plane).__name__}.")
    if plane.basis.ndim != 2 or plane.basis.shape[1] != latent_dim or plane.origin.shape != (latent_dim,):
        raise ValueError(f"plane lives in {plane.basis.shape[-1]}-D but the model's latent space is "
                         f"{latent_dim}-D.")
    if need2 and plane.basis.shape[0] != 2:
        raise ValueError(f"this view needs a 2-D plane, got {plane.basis.shape[0]} directions.")
    return plane


def _bad_value(widget, value, wants: str, example) -> TypeError:
    name = f"the control {widget.description!r}" if widget.description else "this control"
    return TypeError(f"{name} takes {wants}, got {value!r}: set its .value to such a value, e.g. {example!r}.")


class _Number(traitlets.CFloat):
    """A slider's float value: a number; NaN or +-inf keeps the last finite value; anything else is one sentence."""

    def validate(self, obj, value):
        try:
            number = float(value) if not isinstance(value, (str, bytes)) and value is not None else None
        except (TypeError, ValueError):
            number = None
        if number is None:
            raise _bad_value(obj, value, f"a number from {obj.min:g} to {obj.max:g}", obj.value)
        if not math.isfinite(number):
            return obj.value if math.isfinite(obj.value) else 0.0
        return super().validate(obj, number)


class _Whole(traitlets.CInt):
    """An integer control's value: a whole number; NaN or +-inf keeps the last value; anything else is one sentence."""

    def validate(self, obj, value):
        if isinstance(value, float) and not math.isfinite(value):
            return obj.value
        if isinstance(value, (str, bytes)) or value is None or (isinstance(value, float) and not value.is_integer()):
            raise _bad_value(obj, value, f"a whole number from {obj.min} to {obj.max}", obj.value)
        try:
            return super().validate(obj, int(value))
        except (TypeError, ValueError):
            raise _bad_value(obj, value, f"a whole number from {obj.min} to {obj.max}", obj.value) from None


def _shown_as_plain(cls):
    """The class prints as the ipywidgets class it extends (``FloatSlider(value=0.0, ...)``), as the notebooks'
    stored text shows it."""
    cls.__name__ = cls.__qualname__ = cls.__bases__[0].__name__
    return cls


@_shown_as_plain
class _CourseSlider(W.FloatSlider):
    value = _Number(0.0, help="Float value").tag(sync=True)


@_shown_as_plain
class _CourseIntSlider(W.IntSlider):
    value = _Whole(0, help="Int value").tag(sync=True)


@_shown_as_plain
class _CourseIntBox(W.BoundedIntText):
    value = _Whole(0, help="Int value").tag(sync=True)


@_shown_as_plain
class _CourseChoice(W.ToggleButtons):
    @traitlets.validate("value")
    def _validate_value(self, proposal):
        if proposal.value is None or proposal.value not in self.options:
            raise _bad_value(self, proposal.value, "one of " + ", ".join(repr(o) for o in self.options), self.value)
        return super()._validate_value(proposal)


def _snap(value: float, slider) -> float:
    """``value`` clamped to the slider's range and rounded to its step grid ``min + k * step`` (as the browser does)."""
    v = min(max(float(value), slider.min), slider.max)
    k = round((v - slider.min) / slider.step)
    return round(min(slider.min + k * slider.step, slider.max), 10)


def _page_decoder(model, live):
    """The decoder's weights for a digit the page draws by itself (:func:`vae_course.views.browser_decoder`),
    or ``None`` for the kernel's images. ``live``: ``None`` (the page when it can), ``True`` (insist) or ``False``."""
    if live is not None and not isinstance(live, bool):
        raise ValueError(f"live={live!r} must be True, False or None (None: in the browser when it can).")
    if live is False:
        return None
    try:
        from .live import browser_decoder
    except ImportError as exc:  # anywidget missing: the kernel draws, as with live=False
        if live:
            raise ImportError(f"live=True draws in the page with anywidget, which is not installed ({exc}): "
                              f"pip install anywidget, or leave live out.") from None
        return None
    layers = browser_decoder(model)
    if live and layers is None:
        raise ValueError(f"live=True needs a decoder the browser can run (an MLP's fc3 -> relu -> fc4); "
                         f"{type(model).__name__}'s is not one: leave live out, and the kernel draws the image.")
    return layers


def _page_digit(layers, still, sliders, origin, basis, scale: int, canvas_class: str, sample_toggle=None,
                extra=()):
    """The digit the page draws: a :class:`~vae_course.views.LiveLayer` standing in for ``still``."""
    from .live import LiveLayer

    layer = LiveLayer(layers=layers, kind="digit", sliders=list(sliders), sample_toggle=sample_toggle, still=still,
                      origin=[float(v) for v in origin], basis=[[float(v) for v in row] for row in basis],
                      extra=[float(v) for v in extra], width=28 * scale, height=28 * scale,
                      canvas_class=canvas_class)
    layer.add_class("vae-live-digit")
    return layer


def _page_marker(canvas, scatter_view, still, sliders):
    """The ring the page draws over ``canvas`` at the first two slider values, in place of the kernel's marker layer
    ``still`` in ``scatter_view`` (the same grid cell: it shares ``still``'s layout)."""
    from .live import LiveLayer

    marker = LiveLayer(kind="marker", sliders=list(sliders[:2]), still=still, transform=canvas.pixel_transform(),
                       width=canvas.width, height=canvas.height, layout=still.layout)
    marker.add_class("vae-live-marker")
    scatter_view.children = tuple(marker if w is still else w for w in scatter_view.children)
    return marker


class _View:
    """Shared by the views: display as ``self.widget``; remember the time of the last updates."""

    widget = None

    def __init__(self):
        self.timings: deque[float] = deque(maxlen=2000)  # seconds per update, newest last

    def _repr_mimebundle_(self, **kwargs):
        import base64

        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, tuple):  # (data, metadata)
            bundle = bundle[0]
        bundle = dict(bundle)
        bundle["image/png"] = base64.b64encode(self.snapshot_png()).decode("ascii")  # the picture, where widgets die
        return bundle

    def _ipython_display_(self):
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)

    def snapshot_png(self) -> bytes:
        """PNG bytes of the view as it is now (see :meth:`snapshot`)."""
        from .snapshot import picture_png

        return picture_png(self.widget)

    def snapshot(self):
        """The static twin: an ``IPython.display.Image`` of the view as it is now (images, sliders and their values).

        End the cell after the widget's with it (or ``display(view.snapshot())`` in the same cell), so that readers
        where widgets are dead (GitHub, exported HTML) see the picture too.
        """
        from IPython.display import Image

        return Image(data=self.snapshot_png(), format="png")

    def close(self) -> None:
        """Close every widget of this view (the kernel forgets them; a displayed view goes blank)."""
        stack = [self.widget]
        while stack:
            w = stack.pop()
            stack.extend(getattr(w, "children", ()))
            if getattr(w, "still", None) is not None:  # a layer the page draws: the kernel's image behind it
                stack.append(w.still)
            for part in (getattr(w, "layout", None), getattr(w, "style", None), w):
                if part is not None:
                    part.close()

    def latency_ms(self) -> dict[str, float]:
        """p50 and p95 of the recorded update times in milliseconds (and how many there were)."""
        if not self.timings:
            return {"n": 0, "p50": float("nan"), "p95": float("nan")}
        ms = np.asarray(self.timings) * 1e3
        return {"n": int(ms.size), "p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95))}
