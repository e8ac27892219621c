"""The ELBO panel: move q(z) = N(mean, std^2) with two sliders and watch the ELBO, log p(x) and the gap.

Used by notebook 02 (the ELBO). The panel works on the exact linear-Gaussian toy of :mod:`vae_course.theory.toy`, so
every number it shows is a closed form: the gap it displays is ``log p(x) - ELBO(q)``, which equals
``KL(q || p(z|x))``.

Widgets follow the course rule: no ``interact``. Two ``FloatSlider`` s call :meth:`ELBOPanel.update` through
``observe``; it redraws one reused matplotlib ``Figure`` (not pyplot, so nothing else gets drawn into the notebook)
to PNG bytes and writes them into an ``ipywidgets.Image``. The static companions :func:`draw_densities` and
:func:`plot_elbo_landscape` make the same pictures for places where widgets are dead (GitHub, nbviewer, PDF).
"""
from __future__ import annotations

import io
import math
import time

import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..theory.toy import LinearGaussian
from .base import _CourseSlider, _View


def _z_grid(toy: LinearGaussian, x: float, q_mean: float, n: int = 600) -> torch.Tensor:
    post_mean = float(toy.posterior(x)[0])
    lo = min(-3.5, post_mean - 3.5, q_mean - 3.5)
    hi = max(3.5, post_mean + 3.5, q_mean + 3.5)
    return torch.linspace(lo, hi, n, dtype=torch.float64)  # (n,)


def panel_numbers(toy: LinearGaussian, x: float, q_mean: float, q_std: float) -> dict[str, float]:
    """The closed-form numbers the panel shows: ELBO, log p(x), their gap and KL(q || p(z|x))."""
    elbo = float(toy.elbo(x, q_mean, q_std))
    log_px = float(toy.log_marginal(x))
    return {"elbo": elbo, "log_px": log_px, "gap": log_px - elbo,
            "kl_to_posterior": float(toy.kl_to_posterior(x, q_mean, q_std)),
            "recon": float(toy.expected_log_likelihood(x, q_mean, q_std)),
            "kl_to_prior": float(toy.kl_to_prior(q_mean, q_std))}


def draw_densities(ax: Axes, toy: LinearGaussian, x: float, q_mean: float, q_std: float,
                   title: str | None = None, z_range: tuple[float, float] | None = None) -> Axes:
    """Draw the prior p(z), the exact posterior p(z|x) and q(z) on ``ax``; the title reports ELBO and gap."""
    z = _z_grid(toy, x, q_mean) if z_range is None else torch.linspace(*z_range, 600, dtype=torch.float64)
    post_mean, post_std = (float(t) for t in toy.posterior(x))
    nums = panel_numbers(toy, x, q_mean, q_std)
    ax.plot(z, toy.log_prior(z).exp(), color="0.55", ls="--", label="prior $p(z)$")
    ax.plot(z, toy.log_posterior(x, z).exp(), color="C0", lw=2, label="exact posterior $p(z|x)$")
    ax.plot(z, torch.distributions.Normal(q_mean, q_std).log_prob(z).exp(), color="C3", lw=2,
            label=f"$q(z)=N({q_mean:.2f}, {q_std:.2f}^2)$")
    ax.axvline(post_mean, color="C0", lw=0.8, alpha=0.6)
    ax.set_xlabel("latent $z$")
    ax.set_ylabel("density")
    peak = 1.0 / (min(q_std, post_std, 1.0) * math.sqrt(2 * math.pi))  # the tallest of the three curves
    ax.set_ylim(0, 1.15 * peak)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title or f"x = {x:g}:  ELBO = {nums['elbo']:.3f},  log p(x) = {nums['log_px']:.3f},  "
                          f"gap = {nums['gap']:.3f}", fontsize=9)
    return ax


