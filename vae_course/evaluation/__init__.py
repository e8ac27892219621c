"""What scores a given model: the test ELBO, the importance-weighted bound, likelihoods, collapse measures, ELBO
surgery, the amortization gap and the latent space's geometry. Nothing here trains.

Used by notebooks 05-11 (``from vae_course.evaluation import evaluate, iwae_bound, active_units``).

* :mod:`~vae_course.evaluation.scores`        ``evaluate``: the test ELBO in nats per image (notebooks 05-12)
* :mod:`~vae_course.evaluation.iwae`          the importance-weighted bound on log p(x) (notebooks 08, 11)
* :mod:`~vae_course.evaluation.likelihoods`   decoder distributions, the continuous Bernoulli's normalizer, the
  learned-sigma Gaussian (notebooks 07, 11)
* :mod:`~vae_course.evaluation.collapse`      active units, per-dimension KL, ``measure`` and ``markdown_table``
  (notebooks 09, 11)
* :mod:`~vae_course.evaluation.surgery`       ELBO surgery: mutual information + KL(aggregate || prior) (notebook 11)
* :mod:`~vae_course.evaluation.amortization`  the per-image optimal q and the split of the gap (notebooks 02, 08)
* :mod:`~vae_course.evaluation.structured`    bounds, active units per layer, gap split of notebook 13's models
* :mod:`~vae_course.evaluation.latent_space`  encoded means, quantile grids, interpolation, planes, ellipses, holes
  (notebooks 05, 06)
"""
from .amortization import (GapSplit, LocalQ, LogJointZ, gap_split, noise_elbo, optimise_q, vae_log_joint_z,
                           whitened_noise)
from .collapse import (CollapseSummary, active_units, collapse_summary, count_active_units, kl_per_dim, markdown_table,
                       measure, posterior_params, unit_activity)
from .iwae import (LikelihoodEstimate, LogJoint, Proposal, bounds_from_log_weights, estimate_log_likelihood,
                   importance_weighted_bound, iwae_bound, iwae_curve, iwae_from_log_weights, log_mean_exp,
                   model_log_weights, vae_log_joint, vae_proposal)
from .latent_space import (AggregateGrid, HoleMass, Plane, aggregate_posterior_grid, axis_plane, check_model,
                           encode_means, interpolate, log_aggregate_posterior, normal_quantile_grid, normal_quantiles,
                           pca_plane, prior_hole_mass, sigma_ellipse, value_grid)
from .likelihoods import (LearnedSigmaGaussian, bernoulli_pmf_integral, cb_log_normalizer, cb_mean,
                          decoder_distribution, optimal_gaussian_sigma)
from .scores import evaluate
from .seeds import SeedSpread, paired_difference, seed_spread
from .surgery import PriorHoleMass, Surgery, aggregate_log_prob, elbo_surgery, hole_mass

__all__ = [
    "AggregateGrid", "CollapseSummary", "GapSplit", "HoleMass", "LearnedSigmaGaussian", "LikelihoodEstimate", "LocalQ",
    "LogJoint", "LogJointZ", "Plane", "PriorHoleMass", "Proposal", "SeedSpread", "Surgery", "active_units",
    "aggregate_log_prob", "aggregate_posterior_grid", "axis_plane", "bernoulli_pmf_integral", "bounds_from_log_weights",
    "cb_log_normalizer", "cb_mean", "check_model", "collapse_summary", "count_active_units", "decoder_distribution",
    "elbo_surgery", "encode_means", "estimate_log_likelihood", "evaluate", "gap_split", "hole_mass",
    "importance_weighted_bound", "interpolate", "iwae_bound", "iwae_curve", "iwae_from_log_weights", "kl_per_dim",
    "log_aggregate_posterior", "log_mean_exp", "markdown_table", "measure", "model_log_weights", "noise_elbo",
    "normal_quantile_grid", "normal_quantiles", "optimal_gaussian_sigma", "optimise_q", "paired_difference",
    "pca_plane", "posterior_params", "prior_hole_mass", "seed_spread", "sigma_ellipse", "unit_activity",
    "vae_log_joint", "vae_log_joint_z", "vae_proposal", "value_grid", "whitened_noise",
]
from .structured import (active_units_per_layer, optimise_local_params, structured_gap_split,  # noqa: E402
                         structured_iwae)
__all__ += ["active_units_per_layer", "optimise_local_params", "structured_gap_split", "structured_iwae"]  # nb 13
from .disentanglement import (discretize, factor_entropies, mig, mig_per_factor,  # noqa: E402
                              mutual_information_matrix)
__all__ += ["discretize", "factor_entropies", "mig", "mig_per_factor", "mutual_information_matrix"]  # nb 15
