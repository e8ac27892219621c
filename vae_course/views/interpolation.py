"""The interpolation explorer: walk the straight line between two test images' codes with one slider ``t``.

Used by notebook 06. Its static twin is :func:`vae_course.views.show_strip` of decoded ``interpolate`` codes.
"""
from __future__ import annotations

import time

import torch

from ..evaluation.latent_space import Plane, axis_plane, check_model, encode_means, interpolate
from .base import (_CourseIntBox, _CourseSlider, _View, _check_images_labels, _check_plane, _page_decoder, _page_digit,
                   _window)
from .png import ScatterCanvas, _check_scale, digit_png


class InterpolationExplorer(_View):
    """Walk from image A's posterior mean to image B's; see :func:`interpolation_explorer`.

    Attributes:
        t: ``ipywidgets.FloatSlider`` in [0, 1]; start, end: ``ipywidgets.BoundedIntText`` test-image indices.
        image: the decoded mean at ``z(t)``; scatter: the path and the marker (``None`` without a plane for D > 2).
        live: the decoded mean as the page draws it by itself (:mod:`vae_course.views.live`; ``None`` with
            ``live=False`` or a decoder the page cannot run); it stands in the tree for ``image``, which the kernel
            still draws. The path and the marker stay the kernel's.
    """

    def __init__(self, model, images, labels=None, *, start: int = 0, end: int = 1, plane: Plane | None = None,
                 limit: float | None = None, scale: int = 5, css_class: str = "vae-interpolation",
                 live: bool | None = None):
        import ipywidgets as W

        super().__init__()
        check_model(model)
        if images is None:
            raise ValueError("interpolation_explorer needs the images to choose the two endpoints from.")
        _check_images_labels(images, labels)
        self.model = model.eval()
        n = images.shape[0]
        for name, v in (("start", start), ("end", end)):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < n:
                raise ValueError(f"{name}={v!r} must be a whole number between 0 and {n - 1}.")
        d = model.latent_dim
        self.plane = _check_plane(plane, d, need2=True) if plane is not None else (axis_plane(2) if d == 2 else None)
        if limit is not None:
            _window(limit, None)  # a bad limit fails before the encoder runs
        self.images, self.labels, self.scale = images, labels, _check_scale(scale)
        self.mus, _ = encode_means(model, images)  # (N, D)
        # default: the window that holds 99% of the means, as latent_explorer's (3 when there is no scatter)
        self.limit = _window(limit, None if self.plane is None else self.plane.project(self.mus))
        self.canvas = None
        if self.plane is not None:
            names = ("$z_1$", "$z_2$") if plane is None else ("$c_1$", "$c_2$")
            self.canvas = ScatterCanvas(self.plane.project(self.mus), labels, self.limit,
                                        title="the straight path from A to B", axis_labels=names)
        self.t = _CourseSlider(value=0.0, min=0.0, max=1.0, step=0.02, description="t",
                               continuous_update=True, readout_format=".2f", layout=W.Layout(width="420px"))
        self.start = _CourseIntBox(value=start, min=0, max=n - 1, description="image A",
                                      layout=W.Layout(width="180px"))
        self.end = _CourseIntBox(value=end, min=0, max=n - 1, description="image B",
                                    layout=W.Layout(width="180px"))
        size = 28 * self.scale
        self.image_a = W.Image(format="png", width=size, height=size)
        self.image_b = W.Image(format="png", width=size, height=size)
        self.image = W.Image(format="png", width=size, height=size)
        self.scatter = None if self.canvas is None else W.Image(format="png", width=self.canvas.width,
                                                                  height=self.canvas.height)
        self.scatter_view = None if self.canvas is None else self.canvas.layered_widget(self.scatter)
        self.live = None  # the digit as the page draws it by itself, z = mu_A + t (mu_B - mu_A)
        layers = _page_decoder(model, live)
        if layers is not None:
            self.live = _page_digit(layers, self.image, [self.t], [0.0] * d, [[0.0] * d], self.scale,
                                    f"{css_class}-image")
        self.t.observe(lambda change: self.refresh(), names="value")  # a NaN t keeps the last finite one
        self.start.observe(lambda change: self._endpoints_changed(), names="value")
        self.end.observe(lambda change: self._endpoints_changed(), names="value")
        row = [W.VBox([W.HTML("<b>A</b>"), self.image_a]),
               W.VBox([W.HTML("<b>decoded z(t)</b>"), self.live or self.image]),
               W.VBox([W.HTML("<b>B</b>"), self.image_b])]
        if self.scatter is not None:
            row.append(self.scatter_view)
        self.widget = W.VBox([W.HBox([self.start, self.end]), self.t, W.HBox(row)])
        self.widget.add_class(css_class)
        self._endpoints_changed()

    @property
    def z0(self) -> torch.Tensor:
        return self.mus[self.start.value]

    @property
    def z1(self) -> torch.Tensor:
        return self.mus[self.end.value]

    @property
    def z(self) -> torch.Tensor:
        """The code at the current ``t``: ``interpolate(z0, z1, t)``, ``(D,)``."""
        return interpolate(self.z0, self.z1, self.t.value)

    def _endpoints_changed(self) -> None:
        self.image_a.value = digit_png(self.images[self.start.value], self.scale)
        self.image_b.value = digit_png(self.images[self.end.value], self.scale)
        if self.canvas is not None:
            path = self.plane.project(torch.stack([self.z0, self.z1]))  # (2, 2)
            self._path = path.numpy()
        if self.live is not None:  # the page's line: z = origin + t * basis
            with self.live.hold_sync():
                self.live.origin = self.z0.tolist()
                self.live.basis = [(self.z1 - self.z0).tolist()]
        self.refresh()

    def refresh(self) -> None:
        start = time.perf_counter()
        z = self.z
        with torch.inference_mode():
            dev = next(self.model.parameters()).device
            x = self.model.decode(z.unsqueeze(0).to(dev))  # (1, 1, 28, 28)
        self.image.value = digit_png(x, self.scale)
        if self.canvas is not None:
            pos = self.plane.project(z.unsqueeze(0))[0].tolist()
            self.scatter.value = self.canvas.render(marker=pos, lines=[(self._path, False)],
                                                    crosses=[self._path[0], self._path[1]])
        self.timings.append(time.perf_counter() - start)


def interpolation_explorer(model, images, labels=None, **kwargs) -> InterpolationExplorer:
    """Two test images A and B and one slider ``t``: the decoded mean of ``(1 - t) mu_A + t mu_B``.

    Without ``limit`` the scatter spans the same window as :func:`latent_explorer`'s (99% of the images' posterior
    means inside; 3 when there is no scatter).
    """
    return InterpolationExplorer(model, images, labels, **kwargs)
