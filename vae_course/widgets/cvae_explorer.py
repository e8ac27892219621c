"""An interactive view of a conditional VAE: pick the digit, move the style sliders, see the decoded image.

Used by notebook 10. Its static twin is :func:`vae_course.models.cvae.digit_style_grid` (every digit x several styles),
so the notebook still reads well where widgets are dead (e.g. on GitHub).

Built from plain ipywidgets, never ``interact``: a ``ToggleButtons`` for the label and one ``FloatSlider`` per style
coordinate, each ``observe``-d; every change decodes one code and writes PNG bytes (encoded by PIL, upscaled by
nearest neighbour, :func:`~vae_course.widgets.png.digit_png`) into an ``ipywidgets.Image``.
"""
from __future__ import annotations

import time

import torch

from .base import _View, _snapped_back
from .png import DIGIT_SCALE, digit_png


class CVAEExplorer(_View):
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

        super().__init__()
        if not getattr(model, "conditional", False):
            raise TypeError("CVAEExplorer needs a conditional model (e.g. vae_course.models.CVAE).")
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
        start = time.perf_counter()
        self.image.value = digit_png(self.current_image(), self.scale)
        self.timings.append(time.perf_counter() - start)

    def _on_change(self, change) -> None:
        if not _snapped_back(change):  # a NaN style value goes back to the last finite one, which redraws
            self.update()


def cvae_explorer(model, **kwargs) -> CVAEExplorer:
    """The interactive view of a conditional VAE (see :class:`CVAEExplorer` for the options)."""
    return CVAEExplorer(model, **kwargs)
