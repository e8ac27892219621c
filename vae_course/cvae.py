"""Where notebook 10 imports the conditional VAE from: a re-export of :mod:`vae_course.models.cvae`.

Used by notebook 10. The code lives in :mod:`vae_course.models.cvae`; new code imports from :mod:`vae_course.models`.
"""
from .models.cvae import CVAE, CVAEConfig, digit_style_grid, label_codes, one_hot

__all__ = ["CVAE", "CVAEConfig", "digit_style_grid", "label_codes", "one_hot"]
