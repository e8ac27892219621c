"""The latent-space explorer: one slider per latent coordinate, the decoded digit, and z on the scatter of means.

Used by notebook 06, ``benchmarks/bench_explorer.py`` and the browser test (``tests/browser/``). Its static twins
are :func:`vae_course.views.manifold_grid` and :func:`vae_course.views.traversal_grid`.

The container carries the CSS class ``vae-latent-explorer`` and the decoded image ``vae-explorer-image``, which the
browser test uses to find them. The decoder runs once per update on one code under ``torch.inference_mode``.

Two switches (issue 14): ``sample_toggle`` shows a Bernoulli *sample* of p(x|z), fresh on every update, instead of the
mean; ``layer_toggle`` swaps the scatter of codes for the aggregate posterior q(z) = mean_i q(z|x_i) on a grid, with
the prior's 1-, 2- and 3-sigma circles and the outline of the holes, where q(z) < ``HOLE_FRACTION`` p(z)
(:func:`vae_course.evaluation.aggregate_posterior_grid`, :func:`~vae_course.evaluation.prior_hole_mass`).
"""
from __future__ import annotations

import time

import torch

from ..evaluation.latent_space import Plane, aggregate_posterior_grid, axis_plane, check_model, encode_means, prior_hole_mass
from .base import (_CourseChoice, _CourseSlider, _View, _check_images_labels, _check_limit, _check_plane, _page_decoder,
                   _page_digit, _page_marker, _snap, _window)
from .png import DIGIT_SCALE, ScatterCanvas, _check_scale, digit_png


LAYERS = ("codes", "q(z) vs N(0, I)")
HOLE_FRACTION = 0.1  # the red outline: where q(z) < HOLE_FRACTION * p(z)


def draw_aggregate(ax, grid, limit: float, fraction: float = HOLE_FRACTION) -> None:
    """Draw an :class:`~vae_course.evaluation.AggregateGrid` on ``ax``: q(z) shaded, the prior's 1-, 2-, 3-sigma
    contours (dashed circles for N(0, I)) and the holes' outline (red), where q(z) < ``fraction`` p(z)."""
    import numpy as np

    from matplotlib.patches import Circle

    limit = _check_limit(limit)
    q, p = grid.density.numpy(), grid.prior.numpy()
    ax.imshow(np.sqrt(q), origin="lower", extent=(-limit, limit, -limit, limit), cmap="Greys", interpolation="bilinear")
    levels = [float(np.exp(-0.5 * r * r) / (2 * np.pi)) for r in (3.0, 2.0, 1.0)]  # density on the k-sigma circle
    xs, ys = grid.xs.numpy(), grid.ys.numpy()
    ax.contour(xs, ys, p, levels=levels, colors="tab:blue", linestyles="dashed", linewidths=1)
    centre = tuple(grid.prior_mean.tolist())
    q, p = np.asarray(q, dtype=np.float64), np.asarray(p, dtype=np.float64)  # float32 would underflow 1e-300 to 0
    ratio = np.log(np.maximum(q, 1e-300)) - np.log(np.maximum(p, 1e-300))  # log q/p
    disc = Circle(centre, 3.0, transform=ax.transData)  # the holes are shown inside the prior's 3-sigma circle
    cut = float(np.log(fraction))
    if not ratio.min() < cut < ratio.max():
        return  # no hole anywhere on the grid (or nothing but holes): no outline to draw
    filled = ax.contourf(xs, ys, ratio, levels=[float(ratio.min()) - 1, cut], colors=["tab:red"], alpha=0.3)
    line = ax.contour(xs, ys, ratio, levels=[cut], colors="tab:red", linewidths=1.2)
    for artist in (filled, line):
        artist.set_clip_path(disc)


