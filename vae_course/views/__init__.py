"""What the learner looks at: static figures and the interactive views (ipywidgets sliders and PNG images, never
``interact``).

Used by notebooks 02, 05, 06, 09-12, ``benchmarks/bench_explorer.py`` and the browser test. Each view has a static
twin (``view.snapshot()``, or a figure of :mod:`~vae_course.views.viz`), so a notebook still reads well where widgets
are dead.

* :mod:`~vae_course.views.viz`              static figures: image grids, loss curves, scatters, manifold grids,
  traversals, posterior ellipses (notebooks 05, 06, 09-12)
* :mod:`~vae_course.views.latent_explorer`  ``latent_explorer``: one slider per latent coordinate (notebook 06)
* :mod:`~vae_course.views.digit_encoder`    ``digit_encoder``: a test image's posterior ellipses (notebook 06)
* :mod:`~vae_course.views.interpolation`    ``interpolation_explorer``: the line between two codes (notebook 06)
* :mod:`~vae_course.views.elbo_panel`       ``ELBOPanel``: move q(z), watch the ELBO and the gap (notebook 02)
* :mod:`~vae_course.views.cvae_explorer`    ``cvae_explorer``: pick the digit, move the style (notebook 10)
* :mod:`~vae_course.views.monitor`          ``training_monitor``: the live view ``fit`` drives (notebook 05)
* :mod:`~vae_course.views.live`             the decoder in the browser (anywidget), and stored widgets as stills
  (notebook 06, ``python -m vae_course execute``)
* :mod:`~vae_course.views.base`             the shared ``_View`` base and ``covering_limit``
* :mod:`~vae_course.views.png`              the one set of PNG helpers (``digit_png``, ``ScatterCanvas``)
* :mod:`~vae_course.views.snapshot`         the static twin of every view (a picture of its widgets)
"""
from .base import PRIOR_LIMIT, WINDOW_MULTIPLE, WINDOW_SHARE, covering_limit
from .cvae_explorer import CVAEExplorer, cvae_explorer
from .digit_encoder import DigitEncoder, digit_encoder
from .elbo_panel import ELBOPanel, draw_densities, panel_numbers, plot_elbo_landscape
from .interpolation import InterpolationExplorer, interpolation_explorer
from .latent_explorer import HOLE_FRACTION, LAYERS, LatentExplorer, draw_aggregate, latent_explorer
from .live import ESM, LiveLayer, WIDGET_REF, browser_decoder, stored_as_stills
from .monitor import EVERY_HELP, TrainingMonitor, parse_every, training_monitor
from .png import (DIGIT_SCALE, MAX_SCALE, PNG_LEVEL, SCATTER_DPI, SCATTER_INCHES, ScatterCanvas, digit_png, digits_row,
                  digits_row_png)
from .snapshot import GAP, INK, KNOB, TEXT_SIZE, TRACK, as_array, font, hcat, picture, picture_png, text_image, vcat
from .viz import (DIGIT_CMAP, decode_codes, image_grid, latent_scatter, manifold_grid, plot_history, posterior_ellipses,
                  show_images, show_strip, traversal_grid)

__all__ = [
    "CVAEExplorer", "DIGIT_CMAP", "DIGIT_SCALE", "DigitEncoder", "ELBOPanel", "ESM", "EVERY_HELP", "GAP",
    "HOLE_FRACTION", "INK", "InterpolationExplorer", "KNOB", "LAYERS", "LatentExplorer", "LiveLayer", "MAX_SCALE",
    "PNG_LEVEL", "PRIOR_LIMIT", "SCATTER_DPI", "SCATTER_INCHES", "ScatterCanvas", "TEXT_SIZE", "TRACK",
    "TrainingMonitor", "WIDGET_REF", "WINDOW_MULTIPLE", "WINDOW_SHARE", "as_array", "browser_decoder", "covering_limit",
    "cvae_explorer", "decode_codes", "digit_encoder", "digit_png", "digits_row", "digits_row_png", "draw_aggregate",
    "draw_densities", "font", "hcat", "image_grid", "interpolation_explorer", "latent_explorer", "latent_scatter",
    "manifold_grid", "panel_numbers", "parse_every", "picture", "picture_png", "plot_elbo_landscape", "plot_history",
    "posterior_ellipses", "show_images", "show_strip", "stored_as_stills", "text_image", "training_monitor",
    "traversal_grid", "vcat",
]
