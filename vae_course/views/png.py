"""The PNG helpers every view uses: one digit as PNG bytes, and the scatter with a transparent marker layer.

Used by every view in :mod:`vae_course.views` (notebooks 02, 06, 10) and ``benchmarks/bench_explorer.py``.

Why it is fast (goal: one slider update, a decode plus two small PNG encodes, in at most 5 ms at the 95th
percentile on 2 CPU cores; measured by ``benchmarks/bench_explorer.py``):

* the digit is encoded by PIL as an 8-bit grey PNG, upscaled by nearest neighbour (28 -> 196 px), never through a
  matplotlib figure;
* the scatter of test-set means is rendered by matplotlib **once** and shown as a fixed image; what moves (the
  marker, ellipses, a path) is drawn with ``PIL.ImageDraw`` on a transparent palette image of the same size that
  the browser stacks on top (both images sit in one CSS grid cell). That layer is almost empty, so its PNG is a few
  hundred bytes and several times cheaper to make than re-encoding the whole scatter (tens of kB) on every move.
"""
from __future__ import annotations

import io

import numpy as np
import torch

DIGIT_SCALE = 7  # 28 px -> 196 px
SCATTER_INCHES = 3.4
SCATTER_DPI = 90
PNG_LEVEL = 1  # zlib level: fastest compression that still shrinks the bytes sent to the browser

# The palette of the marker layer: index 0 is transparent (the scatter shows through), the others are the ink.
_CLEAR, _BLACK, _RED, _WHITE, _BLUE = 0, 1, 2, 3, 4
_PALETTE = [0, 0, 0, 0, 0, 0, 214, 39, 40, 255, 255, 255, 31, 119, 180]


MAX_SCALE = 32  # 28 px -> 896 px
_MAX_SIDE = 4096  # the largest picture digit_png draws, in pixels a side


def _check_scale(scale) -> int:
    """``scale`` if it is a whole number from 1 to ``MAX_SCALE``, else one clear ``ValueError``."""
    if isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= MAX_SCALE:
        raise ValueError(f"scale={scale!r} must be a whole number from 1 to {MAX_SCALE} (how many times larger the "
                         f"28-pixel digit is drawn).")
    return scale


def digit_png(image: torch.Tensor, scale: int = DIGIT_SCALE) -> bytes:
    """One image ``(28, 28)``, ``(1, 28, 28)`` or ``(1, 1, 28, 28)`` with values in [0, 1] -> PNG bytes, ``scale`` x larger."""
    from PIL import Image

    _check_scale(scale)
    if isinstance(image, torch.Tensor) and image.numel() == 784:
        image = image.reshape(28, 28)  # a flat (784,) image, as (N, 784) datasets give
    if not isinstance(image, torch.Tensor) or image.ndim < 2 or image.numel() != image.shape[-2] * image.shape[-1]:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"digit_png draws ONE image, shaped (28, 28), (1, 28, 28), (1, 1, 28, 28) or (784,); "
                         f"got {shape}.")
    if max(image.shape[-2], image.shape[-1]) * scale > _MAX_SIDE:
        raise ValueError(f"digit_png would draw a {image.shape[-2] * scale} x {image.shape[-1] * scale} picture; "
                         f"the largest is {_MAX_SIDE} pixels a side: pass a smaller image or scale.")
    x = image.detach().reshape(image.shape[-2], image.shape[-1])  # (28, 28)
    if not bool(torch.isfinite(x).all()):
        raise ValueError("digit_png got an image with NaN or infinite pixels, which would draw as black: check the "
                         "model's weights or the image's source.")
    a = (x.clamp(0, 1).mul(255).round().to(torch.uint8)).cpu().numpy()  # (28, 28) uint8
    if scale > 1:
        a = a.repeat(scale, axis=0).repeat(scale, axis=1)  # (28s, 28s) nearest-neighbour upscaling
    buf = io.BytesIO()
    Image.fromarray(a, mode="L").save(buf, format="PNG", compress_level=PNG_LEVEL)
    return buf.getvalue()