class LatentExplorer(_View):
    """Sliders for the coordinates of ``z = plane.origin + coords @ plane.basis``; see :func:`latent_explorer`.

    Attributes:
        sliders: one ``ipywidgets.FloatSlider`` per coordinate (the first is the first latent axis / direction).
        image: ``ipywidgets.Image`` with the decoded digit (PNG bytes), CSS class ``vae-explorer-image``.
        scatter: ``ipywidgets.Image`` with the marker at ``z``, a transparent layer over the scatter of test-set means
            (``None`` without images); ``scatter_view`` is the two stacked; ``canvas.composite(scatter.value)``
            gives the picture as one image.
        sample_toggle: ``ipywidgets.ToggleButton``; on: the image is a Bernoulli sample of p(x|z) (binary pixels, a
            new sample on every update); off (default): exactly the decoded mean ``model.decode(z)``.
        shown: the ``(1, 1, 28, 28)`` tensor the image shows now (the mean, or the sample).
        layer_toggle: ``ipywidgets.ToggleButtons`` over the scatter, ``"codes"`` (the test-set means) or
            ``"q(z) vs N(0, I)"`` (the aggregate posterior on a grid against the prior; ``None`` without images).
        aggregate: the :class:`~vae_course.evaluation.AggregateGrid` behind that layer (computed when first shown).
        live, live_marker: the digit and the marker as the browser draws them by itself, with no round trip to the
            kernel (:class:`~vae_course.views.LiveLayer`; ``None`` when the decoder cannot run in the browser,
            or with ``live=False``). They stand in the displayed tree for ``image`` and ``scatter``, which the kernel
            still draws on every change: tests, the static twin and the stored widget state read those.
        widget: the ``ipywidgets.HBox`` that is displayed (CSS class ``vae-latent-explorer``).
    """

    def __init__(self, model, images=None, labels=None, *, plane: Plane | None = None, limit: float | None = None,
                 step: float = 0.05, scale: int = DIGIT_SCALE, css_class: str = "vae-latent-explorer",
                 image_class: str | None = None, names=None, title: str | None = None, live: bool | None = None):
        import ipywidgets as W

        super().__init__()
        check_model(model)
        self.model = model.eval()
        if limit is not None:
            _window(limit, None)  # a bad limit fails before the encoder runs
        _check_images_labels(images, labels)
        d = model.latent_dim
        self.plane = _check_plane(plane, d) if plane is not None else axis_plane(d, range(d))  # a slider per dim
        k = self.plane.basis.shape[0]
        coords = None
        self._posteriors = None
        if images is not None:
            mu, logvar = encode_means(model, images)  # (N, D) each
            self._posteriors = (mu, logvar)
            coords = self.plane.project(mu)  # (N, k): the images' posterior means in slider coordinates
        self.limit = _window(limit, coords)  # default: the smallest window that holds 99% of them
        if not (isinstance(step, (int, float)) and 0 < step <= self.limit):
            raise ValueError(f"step={step!r} must be a positive number no larger than limit={self.limit}.")
        if names is None:
            names = [f"z{i + 1}" for i in range(k)] if plane is None else [f"c{i + 1}" for i in range(k)]
        if len(names) != k:
            raise ValueError(f"names has {len(names)} entries for {k} sliders.")
        self.scale = _check_scale(scale)
        self._device = next(model.parameters()).device
        self._origin = self.plane.origin.float().to(self._device)  # (D,)
        self._basis = self.plane.basis.float().to(self._device)  # (k, D)
        self._hold = False

        self.sliders = [_CourseSlider(value=0.0, min=-self.limit, max=self.limit, step=step, description=name,
                                      continuous_update=True, readout_format=".2f",
                                      layout=W.Layout(width="300px"))
                        for name in names]
        self.image = W.Image(format="png", width=28 * self.scale, height=28 * self.scale)
        image_class = image_class or ("vae-explorer-image" if css_class == "vae-latent-explorer"
                                      else f"{css_class}-image")
        self.image.add_class(image_class)
        layers = _page_decoder(model, live)  # None: the kernel's images only
        self.sample_toggle = W.ToggleButton(value=False, description="sample x ~ p(x|z)",
                                            tooltip="on: a Bernoulli sample of p(x|z), new on every move; "
                                                    "off: the mean", layout=W.Layout(width="184px"))
        self.sample_toggle.add_class("vae-sample-toggle")
        self._sample_gen = torch.Generator().manual_seed(1)
        self.shown = None
        self.image_title = W.HTML("<b>decoded mean of p(x|z)</b>")
        self.sample_toggle.observe(lambda change: self.refresh(), names="value")
        self.canvas = None
        self.scatter = self.scatter_view = self.layer_toggle = self.aggregate = None
        self._layer_png = None
        if coords is not None and k >= 2:
            axis = tuple(f"${n[0]}_{{{n[1:]}}}$" if n[1:].isdigit() else n for n in names[:2])
            self.canvas = ScatterCanvas(coords[:, :2], labels, self.limit,
                                        title=title or "test-set means, and z (ring)", axis_labels=axis)
            self.scatter = W.Image(format="png", width=self.canvas.width, height=self.canvas.height)
            self.scatter_view = self.canvas.layered_widget(self.scatter)
            if k == 2:  # the aggregate posterior is drawn in the plane of the two sliders
                self.layer_toggle = _CourseChoice(options=list(LAYERS), value=LAYERS[0],
                                                    style={"button_width": "110px"})
                self.layer_toggle.observe(lambda change: self._show_layer(change["new"]), names="value")
        self.live = self.live_marker = None  # the layers the browser draws by itself (vae_course.views.live)
        if layers is not None:
            self.live = _page_digit(layers, self.image, self.sliders, self._origin.cpu().tolist(),
                                    self._basis.cpu().tolist(), self.scale, image_class, self.sample_toggle)
            if self.canvas is not None:
                self.live_marker = _page_marker(self.canvas, self.scatter_view, self.scatter, self.sliders)
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
                       W.HBox([self.reset_button, self.random_button]), self.sample_toggle])
        parts = [left, W.VBox([self.image_title, self.live or self.image])]
        if self.scatter is not None:
            parts.append(W.VBox([self.scatter_view] + ([self.layer_toggle] if self.layer_toggle else [])))
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
        if not isinstance(image, torch.Tensor) or image.numel() != 784:
            shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
            raise ValueError(f"show_image takes one image of 784 pixels, shaped (1, 28, 28) or (784,), got {shape}.")
        _check_images_labels(image.reshape(1, 784), None, "the pixels of show_image's image")
        with torch.inference_mode():
            mu, _ = self.model.encode(image.reshape(1, -1).to(self._device))
        self.set_z(mu[0].cpu())
        return mu[0].cpu()

    # -- the aggregate-posterior layer
    def aggregate_grid(self, n: int = 121):
        """The :class:`~vae_course.evaluation.AggregateGrid` of the images over the scatter's square (cached)."""
        if self._posteriors is None or self.layer_toggle is None:
            raise ValueError("this explorer has no scatter of two slider coordinates: build it with images (and a "
                             "2-D plane for a larger latent space) to see q(z).")
        if self.aggregate is None or self.aggregate.xs.shape[0] != n:
            mu, logvar = self._posteriors
            self.aggregate = aggregate_posterior_grid(mu, logvar, self.limit, n=n, plane=self.plane)
        return self.aggregate

    def hole_mass(self, fraction: float = HOLE_FRACTION, draws: int = 4000, seed: int = 0):
        """:func:`~vae_course.evaluation.prior_hole_mass` of the explorer's images: the prior mass where
        q(z) < ``fraction`` p(z), in the full latent space (a :class:`~vae_course.evaluation.HoleMass`)."""
        if self._posteriors is None:
            raise ValueError("this explorer was built without images: it has no aggregate posterior to compare.")
        return prior_hole_mass(*self._posteriors, fraction=fraction, draws=draws, seed=seed)

    def _show_layer(self, which: str) -> None:
        if which == LAYERS[0]:
            self.canvas.background_widget.value = self.canvas.background_png
            return
        if self._layer_png is None:
            grid = self.aggregate_grid()
            self._layer_png = self.canvas.alternate_background(
                lambda ax: draw_aggregate(ax, grid, self.limit),
                title=f"q(z) (grey), N(0, I) (blue), q < {HOLE_FRACTION:g} p (red)", colorbar=False)
        self.canvas.background_widget.value = self._layer_png

    # -- drawing
    def _on_change(self, change) -> None:  # a NaN never gets here: the slider keeps its last finite value
        if not self._hold:
            self.refresh()

    def refresh(self) -> None:
        """Decode the current ``z`` and redraw the digit and the marker (what one slider update costs)."""
        start = time.perf_counter()
        coords = [s.value for s in self.sliders]
        with torch.inference_mode():
            c = torch.tensor(coords, dtype=torch.float32, device=self._device)  # (k,)
            z = self._origin + c @ self._basis  # (D,)
            x = self.model.decode(z.unsqueeze(0))  # (1, 1, 28, 28) pixel means of p(x|z)
            if self.sample_toggle.value:
                x = torch.bernoulli(x.cpu(), generator=self._sample_gen)  # a sample of the Bernoulli p(x|z)
        self.shown = x.detach().cpu()
        self.image_title.value = ("<b>a sample x ~ p(x|z)</b>" if self.sample_toggle.value
                                  else "<b>decoded mean of p(x|z)</b>")
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
        plane: which coordinates the sliders move (:func:`vae_course.evaluation.pca_plane` or ``axis_plane``);
            default: every latent axis, one slider per latent dimension (the scatter shows the first two). For a
            large latent space pass a plane, e.g. ``pca_plane(mu, 2)`` or ``axis_plane(20, range(4))``.
        limit, step: slider range ``[-limit, limit]`` and step (the step of one arrow-key press). Without ``limit``
            the range is :func:`~vae_course.views.covering_limit` of the images' posterior means: the smallest
            multiple of 0.5, at least 3, whose box holds at least 99% of them (the codes need not fill the prior, so
            a window fitted to N(0, I) can hide whole digits); ``ex.limit`` tells it, for the static twins. Without
            images it is 3.
        css_class: the container's CSS class (``vae-latent-explorer``; give a second explorer another one).
        live: draw the digit and the marker in the browser, from the decoder's weights sent once (``None``, the
            default: when the decoder is the MLP VAE's; ``False``: always the kernel's PNGs; ``True``: insist).

    Returns:
        a :class:`LatentExplorer`; end a cell with it to display it. ``.sliders``, ``.image`` and ``.scatter`` are
        the widgets; ``.sample_toggle`` switches the image to Bernoulli samples of p(x|z), ``.layer_toggle`` the
        scatter to q(z) against N(0, I), and ``.hole_mass()`` measures the prior mass in the holes; setting ``ex.sliders[0].value = 1.5`` redraws the image. Move a *displayed* explorer from code
        with ``ex.set_coords([...])``: it puts the values on the sliders' step grid, so the browser has no snapped
        value to send back (assigning an off-grid value races with that echo).
    """
    return LatentExplorer(model, images, labels, **kwargs)
