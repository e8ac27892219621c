"""The digit encoder: pick a test image and see its posterior mean, 1- and 2-sigma ellipses and reconstruction.

Used by notebook 06. Its static twin is :func:`vae_course.views.posterior_ellipses`.

With ``sample_toggle`` on, it also draws ``n_samples`` codes z ~ q(z|x) = N(mu, diag sigma^2) around the chosen code
(fresh on every update, or on ``resample_button``): red dots inside the 1- and 2-sigma ellipses, and the decoded
mean of each below (``sample_strip``). For a 2-D posterior about 39% of them fall inside the 1-sigma ellipse and
about 86% inside the 2-sigma one (1 - exp(-k^2 / 2)).
"""
from __future__ import annotations

import time

import torch

from ..evaluation.latent_space import Plane, axis_plane, check_model, encode_means, sigma_ellipse
from .base import _CourseIntSlider, _View, _check_images_labels, _check_plane, _window
from .png import ScatterCanvas, _check_scale, digit_png, digits_row_png


class DigitEncoder(_View):
    """Pick a test image; see :func:`digit_encoder`.

    Attributes:
        index: ``ipywidgets.IntSlider`` choosing the test image.
        original, reconstruction, scatter: ``ipywidgets.Image`` widgets.
        info: ``ipywidgets.HTML`` with the label, mu and sigma.
        mu, logvar: the chosen image's posterior parameters ``(D,)``; ``position`` its 2-D coordinates on the scatter.
        sample_toggle: ``ipywidgets.ToggleButton``: draw z ~ q(z|x) (off by default); resample_button draws again.
        samples: the ``(n_samples, D)`` codes drawn last (``None`` while the toggle is off); sample_positions their
            2-D coordinates on the scatter; sample_strip: ``ipywidgets.Image`` of their decoded means.
    """

    def __init__(self, model, images, labels=None, *, index: int = 0, plane: Plane | None = None,
                 limit: float | None = None, scale: int = 5, css_class: str = "vae-digit-encoder",
                 n_samples: int = 8, seed: int = 0):
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
        if limit is not None:
            _window(limit, None)  # a bad limit fails before the encoder runs
        n = images.shape[0]
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
            raise ValueError(f"index={index!r} must be a whole number between 0 and {n - 1}.")
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or not 1 <= n_samples <= 64:
            raise ValueError(f"n_samples={n_samples!r} must be a whole number from 1 to 64 (codes drawn from q(z|x)).")
        self.images, self.labels, self.scale = images, labels, _check_scale(scale)
        self.n_samples, self._gen = n_samples, torch.Generator().manual_seed(seed)
        self.samples = self.sample_positions = None
        self.mus, self.logvars = encode_means(model, images)  # (N, D) each
        coords = self.plane.project(self.mus)  # (N, 2)
        self.limit = _window(limit, coords)  # default: the window holding 99% of the means, as latent_explorer's
        names = ("$z_1$", "$z_2$") if plane is None else ("$c_1$", "$c_2$")
        self.canvas = ScatterCanvas(coords, labels, self.limit, title="posterior of the chosen image",
                                    axis_labels=names)
        self.index = _CourseIntSlider(value=index, min=0, max=n - 1, step=1, description="test image",
                                 continuous_update=True, layout=W.Layout(width="420px"))
        size = 28 * self.scale
        self.original = W.Image(format="png", width=size, height=size)
        self.reconstruction = W.Image(format="png", width=size, height=size)
        self.scatter = W.Image(format="png", width=self.canvas.width, height=self.canvas.height)
        self.scatter_view = self.canvas.layered_widget(self.scatter)
        self.info = W.HTML()
        self.sample_toggle = W.ToggleButton(value=False, description="draw z ~ q(z|x)",
                                            tooltip=f"{n_samples} codes from the posterior, and their decodings",
                                            layout=W.Layout(width="160px"))
        self.resample_button = W.Button(description="draw again", layout=W.Layout(width="100px"))
        self.sample_strip = W.Image(format="png", width=n_samples * (56 + 4) - 4, height=56)
        self.sample_box = W.VBox([W.HTML(f"<b>decoded means at {n_samples} codes z ~ q(z|x)</b> (the red dots)"),
                                  self.sample_strip], layout=W.Layout(display="none"))
        self.index.observe(lambda change: self.refresh(), names="value")
        self.sample_toggle.observe(lambda change: self.refresh(), names="value")
        self.resample_button.on_click(lambda _: self.refresh())
        self.widget = W.VBox([
            self.index, self.info,
            W.HBox([W.VBox([W.HTML("<b>original x</b>"), self.original]),
                    W.VBox([W.HTML("<b>decoded mean at &mu;</b>"), self.reconstruction]), self.scatter_view]),
            W.HBox([self.sample_toggle, self.resample_button]), self.sample_box,
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

    def draw_samples(self, n: int) -> torch.Tensor:
        """``n`` codes z = mu + sigma * eps ~ q(z|x) of the chosen image, eps from the view's own generator: ``(n, D)``."""
        eps = torch.randn(n, self.mu.shape[0], generator=self._gen)  # (n, D)
        return self.mu + self.logvar.mul(0.5).exp() * eps

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
        dots = ()
        if self.sample_toggle.value:
            self.samples = self.draw_samples(self.n_samples)  # (n, D)
            self.sample_positions = self.plane.project(self.samples)  # (n, 2)
            with torch.inference_mode():
                decoded = self.model.decode(self.samples.to(dev)).cpu()  # (n, 1, 28, 28)
            self.sample_strip.value = digits_row_png(decoded, scale=2)
            dots = self.sample_positions.tolist()
        else:
            self.samples = self.sample_positions = None
        self.sample_box.layout.display = None if self.sample_toggle.value else "none"
        self.scatter.value = self.canvas.render(marker=self.position.tolist(), lines=rings, ring=False, dots=dots)
        sigma = logvar.mul(0.5).exp()
        shown = min(mu.shape[0], 4)

        def fmt(v: torch.Tensor) -> str:
            return ", ".join(f"{a:+.2f}" for a in v[:shown].tolist()) + (", ..." if v.shape[0] > shown else "")

        label = "" if self.labels is None else f"digit <b>{int(self.labels[i])}</b>, "
        self.info.value = (f"{label}&mu; = ({fmt(mu)}), &sigma; = ({fmt(sigma)}); ellipses: 1&sigma; (solid), "
                           f"2&sigma; (dashed)")
        self.timings.append(time.perf_counter() - start)


def digit_encoder(model, images, labels=None, **kwargs) -> DigitEncoder:
    """Choose a test image with a slider and see its posterior: mean, 1- and 2-sigma ellipses, reconstruction.

    Without ``limit`` the scatter spans the same window as :func:`latent_explorer`'s: the smallest multiple of 0.5,
    at least 3, whose square holds at least 99% of the images' posterior means.
    """
    return DigitEncoder(model, images, labels, **kwargs)
