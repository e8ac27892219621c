"""Interactive views of the course's models, built from ipywidgets sliders and PNG images (never ``interact``).

Used by notebooks 02, 06 and 10, ``benchmarks/bench_explorer.py`` and the browser test. Each view has a static twin
(in :mod:`vae_course.viz`, :mod:`vae_course.models.cvae` or the ELBO panel's own figures) so a notebook still reads
well where widgets are dead.

* :mod:`~vae_course.widgets.latent_explorer` :func:`latent_explorer` - one slider per latent coordinate; the decoded
  digit and the position of ``z`` on the scatter of test-set means follow the sliders (notebook 06).
* :mod:`~vae_course.widgets.digit_encoder` :func:`digit_encoder` - pick a test image: its posterior mean, 1- and
  2-sigma ellipses and its reconstruction (notebook 06).
* :mod:`~vae_course.widgets.interpolation` :func:`interpolation_explorer` - walk the straight line between two test
  images' codes with one slider ``t`` (notebook 06).
* :mod:`~vae_course.widgets.elbo_panel` :class:`ELBOPanel` - move q(z) and watch the ELBO and the gap (notebook 02).
* :mod:`~vae_course.widgets.cvae_explorer` :func:`cvae_explorer` - pick the digit, move the style sliders, see where
  z sits among that digit's codes (notebook 10).
* :mod:`~vae_course.widgets.monitor` :func:`training_monitor` - the live view that ``fit(..., monitor=...)`` drives:
  the test codes, the loss curves and decoded prior draws, frame by frame, with ``.strip()`` and ``.save_gif()``
  (notebook 05).
* :mod:`~vae_course.widgets.base` the shared ``_View`` base (display, ``close``, update timings), argument checks
  and :func:`covering_limit`, the default window of the views with a scatter (99% of the images' means inside);
  :mod:`~vae_course.widgets.png` the one set of PNG helpers (:func:`digit_png`, :class:`ScatterCanvas`);
  :mod:`~vae_course.widgets.snapshot` the static twin of every view (``view.snapshot()``: a picture of its widgets).
"""
from .base import covering_limit
from .cvae_explorer import CVAEExplorer, cvae_explorer
from .digit_encoder import DigitEncoder, digit_encoder
from .elbo_panel import ELBOPanel, draw_densities, panel_numbers, plot_elbo_landscape
from .interpolation import InterpolationExplorer, interpolation_explorer
from .latent_explorer import LatentExplorer, latent_explorer
from .monitor import TrainingMonitor, training_monitor
from .png import DIGIT_SCALE, PNG_LEVEL, SCATTER_DPI, SCATTER_INCHES, ScatterCanvas, digit_png, digits_row_png

__all__ = [
    "DIGIT_SCALE", "PNG_LEVEL", "SCATTER_DPI", "SCATTER_INCHES", "CVAEExplorer", "DigitEncoder", "ELBOPanel",
    "InterpolationExplorer", "LatentExplorer", "ScatterCanvas", "TrainingMonitor", "covering_limit", "cvae_explorer",
    "digit_encoder", "digit_png", "digits_row_png", "draw_densities", "interpolation_explorer", "latent_explorer",
    "panel_numbers", "plot_elbo_landscape", "training_monitor",
]
