"""Where notebook 02 imports the ELBO panel from: a re-export of :mod:`vae_course.widgets.elbo_panel`.

Used by notebook 02. The code lives in :mod:`vae_course.widgets.elbo_panel`; new code imports from
:mod:`vae_course.widgets`.
"""
from .widgets.elbo_panel import ELBOPanel, draw_densities, panel_numbers, plot_elbo_landscape

__all__ = ["ELBOPanel", "draw_densities", "panel_numbers", "plot_elbo_landscape"]
