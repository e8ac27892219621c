"""Interactive views of a trained VAE's latent space, built from ipywidgets sliders and PNG images.

Used by notebook 06 and ``benchmarks/bench_explorer.py``. Each view has a static twin in :mod:`vae_course.viz`
(manifold grid, traversal strip, posterior ellipses) so the notebook still reads well where widgets are dead.

* :func:`latent_explorer` - one slider per latent coordinate; the decoded digit and the position of ``z`` on the
  scatter of test-set means follow the sliders.
* :func:`digit_encoder` - pick a test image: its posterior mean, 1- and 2-sigma ellipses and its reconstruction.
* :func:`interpolation_explorer` - walk the straight line between two test images' codes with one slider ``t``.

Every view is a plain Python object that *displays as* its ipywidgets container (``.widget``), so a notebook cell
that ends with it shows the widget. The container carries a CSS class (``vae-latent-explorer`` for the explorer)
and the decoded image ``vae-explorer-image``, which the browser test uses to find them.

Why it is fast (goal: one slider update, a decode plus two small PNG encodes, in at most 5 ms at the 95th
percentile on 2 CPU cores; measured by ``benchmarks/bench_explorer.py``):

* the decoder runs once per update on one code under ``torch.inference_mode``;
* the digit is encoded by PIL as an 8-bit grey PNG, upscaled by nearest neighbour (28 -> 196 px), never through a
  matplotlib figure;
* the scatter of test-set means is rendered by matplotlib **once** and shown as a fixed image; what moves (the
  marker, ellipses, a path) is drawn with ``PIL.ImageDraw`` on a transparent palette image of the same size that
  the browser stacks on top (both images sit in one CSS grid cell). That layer is almost empty, so its PNG is a few
  hundred bytes and several times cheaper to make than re-encoding the whole scatter (tens of kB) on every move.
"""
from __future__ import annotations

import io
import math
import time
from collections import deque

import numpy as np
import torch

from .latent_space import Plane, axis_plane, check_model, encode_means, interpolate, sigma_ellipse

DIGIT_SCALE = 7  # 28 px -> 196 px
SCATTER_INCHES = 3.4
SCATTER_DPI = 90
PNG_LEVEL = 1  # zlib level: fastest compression that still shrinks the bytes sent to the browser

# The palette of the marker layer: index 0 is transparent (the scatter shows through), the others are the ink.
_CLEAR, _BLACK, _RED, _WHITE, _BLUE = 0, 1, 2, 3, 4
_PALETTE = [0, 0, 0, 0, 0, 0, 214, 39, 40, 255, 255, 255, 31, 119, 180]


# ----------------------------------------------------------------------------------------------------------- PNGs
def digit_png(image: torch.Tensor, scale: int = DIGIT_SCALE) -> bytes:
    """One image ``(28, 28)``, ``(1, 28, 28)`` or ``(1, 1, 28, 28)`` with values in [0, 1] -> PNG bytes, ``scale`` x larger."""
    from PIL import Image

    if isinstance(image, torch.Tensor) and image.numel() == 784:
        image = image.reshape(28, 28)  # a flat (784,) image, as (N, 784) datasets give
    if not isinstance(image, torch.Tensor) or image.ndim < 2 or image.numel() != image.shape[-2] * image.shape[-1]:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"digit_png draws ONE image, shaped (28, 28), (1, 28, 28), (1, 1, 28, 28) or (784,); "
                         f"got {shape}.")
    x = image.detach().reshape(image.shape[-2], image.shape[-1])  # (28, 28)
    a = (x.clamp(0, 1).mul(255).round().to(torch.uint8)).cpu().numpy()  # (28, 28) uint8
    if scale > 1:
        a = a.repeat(scale, axis=0).repeat(scale, axis=1)  # (28s, 28s) nearest-neighbour upscaling
    buf = io.BytesIO()
    Image.fromarray(a, mode="L").save(buf, format="PNG", compress_level=PNG_LEVEL)
    return buf.getvalue()