def digits_row(images: torch.Tensor, scale: int = 2, gap: int = 4) -> np.ndarray:
    """Images ``(n, 1, 28, 28)`` (or ``(n, 784)``) in [0, 1] -> one grey row ``(28 s, n 28 s + (n - 1) gap)`` uint8,
    white on black as :func:`digit_png` draws them, with white gaps between the digits."""
    _check_scale(scale)
    if not isinstance(images, torch.Tensor) or images.ndim < 2 or images.shape[0] == 0 or images[0].numel() != 784:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"digits_row draws a batch of images shaped (n, 1, 28, 28) or (n, 784), got {shape}.")
    a = images.detach().reshape(-1, 28, 28).clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()  # (n, 28, 28)
    a = a.repeat(scale, axis=1).repeat(scale, axis=2)  # (n, 28s, 28s)
    side = 28 * scale
    out = np.full((side, a.shape[0] * (side + gap) - gap), 255, dtype=np.uint8)
    for i, tile in enumerate(a):
        out[:, i * (side + gap):i * (side + gap) + side] = tile
    return out


def digits_row_png(images: torch.Tensor, scale: int = 2, gap: int = 4) -> bytes:
    """:func:`digits_row` as PNG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(digits_row(images, scale, gap), mode="L").save(buf, format="PNG", compress_level=PNG_LEVEL)
    return buf.getvalue()


class ScatterCanvas:
    """The scatter of latent points, rendered once, plus a transparent layer for what moves on top of it.

    ``background_png`` is the matplotlib scatter (made once). :meth:`render` draws the marker (and ellipses, a path)
    on an otherwise transparent palette image of the same size and returns its PNG bytes: a few hundred bytes, made
    in a fraction of a millisecond. :meth:`layered_widget` stacks the two ``ipywidgets.Image``s in one grid cell, so
    the browser shows the marker layer over the scatter.

    Args:
        points: ``(N, 2)`` coordinates (``None``: empty axes, to paint points on with :meth:`paint_points`),
            labels: ``(N,)`` digits (colours) or ``None``.
        digit_colorbar: draw the digit colour bar (default: when there are labels).
        limit: the square ``[-limit, limit]^2`` that is shown (markers outside are drawn on its edge).
    """

    def __init__(self, points: torch.Tensor | None, labels=None, limit: float = 3.0, title: str = "where z sits",
                 axis_labels=("$z_1$", "$z_2$"), inches: float = SCATTER_INCHES, dpi: int = SCATTER_DPI,
                 digit_colorbar: bool | None = None):
        from PIL import Image

        from .viz import latent_scatter

        self.limit = float(limit)
        self._style = (title, axis_labels, inches, dpi)
        self.digit_colorbar = labels is not None if digit_colorbar is None else bool(digit_colorbar)
        fig, ax = self._figure()
        if points is not None:  # None: empty axes, for views that paint their own points (the training monitor)
            latent_scatter(points, labels, ax=ax, title=title, limit=limit, s=3, alpha=0.45, colorbar=False,
                           axis_labels=axis_labels)
        self._finish(fig, ax)
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
        self.background_widget = None  # the ipywidgets.Image under the marker layer, once layered_widget made it
        self._empty = Image.new("P", (self.width, self.height), _CLEAR)
        self._empty.putpalette(_PALETTE)

    def _figure(self):
        """A figure of this canvas's size with its one axes at the fixed place (no tight_layout: it costs a draw)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        _, _, inches, dpi = self._style
        fig = Figure(figsize=(inches * 1.18, inches), dpi=dpi)
        FigureCanvasAgg(fig)
        return fig, fig.add_axes((0.13, 0.12, 0.68, 0.8))

    def _finish(self, fig, ax, title: str | None = None, colorbar: bool = True) -> None:
        """The square window, the axis labels, the title and the digit colour bar, the same on every background."""
        import matplotlib as mpl

        from .viz import DIGIT_CMAP

        default_title, axis_labels, _, _ = self._style
        ax.set_xlim(-self.limit, self.limit)
        ax.set_ylim(-self.limit, self.limit)
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlabel(axis_labels[0])
        ax.set_ylabel(axis_labels[1])
        ax.set_title(title or default_title, fontsize=9)
        ax.tick_params(labelsize=7)
        if self.digit_colorbar and colorbar:
            mappable = mpl.cm.ScalarMappable(mpl.colors.Normalize(-0.5, 9.5), mpl.colormaps[DIGIT_CMAP])
            cb = fig.colorbar(mappable, cax=fig.add_axes((0.84, 0.12, 0.03, 0.8)), ticks=range(10))
            cb.ax.tick_params(labelsize=7)
            cb.set_label("digit", fontsize=8)

    def alternate_background(self, draw, title: str, colorbar: bool = False) -> bytes:
        """PNG bytes of another background with this canvas's geometry: ``draw(ax)`` paints on the same square.

        The axes sit at the same pixels as the scatter's, so the marker layer lines up on either background (the
        latent explorer's aggregate-posterior layer uses it).
        """
        fig, ax = self._figure()
        draw(ax)
        self._finish(fig, ax, title, colorbar)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()

    def paint_points(self, points, labels=None, radius: int = 1) -> np.ndarray:
        """The background as an RGB array ``(H, W, 3)`` with a dot per point ``(N, 2)``, coloured by digit (tab10).

        Painted with numpy (no matplotlib draw), so a new frame of the training monitor costs about a millisecond.
        """
        from matplotlib import colormaps

        from .viz import DIGIT_CMAP

        out = np.array(self.background)  # (H, W, 3) uint8, a copy
        px = np.rint(self.to_pixels(np.asarray(points, dtype=np.float64))).astype(np.int64)  # (N, 2)
        if labels is None:
            colours = np.tile(np.array([[31, 119, 180]], dtype=np.uint8), (px.shape[0], 1))
        else:
            table = (np.asarray(colormaps[DIGIT_CMAP].colors)[:, :3] * 255).round().astype(np.uint8)  # (10, 3)
            colours = table[np.asarray(labels, dtype=np.int64) % 10]  # (N, 3)
        for dy in range(-radius, radius + 1):
            for dx in range(-radius, radius + 1):
                ys = np.clip(px[:, 1] + dy, 0, self.height - 1)
                xs = np.clip(px[:, 0] + dx, 0, self.width - 1)
                out[ys, xs] = colours
        return out

    def layered_widget(self, overlay):
        """An ``ipywidgets.GridBox`` with the scatter image and ``overlay`` (an ``ipywidgets.Image``) in one cell."""
        import ipywidgets as W

        size = dict(width=f"{self.width}px", height=f"{self.height}px")
        background = W.Image(value=self.background_png, format="png", width=self.width, height=self.height,
                             layout=W.Layout(grid_area="1 / 1 / 2 / 2", **size))
        self.background_widget = background
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

    def pixel_transform(self) -> list[float]:
        """``[sx, ox, sy, oy, left, top, right, bottom]``: what :meth:`to_pixels` computes with (the page's ring,
        :mod:`vae_course.views.live`, maps and clamps its marker with the same numbers)."""
        return [float(v) for v in (self._sx, self._ox, self._sy, self._oy, *self._box)]

    def to_pixels(self, xy) -> np.ndarray:
        """Data coordinates ``(..., 2)`` -> pixel coordinates ``(..., 2)``, clamped to the plot area."""
        xy = np.asarray(xy, dtype=np.float64)
        px = np.empty_like(xy)
        px[..., 0] = np.clip(self._ox + self._sx * xy[..., 0], self._box[0], self._box[2])
        px[..., 1] = np.clip(self._oy + self._sy * xy[..., 1], self._box[1], self._box[3])
        return px

    def render(self, marker=None, lines=(), crosses=(), ring: bool = True, dots=()) -> bytes:
        """PNG bytes of the marker layer: a ``marker`` at ``(x, y)`` (a ring, or a small dot with ``ring=False``),
        polylines ``[(points (n, 2), dashed)]``, small crosses ``[(x, y)]`` and red ``dots`` ``[(x, y)]``,
        transparent everywhere else."""
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
        for xy in dots:
            cx, cy = self.to_pixels(xy).tolist()
            draw.ellipse((cx - 3, cy - 3, cx + 3, cy + 3), fill=_WHITE)
            draw.ellipse((cx - 2, cy - 2, cx + 2, cy + 2), fill=_RED)
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
