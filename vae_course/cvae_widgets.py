"""Where notebook 10 imports the CVAE explorer from: a re-export of :mod:`vae_course.widgets.cvae_explorer`.

Used by notebook 10. The code lives in :mod:`vae_course.widgets.cvae_explorer`; new code imports from
:mod:`vae_course.widgets`. (The digit PNG helper of this module is now :func:`vae_course.widgets.digit_png`.)
"""
from .widgets.cvae_explorer import CVAEExplorer, cvae_explorer

__all__ = ["CVAEExplorer", "cvae_explorer"]