class ScatterCanvas:
    """The scatter of latent points, rendered once, plus a transparent layer for what moves on top of it.

    ``background_png`` is the matplotlib scatter (made once). :meth:`render` draws the marker (and ellipses, a path)
    on an otherwise transparent palette image of the same size and returns its PNG bytes: a few hundred bytes, made
    in a fraction of a millisecond. :meth:`layered_widget` stacks the two ``ipywidgets.Image``s in one grid cell, so
    the browser shows the marker layer over the scatter.

    Args:
        points: ``(N, 2)`` coordinates, labels: ``(N,)`` digits (colours) or ``None``.
        limit: the square ``[-limit, limit]^2`` that is shown (markers outside are drawn on its edge).
    """

    def __init__(self, points: torch.Tensor, labels=None, limit: float = 3.0, title: str = "where z sits",
                 axis_labels=("$z_1$", "$z_2$"), inches: float = SCATTER_INCHES, dpi: int = SCATTER_DPI):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from PIL import Image

        from .viz import latent_scatter

        fig = Figure(figsize=(inches * 1.18, inches), dpi=dpi)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.13, 0.12, 0.68, 0.8))  # fixed layout: no tight_layout pass (it costs a second draw)
        latent_scatter(points, labels, ax=ax, title=title, limit=limit, s=3, alpha=0.45, colorbar=False,
                       axis_labels=axis_labels)
        if labels is not None:
            cb = fig.colorbar(ax.collections[0], cax=fig.add_axes((0.84, 0.12, 0.03, 0.8)), ticks=range(10))
            cb.solids.set_alpha(1)
            cb.ax.tick_params(labelsize=7)
            cb.set_label("digit", fontsize=8)
        ax.title.set_fontsize(9)
        ax.tick_params(labelsize=7)
        fig.canvas.draw()
        rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()  # (H, W, 3)
        self.height, self.width = rgb.shape[:2]
        # data -> pixel: matplotlib's display coordinates have y pointing up from the bottom-left corner.
        (x0, y0), (x1, y1) = ax.transData.transform([[0.0, 0.0], [1.0, 1.0]])
        self._sx, self._ox = x1 - x0, x0
        self._sy, self._oy = -(y1 - y0), self.height - y0
        box = ax.get_window_extent()
        self._box = (box.x0, self.height - box.y1, box.x1, self.height - box.y0)  # left, top, right, bottom (px)
        # 128 colours are plenty for a scatter of 10 classes and make the stored PNG several times smaller.
        palette = Image.fromarray(rgb).quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        self.background = palette.convert("RGB")
        buf = io.BytesIO()
        palette.save(buf, format="PNG", optimize=True)
        self.background_png = buf.getvalue()
        self._empty = Image.new("P", (self.width, self.height), _CLEAR)
        self._empty.putpalette(_PALETTE)
        self.limit = float(limit)

    def layered_widget(self, overlay):
        """An ``ipywidgets.GridBox`` with the scatter image and ``overlay`` (an ``ipywidgets.Image``) in one cell."""
        import ipywidgets as W

        size = dict(width=f"{self.width}px", height=f"{self.height}px")
        background = W.Image(value=self.background_png, format="png", width=self.width, height=self.height,
                             layout=W.Layout(grid_area="1 / 1 / 2 / 2", **size))
        overlay.layout.grid_area = "1 / 1 / 2 / 2"  # the same cell; the later child is drawn on top
        overlay.layout.width, overlay.layout.height = size["width"], size["height"]
        return W.GridBox([background, overlay], layout=W.Layout(grid_template_columns=size["width"],
                                                                 grid_template_rows=size["height"]))

    def composite(self, overlay_png: bytes):
        """The scatter with a rendered marker layer on top, as one RGB ``PIL.Image`` (for tests and static figures)."""
        from PIL import Image

        layer = Image.open(io.BytesIO(overlay_png)).convert("RGBA")
        out = self.background.convert("RGBA")
        out.alpha_composite(layer)
        return out.convert("RGB")

    def to_pixels(self, xy) -> np.ndarray:
        """Data coordinates ``(..., 2)`` -> pixel coordinates ``(..., 2)``, clamped to the plot area."""
        xy = np.asarray(xy, dtype=np.float64)
        px = np.empty_like(xy)
        px[..., 0] = np.clip(self._ox + self._sx * xy[..., 0], self._box[0], self._box[2])
        px[..., 1] = np.clip(self._oy + self._sy * xy[..., 1], self._box[1], self._box[3])
        return px

    def render(self, marker=None, lines=(), crosses=(), ring: bool = True) -> bytes:
        """PNG bytes of the marker layer: a ``marker`` at ``(x, y)`` (a ring, or a small dot with ``ring=False``),
        polylines ``[(points (n, 2), dashed)]`` and small crosses ``[(x, y)]``, transparent everywhere else."""
        from PIL import ImageDraw

        img = self._empty.copy()
        draw = ImageDraw.Draw(img)
        for pts, dashed in lines:
            px = self.to_pixels(pts)
            seq = [tuple(p) for p in px.tolist()]
            if dashed:
                for a, b in zip(seq[0::2], seq[1::2]):
                    draw.line([a, b], fill=_BLACK, width=1)
            else:
                draw.line(seq, fill=_BLACK, width=2)
        for xy in crosses:
            cx, cy = self.to_pixels(xy).tolist()
            draw.line([(cx - 5, cy - 5), (cx + 5, cy + 5)], fill=_BLUE, width=2)
            draw.line([(cx - 5, cy + 5), (cx + 5, cy - 5)], fill=_BLUE, width=2)
        if marker is not None:
            cx, cy = self.to_pixels(marker).tolist()
            if ring:  # black ring with a white halo: visible on every digit's colour
                draw.ellipse((cx - 8, cy - 8, cx + 8, cy + 8), outline=_WHITE, width=5)
                draw.ellipse((cx - 7, cy - 7, cx + 7, cy + 7), outline=_BLACK, width=3)
            else:
                draw.ellipse((cx - 3, cy - 3, cx + 3, cy + 3), fill=_WHITE)
                draw.ellipse((cx - 2, cy - 2, cx + 2, cy + 2), fill=_BLACK)
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=PNG_LEVEL, transparency=_CLEAR)
        return buf.getvalue()


