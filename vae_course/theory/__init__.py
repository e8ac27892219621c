"""The exact toys and the gradient estimators: models small enough to solve, where every bound can be checked.

Used by notebooks 01-04 and 08.

* :mod:`~vae_course.theory.toy`         the linear-Gaussian model with an exact posterior (notebooks 01-04, 08)
* :mod:`~vae_course.theory.toy2d`       the same with a vector latent and a correlated posterior (notebooks 02, 04, 08)
* :mod:`~vae_course.theory.estimators`  score-function vs pathwise gradients, the VAE's gradient variance (per parameter
  and per image's code) and the importance-weighted bound's gradient signal-to-noise ratio (notebooks 04, 08)
"""
from .estimators import (ESTIMATORS, Objective, VAE_ESTIMATORS, decoder_parameters, elbo_gradient_samples,
                         encoder_parameters, gauss_hermite_moments, gradient_moments, gradient_snr, pathwise_samples,
                         score_function_samples, vae_code_gradient_variance, vae_elbo_estimate,
                         vae_gradient_variance, variance_of_mean)
from .toy import LOG_2PI, LinearGaussian, Number, as_tensor, kl_normal, log_mean_exp, normal_log_prob
from .toy2d import F64, LinearGaussian2D, log_normal_tril, optimise_diagonal_q

__all__ = [
    "ESTIMATORS", "F64", "LOG_2PI", "LinearGaussian", "LinearGaussian2D", "Number", "Objective", "VAE_ESTIMATORS",
    "as_tensor", "decoder_parameters", "elbo_gradient_samples", "encoder_parameters", "gauss_hermite_moments",
    "gradient_moments", "gradient_snr", "kl_normal", "log_mean_exp", "log_normal_tril", "normal_log_prob",
    "optimise_diagonal_q", "pathwise_samples", "score_function_samples", "vae_code_gradient_variance",
    "vae_elbo_estimate", "vae_gradient_variance",
    "variance_of_mean",
]
