"""Where notebook 09 imports the autoregressive-decoder VAE from: a re-export of
:mod:`vae_course.models.autoregressive`.

Used by notebook 09. The code lives in :mod:`vae_course.models.autoregressive`; new code imports from
:mod:`vae_course.models`.
"""
from .models.autoregressive import (AutoregressiveVAE, AutoregressiveVAEConfig, MaskedLinear, causal_neighbours,
                                    causal_offsets, made_masks)

__all__ = ["AutoregressiveVAE", "AutoregressiveVAEConfig", "MaskedLinear", "causal_neighbours", "causal_offsets",
           "made_masks"]