# -------------------------------------------------------------------------------------------------------- helpers
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


# ------------------------------------------------------------------------------------------------ latent explorer
class LatentExplorer(_View):
    """Sliders for the coordinates of ``z = plane.origin + coords @ plane.basis``; see :func:`latent_explorer`.

    Attributes:
        sliders: one ``ipywidgets.FloatSlider`` per coordinate (the first is the first latent axis / direction).
        image: ``ipywidgets.Image`` with the decoded digit (PNG bytes), CSS class ``vae-explorer-image``.
        scatter: ``ipywidgets.Image`` with the marker at ``z``, a transparent layer over the scatter of test-set means
            (``None`` without images); ``scatter_view`` is the two stacked; ``canvas.composite(scatter.value)``
            gives the picture as one image.
        widget: the ``ipywidgets.HBox`` that is displayed (CSS class ``vae-latent-explorer``).
    """

    def __init__(self, model, images=None, labels=None, *, plane: Plane | None = None, limit: float = 3.0,
                 step: float = 0.05, scale: int = DIGIT_SCALE, css_class: str = "vae-latent-explorer",
                 image_class: str | None = None, names=None, title: str | None = None):
        import ipywidgets as W

        super().__init__()
        check_model(model)
        self.model = model.eval()
        self.limit = _check_limit(limit)
        if not (isinstance(step, (int, float)) and 0 < step <= self.limit):
            raise ValueError(f"step={step!r} must be a positive number no larger than limit={self.limit}.")
        _check_images_labels(images, labels)
        d = model.latent_dim
        self.plane = _check_plane(plane, d) if plane is not None else axis_plane(d, range(d))  # a slider per dim
        k = self.plane.basis.shape[0]
        if names is None:
            names = [f"z{i + 1}" for i in range(k)] if plane is None else [f"c{i + 1}" for i in range(k)]
        if len(names) != k:
            raise ValueError(f"names has {len(names)} entries for {k} sliders.")
        self.scale = int(scale)
        self._device = next(model.parameters()).device
        self._origin = self.plane.origin.float().to(self._device)  # (D,)
        self._basis = self.plane.basis.float().to(self._device)  # (k, D)
        self._hold = False

        self.sliders = [W.FloatSlider(value=0.0, min=-self.limit, max=self.limit, step=step, description=name,
                                      continuous_update=True, readout_format=".2f",
                                      layout=W.Layout(width="300px"))
                        for name in names]
        self.image = W.Image(format="png", width=28 * self.scale, height=28 * self.scale)
        self.image.add_class(image_class or ("vae-explorer-image" if css_class == "vae-latent-explorer"
                                             else f"{css_class}-image"))
        self.canvas = None
        self.scatter = self.scatter_view = None
        if images is not None and k >= 2:
            mu, _ = encode_means(model, images)  # (N, D)
            coords = self.plane.project(mu)[:, :2]  # (N, 2)
            axis = tuple(f"${n[0]}_{{{n[1:]}}}$" if n[1:].isdigit() else n for n in names[:2])
            self.canvas = ScatterCanvas(coords, labels, self.limit, title=title or "test-set means, and z (ring)",
                                        axis_labels=axis)
            self.scatter = W.Image(format="png", width=self.canvas.width, height=self.canvas.height)
            self.scatter_view = self.canvas.layered_widget(self.scatter)
        self.reset_button = W.Button(description="reset", tooltip="put every slider back to 0",
                                     layout=W.Layout(width="90px"))
        self.random_button = W.Button(description="random z", tooltip="draw the coordinates from N(0, I)",
                                      layout=W.Layout(width="90px"))
        self.reset_button.on_click(lambda _: self.set_coords(torch.zeros(k)))
        self._gen = torch.Generator().manual_seed(0)
        self.random_button.on_click(lambda _: self.set_coords(torch.randn(k, generator=self._gen)))
        for s in self.sliders:
            s.observe(self._on_change, names="value")
        left = W.VBox([W.HTML("<b>latent coordinates</b>"), *self.sliders,
                       W.HBox([self.reset_button, self.random_button])])
        parts = [left, W.VBox([W.HTML("<b>decoded mean of p(x|z)</b>"), self.image])]
        if self.scatter is not None:
            parts.append(self.scatter_view)
        self.widget = W.HBox(parts)
        self.widget.add_class(css_class)
        self.refresh()

    # -- state
    @property
    def coords(self) -> torch.Tensor:
        """The slider values ``(k,)``."""
        return torch.tensor([s.value for s in self.sliders], dtype=torch.float32)

    @property
    def z(self) -> torch.Tensor:
        """The latent code the sliders describe, ``(D,)`` on the CPU."""
        return self.plane.lift(self.coords.unsqueeze(0))[0]

    def set_coords(self, coords) -> None:
        """Move all sliders at once and redraw once. Values are clamped to the range and rounded to the step.

        Why round: the browser's slider snaps every value to its step and, if that changed the value, sends the
        snapped value back to the kernel. A value already on the step grid is shown exactly and sends nothing back.
        """
        values = torch.as_tensor(coords, dtype=torch.float32).reshape(-1)
        if values.shape[0] != len(self.sliders):
            raise ValueError(f"expected {len(self.sliders)} coordinates, got {values.shape[0]}.")
        if not torch.isfinite(values).all():
            raise ValueError(f"coordinates must be finite numbers, got {values.tolist()}.")
        self._hold = True
        try:
            for s, v in zip(self.sliders, values.tolist()):
                s.value = _snap(v, s)
        finally:
            self._hold = False
        self.refresh()

    def set_z(self, z: torch.Tensor) -> None:
        """Move the sliders to the plane coordinates of the latent code ``z`` ``(D,)``."""
        z = torch.as_tensor(z, dtype=torch.float32).reshape(-1)
        if z.shape[0] != self.model.latent_dim:
            raise ValueError(f"z has {z.shape[0]} entries, the model's latent space is {self.model.latent_dim}-D.")
        self.set_coords(self.plane.project(z.unsqueeze(0))[0])

    def show_image(self, image: torch.Tensor) -> torch.Tensor:
        """Encode one image and move the sliders to its posterior mean; returns that mean ``(D,)``."""
        with torch.inference_mode():
            mu, _ = self.model.encode(image.reshape(1, -1).to(self._device))
        self.set_z(mu[0].cpu())
        return mu[0].cpu()

    # -- drawing
    def _on_change(self, change) -> None:
        if not self._hold:
            self.refresh()

    def refresh(self) -> None:
        """Decode the current ``z`` and redraw the digit and the marker (what one slider update costs)."""
        start = time.perf_counter()
        coords = [s.value for s in self.sliders]
        with torch.inference_mode():
            c = torch.tensor(coords, dtype=torch.float32, device=self._device)  # (k,)
            z = self._origin + c @ self._basis  # (D,)
            x = self.model.decode(z.unsqueeze(0))  # (1, 1, 28, 28)
        self.image.value = digit_png(x, self.scale)
        if self.canvas is not None:
            self.scatter.value = self.canvas.render(marker=coords[:2])
        self.timings.append(time.perf_counter() - start)


