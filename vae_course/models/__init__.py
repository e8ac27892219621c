"""The course's VAE models, one module per family, all with the same interface.

Used by notebooks 00-10, the CLI and ``benchmarks/``.

* :mod:`~vae_course.models.base`           :class:`VAEBase` (reparameterize, decode, forward, sample) and the input
  checks every family uses
* :mod:`~vae_course.models.registry`       ``MODEL_CLASSES``: class name -> class, what checkpoints rebuild from
* :mod:`~vae_course.models.mlp`            the reference MLP ``VAE`` (784-400-2, notebooks 04-09)
* :mod:`~vae_course.models.conv`           ``ConvVAE`` (notebook 10)
* :mod:`~vae_course.models.deep`           ``DeepVAE``, the best model for the log-likelihood (notebook 08)
* :mod:`~vae_course.models.cvae`           the conditional ``CVAE`` (notebook 10)
* :mod:`~vae_course.models.autoregressive` ``AutoregressiveVAE``, a decoder strong enough to ignore z (notebook 09)
* :mod:`~vae_course.models.vqvae`          ``VQVAE``, discrete codes from a codebook, and its pieces (notebook 12)
* :mod:`~vae_course.models.code_prior`     ``AutoregressiveCodePrior``, a causal transformer over the codes (notebook 12)
* :mod:`~vae_course.models.hierarchical`   ``HierarchicalVAE``: two stochastic layers, bottom-up or top-down q (notebook 13)
* :mod:`~vae_course.models.flows`          ``FlowVAE``: a Gaussian q followed by IAF steps (MADE) (notebook 13)
* :mod:`~vae_course.models.diffusion`      ``Diffusion``: a hierarchical VAE with a fixed encoder, its ELBO's terms (notebook 14)

Every family registers its class in ``MODEL_CLASSES`` when it is imported; this package imports all of them, so
``from vae_course.models import MODEL_CLASSES`` (what :mod:`vae_course.checkpoints` does) knows every class. A new
family gets its own module here, decorates its class with ``@register_model`` and is imported below.
"""
from .autoregressive import (AutoregressiveVAE, AutoregressiveVAEConfig, MaskedLinear, causal_neighbours,
                             causal_offsets, made_masks)
from .base import VAEBase, check_images, check_latent, image_shape_for, require_positive_ints
from .conv import ConvVAE, ConvVAEConfig
from .cvae import CVAE, CVAEConfig, digit_style_grid, label_codes, one_hot
from .deep import ACTIVATIONS, DeepVAE, DeepVAEConfig
from .flows import MADE, FlowVAE, FlowVAEConfig, IAFStep, made_degree_masks
from .hierarchical import (INFERENCE, LOG_2PI, HierarchicalVAE, HierarchicalVAEConfig, StructuredVAE, gaussian_kl_pair, gaussian_log_prob,
                           precision_weighted_merge)
from .mlp import VAE, VAEConfig
from .registry import MODEL_CLASSES, register_model
from .vqvae import (CodePrior, GRID, VQOutput, VQTerms, VQVAE, VQVAEConfig, code_counts, codebook_perplexity,
                    dead_codes, ema_codebook, nearest_code, straight_through, vq_terms)

__all__ = [
    "ACTIVATIONS", "AutoregressiveVAE", "AutoregressiveVAEConfig", "CVAE", "CVAEConfig", "CodePrior", "ConvVAE",
    "ConvVAEConfig", "DeepVAE", "DeepVAEConfig", "GRID", "MODEL_CLASSES", "MaskedLinear", "VAE", "VAEBase", "VAEConfig",
    "VQOutput", "VQTerms", "VQVAE", "VQVAEConfig", "causal_neighbours", "causal_offsets", "check_images",
    "check_latent", "code_counts", "codebook_perplexity", "dead_codes", "digit_style_grid", "ema_codebook",
    "image_shape_for", "label_codes", "made_masks", "nearest_code", "one_hot", "register_model",
    "require_positive_ints", "straight_through", "vq_terms",
]
__all__ += ["FlowVAE", "FlowVAEConfig", "HierarchicalVAE", "HierarchicalVAEConfig", "IAFStep", "INFERENCE", "LOG_2PI",
            "MADE", "StructuredVAE", "gaussian_kl_pair", "gaussian_log_prob", "made_degree_masks",
            "precision_weighted_merge"]  # notebook 13
from .code_prior import AutoregressiveCodePrior, AutoregressiveCodePriorConfig, CausalBlock, one_thread  # noqa: E402
__all__ += ["AutoregressiveCodePrior", "AutoregressiveCodePriorConfig", "CausalBlock", "one_thread"]  # notebook 12, §6
from .diffusion import (DATA_KINDS, Diffusion, DiffusionConfig, alpha_bar, betas_from_alpha_bar,  # noqa: E402
                        bits_to_signs, decoder_term, elbo_terms, forward_marginal, logsnr_schedule, prior_term,
                        q_posterior, step_kl, strata, time_features)
__all__ += ["DATA_KINDS", "Diffusion", "DiffusionConfig", "alpha_bar", "betas_from_alpha_bar", "bits_to_signs",
            "decoder_term", "elbo_terms", "forward_marginal", "logsnr_schedule", "prior_term", "q_posterior",
            "step_kl", "strata", "time_features"]  # notebook 14
