"""Automatic checks for the notebooks' exercises.

Used by every notebook with an exercise (01-10). Each ``check_*`` function takes the learner's function, runs it
and the package's reference implementation on fixed and seeded random inputs, and returns a :class:`CheckResult`:
it shows as one line, ``PASS ...`` or ``FAIL ...`` with a hint, when it is the last line of a cell, and is truthy
only when every case matches.

Exercise cells follow one convention: the learner's function lives in a cell tagged ``solution`` (the repository
ships the solution; a student edition replaces those cells with a stub), and the next cell calls the checker.

* :mod:`~vae_course.exercises.core`      :func:`compare`, :class:`CheckResult`, :func:`random_cases`
* :mod:`~vae_course.exercises.theory`    notebooks 01-04
* :mod:`~vae_course.exercises.practice`  notebooks 05-06
* :mod:`~vae_course.exercises.beyond`    notebooks 07-10

A new checker goes into the module of its notebook's part and is re-exported here.
"""
from .beyond import (check_active_units, check_cb_log_normalizer, check_condition_on_label, check_iwae_estimate,
                     check_kl_weight, check_optimal_sigma)
from .core import Case, CheckResult, compare, random_cases
from .practice import check_interpolation_path, check_vae_loss
from .theory import check_gaussian_kl, check_mc_marginal, check_reparameterize, check_score_function, check_toy_elbo

__all__ = [
    "Case", "CheckResult", "check_active_units", "check_cb_log_normalizer", "check_condition_on_label",
    "check_gaussian_kl", "check_interpolation_path", "check_iwae_estimate", "check_kl_weight", "check_mc_marginal",
    "check_optimal_sigma", "check_reparameterize", "check_score_function", "check_toy_elbo", "check_vae_loss",
    "compare", "random_cases",
]
