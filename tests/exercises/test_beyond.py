"""The checkers of notebooks 07-10 (vae_course.exercises.beyond)."""
import math

import torch


def test_exercise_checkers_of_notebook_07():
    from vae_course import exercises

    good = exercises.check_cb_log_normalizer(lambda lam: torch.log(2 * torch.atanh(1 - 2 * lam) / (1 - 2 * lam)))
    split_log = exercises.check_cb_log_normalizer(  # log of a negative number for lam > 1/2
        lambda lam: torch.log(2 * torch.atanh(1 - 2 * lam)) - torch.log(1 - 2 * lam))
    assert good and repr(good).startswith("PASS")
    assert not split_log and "Hint" in repr(split_log)
    assert exercises.check_optimal_sigma(lambda m, x: (x - m).pow(2).mean(1).sqrt())
    assert not exercises.check_optimal_sigma(lambda m, x: (x - m).pow(2).mean(1))  # the variance, not sigma


def test_exercise_checker_of_notebook_08():
    from vae_course import exercises

    assert exercises.check_iwae_estimate(lambda w: torch.logsumexp(w, 0) - math.log(w.shape[0]))
    naive = exercises.check_iwae_estimate(lambda w: torch.log(torch.exp(w).mean(0)))
    assert not naive and "underflows" in repr(naive)  # fails on the case near -1000
    assert not exercises.check_iwae_estimate(lambda w: torch.logsumexp(w, 0))  # forgot the log k
