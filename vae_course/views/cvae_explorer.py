"""An interactive view of a conditional VAE: pick the digit, move the style sliders, see the decoded image.

Used by notebook 10. Its static twin is :func:`vae_course.models.cvae.digit_style_grid` (every digit x several styles),
so the notebook still reads well where widgets are dead (e.g. on GitHub).

Built from plain ipywidgets, never ``interact``: a ``ToggleButtons`` for the label and one ``FloatSlider`` per style
coordinate, each ``observe``-d; every change decodes one code and writes PNG bytes (encoded by PIL, upscaled by
nearest neighbour, :func:`~vae_course.views.digit_png`) into an ``ipywidgets.Image``.

Given test images and labels, it also shows where z sits among the codes of the chosen digit: the posterior means
of that class's images (their first two style coordinates), rendered once per class on a
:class:`~vae_course.views.ScatterCanvas` and swapped in when the digit changes, with the ring marker at the
sliders' ``(z1, z2)`` on the transparent layer above.

In the browser, the digit and the ring are drawn by the page itself from the decoder's weights (``live``, see
:mod:`vae_course.views.live`): a slider press does not wait for the kernel; a click on a digit does, once, to set
the one-hot code the page appends to z.
"""
from __future__ import annotations

import time

import torch

from .base import (_CourseChoice, _CourseSlider, _View, _check_images_labels, _check_limit, _page_decoder, _page_digit,
                   _page_marker)
from .png import DIGIT_SCALE, ScatterCanvas, digit_png


