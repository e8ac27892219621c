"""An interactive view of a conditional VAE: pick the digit, move the style sliders, see the decoded image.

Used by notebook 10. Its static twin is :func:`vae_course.cvae.digit_style_grid` (every digit x several styles),
so the notebook still reads well where widgets are dead (e.g. on GitHub).

Built from plain ipywidgets, never ``interact``: a ``ToggleButtons`` for the label and one ``FloatSlider`` per style
coordinate, each ``observe``-d; every change decodes one code and writes PNG bytes (encoded by PIL, upscaled by
nearest neighbour) into an ``ipywidgets.Image``.
"""
from __future__ import annotations

import io

import torch

DIGIT_SCALE = 7  # 28 px -> 196 px


def image_png(image: torch.Tensor, scale: int = DIGIT_SCALE) -> bytes:
    """One grey image ``(28, 28)``, ``(1, 28, 28)`` or ``(1, 1, 28, 28)`` in [0, 1] -> PNG bytes, ``scale`` x larger."""
    from PIL import Image

    if not isinstance(image, torch.Tensor) or image.ndim < 2 or image[..., 0, 0].numel() != 1:
        raise ValueError("image_png takes one image shaped (28, 28), (1, 28, 28) or (1, 1, 28, 28).")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale={scale!r} must be a whole number >= 1.")
    x = image.detach().reshape(image.shape[-2], image.shape[-1]).float().cpu()  # (28, 28)
    a = x.clamp(0, 1).mul(255).round().to(torch.uint8).numpy()  # (28, 28) uint8
    if scale > 1:
        a = a.repeat(scale, axis=0).repeat(scale, axis=1)  # (28s, 28s)
    buf = io.BytesIO()
    Image.fromarray(a, mode="L").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class CVAEExplorer:
    """Label buttons + style sliders + decoded image. Display ``explorer.widget`` (or end a cell with the object).

    Attributes:
        label: ``ToggleButtons`` with the classes ``0..C-1``.
        sliders: one ``FloatSlider`` per style coordinate shown (the first ``max_sliders`` of ``z``; the rest stay 0).
        image: the ``ipywidgets.Image`` holding the decoded digit as PNG.
        widget: the whole view (a ``VBox``).
    """

    def __init__(self, model, *, limit: float = 3.0, max_sliders: int = 4, scale: int = DIGIT_SCALE,
                 label: int = 0):
        import ipywidgets as W

        if not getattr(model, "conditional", False):
            raise TypeError("CVAEExplorer needs a conditional model (e.g. vae_course.cvae.CVAE).")
        if not (isinstance(limit, (int, float)) and limit > 0):
            raise ValueError(f"limit={limit!r} must be a positive number (the sliders run from -limit to limit).")
        self.model = model.eval()
        self.scale = scale
        n = min(model.latent_dim, int(max_sliders))
        if n < 1:
            raise ValueError("max_sliders must be at least 1.")
        self.label = W.ToggleButtons(options=list(range(model.num_classes)), value=int(label), description="digit",
                                     style={"button_width": "32px"})
        self.sliders = [W.FloatSlider(value=0.0, min=-limit, max=limit, step=0.05, description=f"style z{i + 1}",
                                      continuous_update=True, readout_format=".2f") for i in range(n)]
        side = 28 * scale
        self.image = W.Image(format="png", width=side, height=side)
        self.image.add_class("vae-cvae-image")
        for control in (self.label, *self.sliders):
            control.observe(self._on_change, names="value")
        self.widget = W.VBox([self.label, W.HBox([W.VBox(self.sliders), self.image])])
        self.widget.add_class("vae-cvae-explorer")
        self.update()

    def code(self) -> torch.Tensor:
        """The style code the sliders describe: ``(1, D)`` (coordinates without a slider are 0)."""
        z = torch.zeros(1, self.model.latent_dim)
        for i, s in enumerate(self.sliders):
            z[0, i] = float(s.value)
        return z

    @torch.no_grad()
    def current_image(self) -> torch.Tensor:
        """The decoded digit for the current label and sliders: ``(1, 28, 28)`` pixel means."""
        device = next(self.model.parameters()).device
        y = torch.tensor([int(self.label.value)], device=device)
        return self.model.decode(self.code().to(device), y)[0].cpu()

    def update(self) -> None:
        """Decode the current label and code and show it."""
        self.image.value = image_png(self.current_image(), self.scale)

    def _on_change(self, change) -> None:
        self.update()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def cvae_explorer(model, **kwargs) -> CVAEExplorer:
    """The interactive view of a conditional VAE (see :class:`CVAEExplorer` for the options)."""
    return CVAEExplorer(model, **kwargs)
