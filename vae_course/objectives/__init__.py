"""What a VAE is trained to minimise, in nats per image: the Gaussian KL, the reconstruction terms, the ELBO and
its variants (KL warm-up, free bits, learned priors, the importance-weighted bound).

Used by notebooks 02-11 (``from vae_course.objectives import ELBO, IWAE, gaussian_kl``), and by every package above.

* :mod:`~vae_course.objectives.objective`  ``ELBO`` and ``IWAE``: the objectives ``fit`` minimises, as objects that
  compose (a learned prior with either; beta, warm-up, free bits) (notebooks 05, 08, 09, 11)
* :mod:`~vae_course.objectives.losses`     the Gaussian KL, the reconstruction terms (Bernoulli, continuous Bernoulli,
  Gaussian), ``ELBOTerms`` and ``model_elbo`` (notebooks 02-10)
* :mod:`~vae_course.objectives.warmup`     the linear KL warm-up (``kl_weight``) and free bits (notebook 09)
* :mod:`~vae_course.objectives.priors`     learned priors p(z): mixture of Gaussians, VampPrior, and their objective
  (notebook 11)
* :mod:`~vae_course.objectives.iwae_loss`  training on the importance-weighted bound L_k (notebook 08)
* :mod:`~vae_course.objectives.checks`     the argument checks that ``fit`` and ``evaluate`` share (one sentence each)
"""
from .iwae_loss import iwae_objective, iwae_terms
from .losses import (ELBOTerms, LIKELIHOODS, bernoulli_nll, check_sigma, check_unit_interval, continuous_bernoulli_nll,
                     elbo, encode_decode, gaussian_kl, gaussian_kl_per_dim, gaussian_nll, images_checked, model_elbo,
                     reconstruction_nll, reference_loss)
from .objective import ELBO, IWAE, Objective, PRECISIONS, as_objective
from .priors import (LOG_2PI, MixtureOfGaussiansPrior, Prior, StandardNormalPrior, VampPrior, diagonal_normal_log_prob,
                     mixture_log_prob, prior_kl, prior_objective)
from .warmup import kl_weight

__all__ = [
    "ELBO", "ELBOTerms", "IWAE", "LIKELIHOODS", "LOG_2PI", "MixtureOfGaussiansPrior", "Objective", "PRECISIONS",
    "Prior", "StandardNormalPrior", "VampPrior", "as_objective", "bernoulli_nll", "check_sigma", "check_unit_interval",
    "continuous_bernoulli_nll", "diagonal_normal_log_prob", "elbo", "encode_decode", "gaussian_kl",
    "gaussian_kl_per_dim", "gaussian_nll", "images_checked", "iwae_objective", "iwae_terms", "kl_weight",
    "mixture_log_prob", "model_elbo", "prior_kl", "prior_objective", "reconstruction_nll", "reference_loss",
]
from .tc import BetaTCVAE, gaussian_log_density, mws_log_densities, total_correlation  # noqa: E402
__all__ += ["BetaTCVAE", "gaussian_log_density", "mws_log_densities", "total_correlation"]  # nb 15