def plot_elbo_landscape(toy: LinearGaussian, x: float, ax: Axes | None = None, mean_range=(-1.5, 3.0),
                        std_range=(0.05, 1.6), n: int = 181) -> Axes:
    """Filled contours of ELBO(q) over q's (mean, std), with the exact posterior marked: the ELBO's maximum."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4.2))
    m = torch.linspace(*mean_range, n, dtype=torch.float64)
    v = torch.linspace(*std_range, n, dtype=torch.float64)
    M, V = torch.meshgrid(m, v, indexing="xy")  # (n, n) each
    E = toy.elbo(x, M, V)  # (n, n)
    log_px = float(toy.log_marginal(x))
    levels = log_px - torch.tensor([12, 8, 5, 3, 2, 1.2, 0.6, 0.3, 0.1, 0.0], dtype=torch.float64)
    cs = ax.contourf(M, V, E.clamp(min=float(levels[0])), levels=levels.tolist(), cmap="viridis")
    ax.figure.colorbar(cs, ax=ax, label="ELBO (nats)")
    post_mean, post_std = (float(t) for t in toy.posterior(x))
    ax.plot([post_mean], [post_std], marker="*", color="red", ms=14, ls="",
            label=f"exact posterior ({post_mean:.2f}, {post_std:.2f}): ELBO = log p(x) = {log_px:.3f}")
    ax.plot([0.0], [1.0], marker="o", color="white", mec="k", ls="", label="q = prior (0, 1)")
    ax.set_xlabel("mean of q")
    ax.set_ylabel("std of q")
    ax.set_title(f"ELBO(q) for x = {x:g}; the bound touches log p(x) only at the posterior")
    ax.legend(loc="upper right", fontsize=8)
    return ax


class ELBOPanel(_View):
    """Sliders for q's mean and std, a live picture of prior / posterior / q and the ELBO numbers.

    Attributes (all ipywidgets):
        mean_slider, std_slider: ``FloatSlider`` s for q(z) = N(mean, std^2).
        image: ``ipywidgets.Image`` holding the current PNG.
        readout: ``ipywidgets.HTML`` with ELBO, log p(x) and the gap.
        widget: the whole panel (a ``VBox``); displaying the panel displays it.

    Example (in a notebook cell)::

        panel = ELBOPanel(LinearGaussian(2.0, 0.5, 1.0), x=3.0)
        panel            # shows the sliders and the picture
    """

    def __init__(self, toy: LinearGaussian, x: float, q_mean: float = 0.0, q_std: float = 1.0,
                 mean_range: tuple[float, float] = (-3.0, 3.0), std_range: tuple[float, float] = (0.05, 2.0),
                 figsize: tuple[float, float] = (6.4, 3.4), dpi: int = 80):
        import ipywidgets as widgets

        super().__init__()
        if not isinstance(toy, LinearGaussian):
            raise TypeError(f"toy must be a vae_course.theory.LinearGaussian, got {type(toy).__name__}.")
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise TypeError(f"x={x!r} must be one finite number (the observation).")
        if not std_range[0] > 0:
            raise ValueError("std_range must start above 0: q's standard deviation has to be positive.")
        self.toy, self.x = toy, float(x)
        self.z_range = (min(mean_range[0], -3.0) - 1.0, max(mean_range[1], 3.0) + 1.0)  # fixed axes while sliding
        self.mean_slider = _CourseSlider(value=q_mean, min=mean_range[0], max=mean_range[1], step=0.05,
                                               description="mean of q", continuous_update=True)
        self.std_slider = _CourseSlider(value=q_std, min=std_range[0], max=std_range[1], step=0.05,
                                              description="std of q", continuous_update=True)
        self.image = widgets.Image(format="png")
        self.readout = widgets.HTML()
        self.fig = Figure(figsize=figsize, dpi=dpi)  # one figure, reused for every redraw
        FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_subplot()
        self.mean_slider.observe(self.update, names="value")
        self.std_slider.observe(self.update, names="value")
        self.widget = widgets.VBox([widgets.HBox([self.mean_slider, self.std_slider]), self.readout, self.image])
        self.update()

    @property
    def numbers(self) -> dict[str, float]:
        """The closed-form numbers for the sliders' current q (see :func:`panel_numbers`)."""
        return panel_numbers(self.toy, self.x, self.mean_slider.value, self.std_slider.value)

    def render(self) -> bytes:
        """Redraw the reused figure for the current sliders and return it as PNG bytes."""
        self.ax.clear()
        draw_densities(self.ax, self.toy, self.x, self.mean_slider.value, self.std_slider.value,
                       z_range=self.z_range)
        self.fig.tight_layout()
        buf = io.BytesIO()
        self.fig.savefig(buf, format="png")
        return buf.getvalue()

    def update(self, change=None) -> None:
        """Slider callback: refresh the picture and the numbers."""
        start = time.perf_counter()
        nums = self.numbers
        self.readout.value = (f"<tt>ELBO = {nums['elbo']:.4f} &nbsp; log p(x) = {nums['log_px']:.4f} &nbsp; "
                              f"gap = log p(x) - ELBO = {nums['gap']:.4f} = KL(q || p(z|x)) = "
                              f"{nums['kl_to_posterior']:.4f}</tt>")
        self.image.value = self.render()
        self.timings.append(time.perf_counter() - start)