def latent_explorer(model, images=None, labels=None, **kwargs) -> LatentExplorer:
    """The latent-space explorer: one slider per latent coordinate, the decoded digit, and z on the scatter.

    Args:
        model: a trained course VAE (``vae_course.models.VAE`` or ``ConvVAE``).
        images, labels: test images ``(N, 1, 28, 28)`` and their digits; their posterior means form the scatter
            (leave out for sliders and digit only).
        plane: which coordinates the sliders move (:func:`vae_course.latent_space.pca_plane` or ``axis_plane``);
            default: every latent axis, one slider per latent dimension (the scatter shows the first two). For a
            large latent space pass a plane, e.g. ``pca_plane(mu, 2)`` or ``axis_plane(20, range(4))``.
        limit, step: slider range ``[-limit, limit]`` and step (the step of one arrow-key press).
        css_class: the container's CSS class (``vae-latent-explorer``; give a second explorer another one).

    Returns:
        a :class:`LatentExplorer`; end a cell with it to display it. ``.sliders``, ``.image`` and ``.scatter`` are
        the widgets; setting ``ex.sliders[0].value = 1.5`` redraws the image.
    """
    return LatentExplorer(model, images, labels, **kwargs)


# --------------------------------------------------------------------------------------------------- digit encoder
class DigitEncoder(_View):
    """Pick a test image; see :func:`digit_encoder`.

    Attributes:
        index: ``ipywidgets.IntSlider`` choosing the test image.
        original, reconstruction, scatter: ``ipywidgets.Image`` widgets.
        info: ``ipywidgets.HTML`` with the label, mu and sigma.
        mu, logvar: the chosen image's posterior parameters ``(D,)``; ``position`` its 2-D coordinates on the scatter.
    """

    def __init__(self, model, images, labels=None, *, index: int = 0, plane: Plane | None = None,
                 limit: float = 3.0, scale: int = 5, css_class: str = "vae-digit-encoder"):
        import ipywidgets as W

        super().__init__()
        check_model(model)
        if images is None:
            raise ValueError("digit_encoder needs the images to choose from (e.g. the test set).")
        _check_images_labels(images, labels)
        self.model = model.eval()
        d = model.latent_dim
        if plane is None and d != 2:
            raise ValueError(f"the model's latent space is {d}-D: pass plane=pca_plane(mu) (or axis_plane) to pick "
                             f"the 2-D slice the scatter shows.")
        self.plane = _check_plane(plane, d, need2=True) if plane is not None else axis_plane(2)
        self.limit = _check_limit(limit)
        n = images.shape[0]
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
            raise ValueError(f"index={index!r} must be a whole number between 0 and {n - 1}.")
        self.images, self.labels, self.scale = images, labels, int(scale)
        self.mus, self.logvars = encode_means(model, images)  # (N, D) each
        coords = self.plane.project(self.mus)  # (N, 2)
        names = ("$z_1$", "$z_2$") if plane is None else ("$c_1$", "$c_2$")
        self.canvas = ScatterCanvas(coords, labels, self.limit, title="posterior of the chosen image",
                                    axis_labels=names)
        self.index = W.IntSlider(value=index, min=0, max=n - 1, step=1, description="test image",
                                 continuous_update=True, layout=W.Layout(width="420px"))
        size = 28 * self.scale
        self.original = W.Image(format="png", width=size, height=size)
        self.reconstruction = W.Image(format="png", width=size, height=size)
        self.scatter = W.Image(format="png", width=self.canvas.width, height=self.canvas.height)
        self.scatter_view = self.canvas.layered_widget(self.scatter)
        self.info = W.HTML()
        self.index.observe(lambda change: self.refresh(), names="value")
        self.widget = W.VBox([
            self.index, self.info,
            W.HBox([W.VBox([W.HTML("<b>original x</b>"), self.original]),
                    W.VBox([W.HTML("<b>decoded mean at &mu;</b>"), self.reconstruction]), self.scatter_view]),
        ])
        self.widget.add_class(css_class)
        self.refresh()

    @property
    def mu(self) -> torch.Tensor:
        return self.mus[self.index.value]

    @property
    def logvar(self) -> torch.Tensor:
        return self.logvars[self.index.value]

    @property
    def position(self) -> torch.Tensor:
        """Where the marker is drawn: the chosen image's mean in the scatter's coordinates ``(2,)``."""
        return self.plane.project(self.mu.unsqueeze(0))[0]

    def refresh(self) -> None:
        start = time.perf_counter()
        i = self.index.value
        mu, logvar = self.mus[i], self.logvars[i]
        self.original.value = digit_png(self.images[i], self.scale)
        with torch.inference_mode():
            dev = next(self.model.parameters()).device
            x = self.model.decode(mu.unsqueeze(0).to(dev))  # (1, 1, 28, 28)
        self.reconstruction.value = digit_png(x, self.scale)
        rings = [(sigma_ellipse(mu, logvar, k, plane=self.plane, n=48).numpy(), k > 1) for k in (1.0, 2.0)]
        self.scatter.value = self.canvas.render(marker=self.position.tolist(), lines=rings, ring=False)
        sigma = logvar.mul(0.5).exp()
        shown = min(mu.shape[0], 4)

        def fmt(v: torch.Tensor) -> str:
            return ", ".join(f"{a:+.2f}" for a in v[:shown].tolist()) + (", ..." if v.shape[0] > shown else "")

        label = "" if self.labels is None else f"digit <b>{int(self.labels[i])}</b>, "
        self.info.value = (f"{label}&mu; = ({fmt(mu)}), &sigma; = ({fmt(sigma)}); ellipses: 1&sigma; (solid), "
                           f"2&sigma; (dashed)")
        self.timings.append(time.perf_counter() - start)