class CVAEExplorer(_View):
    """Label buttons + style sliders + decoded image. Display ``explorer.widget`` (or end a cell with the object).

    Attributes:
        label: ``ToggleButtons`` with the classes ``0..C-1``.
        sliders: one ``FloatSlider`` per style coordinate shown (the first ``max_sliders`` of ``z``; the rest stay 0).
        image: the ``ipywidgets.Image`` holding the decoded digit as PNG.
        scatter: with images and labels, the ``ipywidgets.Image`` marker layer over the scatter of the chosen digit's
            codes (``scatter_view`` the two stacked; ``canvas`` the chosen digit's :class:`ScatterCanvas`);
            ``codes[c]`` holds the ``(N_c, D)`` posterior means of class ``c``'s images. ``None`` without images.
        live, live_marker: the digit and the ring as the page draws them by itself
            (:class:`~vae_course.views.LiveLayer`, the label's one-hot code appended to z; ``None`` with
            ``live=False`` or a decoder the page cannot run). They stand in the tree for ``image`` and ``scatter``,
            which the kernel still draws.
        widget: the whole view (a ``VBox``).
    """

    def __init__(self, model, images=None, labels=None, *, limit: float = 3.0, max_sliders: int = 4,
                 scale: int = DIGIT_SCALE, label: int = 0, live: bool | None = None):
        import ipywidgets as W

        super().__init__()
        if not getattr(model, "conditional", False):
            raise TypeError("CVAEExplorer needs a conditional model (e.g. vae_course.models.CVAE).")
        _check_limit(limit)
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < model.num_classes:
            raise ValueError(f"label={label!r} must be one of the model's classes, a whole number from 0 to "
                             f"{model.num_classes - 1}.")
        _check_images_labels(images, labels)
        if images is not None and labels is None:
            raise ValueError("the CVAE explorer's scatter needs the labels of the images (each is encoded with its "
                             "own digit).")
        self.model = model.eval()
        self.scale = scale
        self.limit = float(limit)
        n = min(model.latent_dim, int(max_sliders))
        if n < 1:
            raise ValueError("max_sliders must be at least 1.")
        self.label = _CourseChoice(options=list(range(model.num_classes)), value=int(label), description="digit",
                                     style={"button_width": "32px"})
        self.sliders = [_CourseSlider(value=0.0, min=-limit, max=limit, step=0.05, description=f"style z{i + 1}",
                                      continuous_update=True, readout_format=".2f") for i in range(n)]
        side = 28 * scale
        self.image = W.Image(format="png", width=side, height=side)
        self.image.add_class("vae-cvae-image")
        self.codes, self._canvases = {}, {}
        self.canvas = self.scatter = self.scatter_view = None
        if images is not None and model.latent_dim >= 2:
            self._encode_classes(images, labels)
            self.canvas = self._canvas(int(self.label.value))
            self.scatter = W.Image(format="png", width=self.canvas.width, height=self.canvas.height)
            self.scatter_view = self.canvas.layered_widget(self.scatter)
        self.live = self.live_marker = None  # drawn by the page itself (vae_course.views.live)
        layers = _page_decoder(model, live)
        if layers is not None:
            d = model.latent_dim
            self.live = _page_digit(layers, self.image, self.sliders, [0.0] * d, torch.eye(d)[:n].tolist(), scale,
                                    "vae-cvae-image", extra=self._one_hot())
            if self.scatter is not None:  # every digit's scatter has the same geometry: one transform fits all
                self.live_marker = _page_marker(self.canvas, self.scatter_view, self.scatter, self.sliders)
        for control in (self.label, *self.sliders):
            control.observe(self._on_change, names="value")
        row = [W.VBox(self.sliders), self.live or self.image]
        row += [self.scatter_view] if self.scatter_view is not None else []
        self.widget = W.VBox([self.label, W.HBox(row)])
        self.widget.add_class("vae-cvae-explorer")
        self.update()

    def _one_hot(self) -> list[float]:
        """The chosen digit as the one-hot code the decoder reads after z (what the page appends to z)."""
        return [1.0 if c == int(self.label.value) else 0.0 for c in range(self.model.num_classes)]

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

    @torch.no_grad()
    def _encode_classes(self, images, labels) -> None:
        device = next(self.model.parameters()).device
        for c in range(self.model.num_classes):
            idx = (labels == c).nonzero().flatten()
            if idx.numel():
                mu, _ = self.model.encode(images[idx].to(device), labels[idx].to(device))
                self.codes[c] = mu.cpu()  # (N_c, D)

    def _canvas(self, c: int) -> ScatterCanvas:
        """Class ``c``'s scatter, rendered once (all share one geometry, so one marker layer fits each)."""
        if c not in self._canvases:
            pts = self.codes.get(c)
            self._canvases[c] = ScatterCanvas(None if pts is None else pts[:, :2], None, self.limit,
                                              title=f"codes of the {c}s, and z (ring)",
                                              axis_labels=("style $z_1$", "style $z_2$"))
        return self._canvases[c]

    def update(self) -> None:
        """Decode the current label and code and show it (and where z sits among that digit's codes)."""
        start = time.perf_counter()
        if self.live is not None:
            self.live.extra = self._one_hot()  # the page redraws with the new digit (a no-op when it is the same)
        self.image.value = digit_png(self.current_image(), self.scale)
        if self.scatter is not None:
            canvas = self._canvas(int(self.label.value))
            if canvas is not self.canvas:  # another digit: its scatter goes under the same marker layer
                self.canvas = canvas
                self.scatter_view.children[0].value = canvas.background_png
            self.scatter.value = canvas.render(marker=[self.sliders[0].value, self.sliders[1].value
                                                       if len(self.sliders) > 1 else 0.0])
        self.timings.append(time.perf_counter() - start)

    def _on_change(self, change) -> None:
        self.update()  # a NaN never gets here: the slider keeps its last finite value


def cvae_explorer(model, images=None, labels=None, **kwargs) -> CVAEExplorer:
    """The interactive view of a conditional VAE (see :class:`CVAEExplorer` for the options).

    Pass test ``images`` and their ``labels`` to see, next to the digit, the chosen class's codes with a ring where
    z sits (``cvae_explorer(model, test_x, test_y)``).
    """
    return CVAEExplorer(model, images, labels, **kwargs)
