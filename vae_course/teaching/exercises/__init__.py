"""Automatic checks, step-by-step hints and reference answers for the notebooks' exercises.

Used by every notebook with an exercise (01-10), by ``python -m vae_course grade`` and by the student edition.
Each ``check_*`` function takes the learner's function (or class), runs it and the package's reference on fixed and
seeded random inputs, and returns a :class:`CheckResult`. It shows as one line when it is the last line of a cell:

* ``PASS name: ...`` when every case matches (the result is truthy);
* ``FAIL name: case 3 (...): largest absolute difference ... at index ...`` with the inputs, a wrong shape or dtype
  named as such, and a diagnosis where the mistake is a known one; never the formula;
* ``TODO name: not written yet (it raises NotImplementedError).`` for an unwritten stub.

The verdict is also in the output's metadata, ``{"vae_course": {"exercise": name, "verdict": ...}}``, for the
grader. ``hint(name)`` gives the next of three hints (the idea, the key step in words, the formula);
``mine_or_reference(fn, name)`` returns the learner's function if it passes, else the reference, so that the cells
below run either way; ``reveal(prediction, measured, what=..., explanation=...)`` is the "predict, then run" step.

Exercise cells follow one convention: the learner's function lives in a cell tagged ``solution`` with the part to
write between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (the student edition replaces it with a stub), and the
next cell's last line calls the checker.

* :mod:`~vae_course.teaching.exercises.core`            :class:`CheckResult`, :func:`compare`, :func:`random_cases`, helpers
* :mod:`~vae_course.teaching.exercises.registry`        every exercise by name, :func:`hint`, :func:`mine_or_reference`
* :mod:`~vae_course.teaching.exercises.theory`          notebooks 01-04
* :mod:`~vae_course.teaching.exercises.theory_limits`   notebooks 01, 02, 04 (IS with its error, the mean-field q, log q)
* :mod:`~vae_course.teaching.exercises.theory_builds`   notebooks 02-04 (the MC ELBO, two diagonal Gaussians' KL, STL)
* :mod:`~vae_course.teaching.exercises.practice`        notebooks 05-06 (the loss, latent paths)
* :mod:`~vae_course.teaching.exercises.practice_models` notebook 05 (the VAE module, one training step)
* :mod:`~vae_course.teaching.exercises.beyond`          notebooks 07-10
* :mod:`~vae_course.teaching.exercises.beyond_models`   notebooks 08-09 (log-weights, the free-bits KL)
* :mod:`~vae_course.teaching.exercises.collapse_cvae`   notebooks 09-10 (the free-bits objective, A_u by batches, the CVAE's bound on log p(x))
* :mod:`~vae_course.teaching.exercises.bounds`          notebooks 07-08 (the CB mean everywhere, the k * gap estimates)
* :mod:`~vae_course.teaching.exercises.priors`          notebook 11 (surgery's terms, the mixture, the MC KL)
* :mod:`~vae_course.teaching.exercises.vq`              notebook 12 (the nearest code, the EMA codebook step)
* :mod:`~vae_course.teaching.exercises.deeper`          notebook 13 (the Ladder VAE's merge and its KL term)
* :mod:`~vae_course.teaching.exercises.disentangle`     notebook 15 (the mutual information gap)
* :mod:`~vae_course.teaching.exercises.diffusion`       notebook 14 (the forward process's marginal q(x_t | x_0))

A new exercise goes into the module of its notebook's part, as a checker and an ``Exercise`` in that module's
``EXERCISES``, and its checker is re-exported here.
"""
from .beyond import (check_active_units, check_cb_log_normalizer, check_condition_on_label, check_iwae_estimate,
                     check_kl_weight, check_local_elbo, check_optimal_sigma)
from .beyond_models import check_free_bits, check_iwae_bound, check_log_weights
from .bounds import check_cb_mean, check_k_gap_estimates
from .collapse_cvae import check_cvae_log_px_bound, check_free_bits_objective, check_unit_variances
from .core import Case, CheckResult, Exercise, compare, random_cases
from .deeper import check_ladder_kl
from .diffusion import check_forward_marginal
from .disentangle import check_mig
from .practice import check_hole_test, check_interpolation_path, check_vae_loss
from .practice_models import check_train_step, check_vae_module
from .priors import check_mc_kl, check_mixture_log_density, check_surgery_terms
from .registry import EXERCISES, HINTS, exercise_of_checker, hint, mine_or_reference, reveal
from .theory import (check_gaussian_kl, check_mc_marginal, check_reparameterize, check_score_function,
                     check_toy_elbo, check_toy_posterior)
from .theory_builds import check_code_score_grad, check_kl_diag, check_mc_elbo, check_stl_elbo
from .theory_limits import check_importance_log_marginal, check_log_q_tril, check_mean_field_q
from .vq import check_ema_step, check_nearest_code

__all__ = [
    "Case", "CheckResult", "EXERCISES", "Exercise", "HINTS", "check_active_units", "check_cb_log_normalizer",
    "check_condition_on_label", "check_cvae_log_px_bound", "check_free_bits", "check_free_bits_objective", "check_unit_variances", "check_gaussian_kl",
    "check_interpolation_path", "check_iwae_bound", "check_iwae_estimate", "check_kl_weight", "check_log_weights",
    "check_local_elbo", "check_log_q_tril", "check_code_score_grad", "check_importance_log_marginal", "check_kl_diag", "check_mc_elbo", "check_stl_elbo", "check_mc_kl", "check_mc_marginal", "check_mean_field_q", "check_mixture_log_density", "check_nearest_code", "check_optimal_sigma", "check_reparameterize",
    "check_score_function", "check_toy_elbo", "check_toy_posterior", "check_train_step", "check_vae_loss", "check_vae_module", "compare",
    "check_surgery_terms", "check_ema_step",  # notebooks 11 and 12
    "check_cb_mean", "check_k_gap_estimates",  # notebooks 07 and 08
    "check_hole_test",  # notebook 06
    "check_ladder_kl",  # notebook 13
    "check_mig",  # notebook 15
    "check_forward_marginal",  # notebook 14
    "exercise_of_checker", "hint", "mine_or_reference", "random_cases", "reveal",
]