def digit_encoder(model, images, labels=None, **kwargs) -> DigitEncoder:
    """Choose a test image with a slider and see its posterior: mean, 1- and 2-sigma ellipses, reconstruction."""
    return DigitEncoder(model, images, labels, **kwargs)


# ----------------------------------------------------------------------------------------- interpolation explorer
class InterpolationExplorer(_View):
    """Walk from image A's posterior mean to image B's; see :func:`interpolation_explorer`.

    Attributes:
        t: ``ipywidgets.FloatSlider`` in [0, 1]; start, end: ``ipywidgets.BoundedIntText`` test-image indices.
        image: the decoded mean at ``z(t)``; scatter: the path and the marker (``None`` without a plane for D > 2).
    """

    def __init__(self, model, images, labels=None, *, start: int = 0, end: int = 1, plane: Plane | None = None,
                 limit: float = 3.0, scale: int = 5, css_class: str = "vae-interpolation"):
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
        self.limit = _check_limit(limit)
        self.images, self.labels, self.scale = images, labels, int(scale)
        self.mus, _ = encode_means(model, images)  # (N, D)
        self.canvas = None
        if self.plane is not None:
            names = ("$z_1$", "$z_2$") if plane is None else ("$c_1$", "$c_2$")
            self.canvas = ScatterCanvas(self.plane.project(self.mus), labels, self.limit,
                                        title="the straight path from A to B", axis_labels=names)
        self.t = W.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.02, description="t",
                               continuous_update=True, readout_format=".2f", layout=W.Layout(width="420px"))
        self.start = W.BoundedIntText(value=start, min=0, max=n - 1, description="image A",
                                      layout=W.Layout(width="180px"))
        self.end = W.BoundedIntText(value=end, min=0, max=n - 1, description="image B",
                                    layout=W.Layout(width="180px"))
        size = 28 * self.scale
        self.image_a = W.Image(format="png", width=size, height=size)
        self.image_b = W.Image(format="png", width=size, height=size)
        self.image = W.Image(format="png", width=size, height=size)
        self.scatter = None if self.canvas is None else W.Image(format="png", width=self.canvas.width,
                                                                  height=self.canvas.height)
        self.scatter_view = None if self.canvas is None else self.canvas.layered_widget(self.scatter)
        self.t.observe(lambda change: self.refresh(), names="value")
        self.start.observe(lambda change: self._endpoints_changed(), names="value")
        self.end.observe(lambda change: self._endpoints_changed(), names="value")
        row = [W.VBox([W.HTML("<b>A</b>"), self.image_a]),
               W.VBox([W.HTML("<b>decoded z(t)</b>"), self.image]),
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
    """Two test images A and B and one slider ``t``: the decoded mean of ``(1 - t) mu_A + t mu_B``."""
    return InterpolationExplorer(model, images, labels, **kwargs)
