"""The static twin of a view: one PNG picture of its widgets as they are now, for readers where widgets are dead.

Used by :meth:`vae_course.views.base._View.snapshot` (every view of notebooks 02, 05, 06 and 10). On GitHub, in
``jupyter nbconvert --to html`` without widget state, or in an editor without the widget manager, a widget output
shows nothing; the picture shows what the widgets showed. It is drawn from the widget tree itself, so it cannot
drift from the view:

* an ``ipywidgets.Image`` is its PNG; images stacked in one ``GridBox`` cell (a scatter and its marker layer) are
  composited;
* ``HBox`` children go side by side, ``VBox`` (and other boxes) children one under the other;
* a slider is drawn as its description, a track with the knob where the value is, and the value; toggle buttons and
  check boxes as ``[x]`` / ``[ ]``; ``ToggleButtons`` with the chosen option in brackets; ``HTML`` and ``Label`` as
  their text; buttons and hidden widgets (``layout.display == "none"``) are left out;
* a layer that the browser draws by itself (the live explorer's digit and marker) is drawn as its ``still``, the
  kernel's image of the same thing.
"""
from __future__ import annotations

import html
import io
import re

import numpy as np

GAP = 8
TEXT_SIZE = 12
INK = (30, 30, 30)
TRACK = (190, 190, 190)
KNOB = (31, 119, 180)


def font(size: int = TEXT_SIZE):
    """DejaVu Sans (shipped with matplotlib: it has Greek letters) at ``size`` px; PIL's default font without it."""
    from PIL import ImageFont

    try:
        from matplotlib import font_manager

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
    except (OSError, ImportError, ValueError):  # pragma: no cover - matplotlib is a dependency of the course
        return ImageFont.load_default()


def text_image(text: str, size: int = TEXT_SIZE, width: int | None = None, fill=INK):
    """One line of ``text`` (newlines start new lines) on white, as an RGB ``PIL.Image``."""
    from PIL import Image, ImageDraw

    f = font(size)
    lines = text.splitlines() or [""]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    w = max(int(probe.textlength(line, font=f)) for line in lines) + 4
    img = Image.new("RGB", (max(w, width or 0), (size + 5) * len(lines) + 2), "white")
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((2, 1 + i * (size + 5)), line, fill=fill, font=f)
    return img


def _html_text(value: str) -> str:
    value = re.sub(r"<br\s*/?>", "\n", value or "", flags=re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", value)).strip()


def _slider(w):
    from PIL import ImageDraw

    lo, hi, v = float(w.min), float(w.max), float(w.value)
    fmt = getattr(w, "readout_format", "d" if isinstance(w.value, int) else ".2f") or ".2f"
    try:
        shown = format(w.value, fmt)
    except (TypeError, ValueError):
        shown = str(w.value)
    label = text_image(f"{w.description}", width=70)
    value = text_image(shown)
    track_w = 150
    img = hcat([label, _blank(track_w + 12, label.height), value], gap=4)
    draw = ImageDraw.Draw(img)
    x0, y = label.width + 4 + 6, img.height // 2
    draw.line([(x0, y), (x0 + track_w, y)], fill=TRACK, width=4)
    pos = x0 + (0 if hi == lo else (v - lo) / (hi - lo) * track_w)
    draw.ellipse((pos - 6, y - 6, pos + 6, y + 6), fill=KNOB)
    return img


def _blank(w: int, h: int):
    from PIL import Image

    return Image.new("RGB", (max(w, 1), max(h, 1)), "white")


def hcat(images, gap: int = GAP):
    """Images side by side, top-aligned, on white."""
    images = [im for im in images if im is not None]
    if not images:
        return None
    out = _blank(sum(im.width for im in images) + gap * (len(images) - 1), max(im.height for im in images))
    x = 0
    for im in images:
        out.paste(im, (x, 0))
        x += im.width + gap
    return out


def vcat(images, gap: int = GAP // 2):
    """Images one under the other, left-aligned, on white."""
    images = [im for im in images if im is not None]
    if not images:
        return None
    out = _blank(max(im.width for im in images), sum(im.height for im in images) + gap * (len(images) - 1))
    y = 0
    for im in images:
        out.paste(im, (0, y))
        y += im.height + gap
    return out


def _image(w):
    from PIL import Image

    if not w.value:
        width, height = int(w.width or 28), int(w.height or 28)
        return _blank(width, height)
    img = Image.open(io.BytesIO(w.value))
    img = img.convert("RGBA")
    flat = _blank(*img.size).convert("RGBA")
    flat.alpha_composite(img)  # transparent pixels show white, as on the page
    out = flat.convert("RGB")
    if w.width and w.height and (int(w.width), int(w.height)) != out.size:
        out = out.resize((int(w.width), int(w.height)), Image.NEAREST)
    return out


def _stand_in(w):
    """What is drawn for ``w``: a layer the browser draws by itself (:class:`~vae_course.views.LiveLayer`)
    is drawn as its ``still``, the kernel's image of the same thing."""
    import ipywidgets as W

    still = getattr(w, "still", None)
    return still if isinstance(still, W.Image) and not isinstance(w, W.Image) else w


def picture(w):
    """The widget ``w`` (and everything inside it) as one RGB ``PIL.Image``, or ``None`` for what is not drawn."""
    import ipywidgets as W

    w = _stand_in(w)
    layout = getattr(w, "layout", None)
    if layout is not None and getattr(layout, "display", None) == "none":
        return None
    if isinstance(w, W.Image):
        return _image(w)
    if isinstance(w, W.GridBox) and w.children and all(isinstance(_stand_in(c), W.Image) for c in w.children):
        from PIL import Image  # images stacked in one cell: the scatter and its marker layer, composited

        base = None
        for c in map(_stand_in, w.children):
            if c.value:
                layer = Image.open(io.BytesIO(c.value)).convert("RGBA")
                base = layer if base is None else _over(base, layer)
        return None if base is None else _over(_blank(*base.size).convert("RGBA"), base).convert("RGB")
    if isinstance(w, W.HBox):
        return hcat([picture(c) for c in w.children])
    if isinstance(w, W.Box):
        return vcat([picture(c) for c in w.children])
    if isinstance(w, (W.FloatSlider, W.IntSlider)):
        return _slider(w)
    if isinstance(w, (W.ToggleButton, W.Checkbox)):
        return text_image(f"[{'x' if w.value else ' '}] {w.description}")
    if isinstance(w, W.ToggleButtons):
        opts = "  ".join(f"[{label}]" if value == w.value else str(label) for label, value in
                         zip(w._options_labels, w._options_values))
        return text_image(f"{w.description + ': ' if w.description else ''}{opts}")
    if isinstance(w, (W.HTML, W.Label, W.HTMLMath)):
        text = _html_text(w.value)
        return text_image(text) if text else None
    if isinstance(w, (W.IntText, W.BoundedIntText, W.FloatText, W.BoundedFloatText)):
        return text_image(f"{w.description}: {w.value}")
    return None  # buttons, outputs and anything else leave no trace in the picture


def _over(base, layer):
    """``layer`` composited over ``base`` (RGBA, sizes may differ: the larger canvas wins)."""
    from PIL import Image

    w, h = max(base.width, layer.width), max(base.height, layer.height)
    out = Image.new("RGBA", (w, h), (255, 255, 255, 0))
    out.alpha_composite(base)
    out.alpha_composite(layer)
    return out


def picture_png(w) -> bytes:
    """:func:`picture` as PNG bytes (a 1-pixel white PNG when nothing in ``w`` is drawn)."""
    img = picture(w)
    if img is None:
        img = _blank(1, 1)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def as_array(png: bytes) -> np.ndarray:
    """PNG bytes -> ``(H, W, 3)`` uint8 (for tests and figures)."""
    from PIL import Image

    return np.array(Image.open(io.BytesIO(png)).convert("RGB"))
