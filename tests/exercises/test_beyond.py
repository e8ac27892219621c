"""The exercises of notebooks 07-10 (vae_course.teaching.exercises.beyond): likelihoods, the IWAE estimate, the KL warm-up,
active units and conditioning on a label."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vae_course.teaching import exercises as E

from .spec import Spec, Wrong, in_dtype, run_spec

F32, F64 = torch.float32, torch.float64
DIFF = "largest absolute difference"


def cb_ok(lam):
    return torch.log(2 * torch.atanh(1 - 2 * lam) / (1 - 2 * lam))


def sigma_ok(mean, x):
    return (x - mean).pow(2).mean(1).sqrt()


def iwae_ok(log_w):
    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])


def iwae_max_shift(log_w):
    m = log_w.max(0).values
    return m + torch.log(torch.exp(log_w - m).sum(0)) - torch.log(torch.tensor(float(log_w.shape[0])))


def kl_weight_ok(step, warmup_steps, beta=1.0):
    if warmup_steps == 0:
        return float(beta)
    return beta * min(1.0, step / warmup_steps)


def active_ok(mu, threshold=0.01):
    return int((mu.var(dim=0) > threshold).sum())


def condition_ok(v, y, num_classes=10):
    return torch.cat([v.reshape(v.shape[0], -1), F.one_hot(y, num_classes).float()], dim=1)


SPECS = [
    Spec("cb_log_norm", E.check_cb_log_normalizer, cb_ok, in_dtype(cb_ok, F32),
         [("log 2 + log(atanh(t) / t)", lambda lam: math.log(2) + torch.log(torch.atanh(1 - 2 * lam) / (1 - 2 * lam))),
          ("atanh written with logs", lambda lam: torch.log(torch.log((1 - lam) / lam) / (1 - 2 * lam)))],
         [Wrong("log of the numerator minus log of the denominator (NaN for lam > 1/2)",
                lambda lam: torch.log(2 * torch.atanh(1 - 2 * lam)) - torch.log(1 - 2 * lam),
                ("case 1 (", DIFF, "inf or NaN")),
          Wrong("the factor 2 forgotten", lambda lam: torch.log(torch.atanh(1 - 2 * lam) / (1 - 2 * lam)),
                (DIFF, "factor 2")),
          Wrong("C itself, not its log", lambda lam: 2 * torch.atanh(1 - 2 * lam) / (1 - 2 * lam),
                (DIFF, "The exercise asks for its log"))]),
    Spec("best_sigma", E.check_optimal_sigma, sigma_ok, in_dtype(sigma_ok, F64),
         [("a norm over sqrt(D)", lambda m, x: torch.linalg.vector_norm(x - m, dim=1) / math.sqrt(x.shape[1]))],
         [Wrong("the variance", lambda m, x: (x - m).pow(2).mean(1), ("case 1 (", DIFF, "variance where the standard")),
          Wrong("a sum over the pixels", lambda m, x: (x - m).pow(2).sum(1).sqrt(), (DIFF, "summing the squared")),
          Wrong("one sigma for the whole batch", lambda m, x: (x - m).pow(2).mean().sqrt(),
                ("wrong shape", "too many axes")),
          Wrong("the standard deviation of the residual, (x - m).std(1)", lambda m, x: (x - m).std(1),
                ("case 1 (every pixel off by 0.1", DIFF, "spread of the residual around its own average")),
          Wrong("the biased std of the residual", lambda m, x: (x - m).std(1, unbiased=False),
                ("case 1 (every pixel off by 0.1", DIFF, "not from its average")),
          Wrong("the mean absolute error", lambda m, x: (x - m).abs().mean(1),
                ("case 2 (a quarter of the pixels", DIFF, "averaging the absolute errors"))]),
    Spec("iwae_estimate", E.check_iwae_estimate, iwae_ok, in_dtype(iwae_ok, F32),
         [("hand-written max shift, log k as a tensor", iwae_max_shift)],
         [Wrong("log(mean(exp(log_w))): underflows", lambda w: torch.log(torch.exp(w).mean(0)),
                ("case 3 (log-weights near -1000", DIFF, "underflow")),
          Wrong("log k forgotten", lambda w: torch.logsumexp(w, 0), ("case 2 (", DIFF, "1/k")),
          Wrong("the mean log-weight (the ELBO)", lambda w: w.mean(0), ("case 3 (", DIFF, "ELBO")),
          Wrong("logsumexp over the images", lambda w: torch.logsumexp(w, 1) - math.log(w.shape[1]),
                ("case 1 (", "wrong shape"))]),
    Spec("kl_weight", E.check_kl_weight, kl_weight_ok, lambda s, w, b=1.0: np.float32(kl_weight_ok(s, w, b)),
         [("min of beta and the ramp", lambda s, w, b=1.0: b if w == 0 else min(b, b * s / w)),
          ("a float32 tensor", lambda s, w, b=1.0: torch.tensor(kl_weight_ok(s, w, b), dtype=F32))],
         [Wrong("no cap at beta", lambda s, w, b=1.0: b * s / w if w else b, ("case 3 (past the end", DIFF, "keeps growing")),
          Wrong("beta ignored", lambda s, w, b=1.0: min(1.0, s / w) if w else 1.0, ("case 4 (beta = 4", DIFF, "ignoring beta")),
          Wrong("one step ahead", lambda s, w, b=1.0: b * min(1.0, (s + 1) / w) if w else b,
                ("case 1 (first step", DIFF, "one step")),
          Wrong("divides by zero without a warm-up", lambda s, w, b=1.0: b * min(1.0, s / w),
                ("case 5 (no warm-up", "raised ZeroDivisionError"))]),
    Spec("active_units_from_means", E.check_active_units, active_ok, in_dtype(active_ok, F64),
         [("the biased variance, by hand", lambda mu, threshold=0.01: int(
             (((mu - mu.mean(0)) ** 2).mean(0) > threshold).sum())),
          ("a 0-d tensor count", lambda mu, threshold=0.01: (mu.var(0) > threshold).sum())],
         [Wrong("mean of mu^2", lambda mu, threshold=0.01: int((mu.pow(2).mean(0) > threshold).sum()),
                ("case 4 (means shifted", DIFF, "mean square")),
          Wrong("the std compared with the threshold", lambda mu, threshold=0.01: int((mu.std(0) > threshold).sum()),
                ("case 3 (a unit that varies by 0.05", DIFF, "standard deviation")),
          Wrong("mean |mu|", lambda mu, threshold=0.01: int((mu.abs().mean(0) > threshold).sum()),
                ("case 2 (a dead unit held at 0.05", DIFF, "how large each unit's mean is")),
          Wrong("a hard-coded threshold 0.01", lambda mu, threshold=0.01: int((mu.var(0) > 0.01).sum()),
                ("case 5 (threshold = 0.25", DIFF, "ignores the threshold argument")),
          Wrong("the inactive units counted", lambda mu, threshold=0.01: int((mu.var(0) <= threshold).sum()),
                ("case 1 (", DIFF, "inactive")),
          Wrong("the variance over the wrong axis", lambda mu, threshold=0.01: int((mu.var(1) > threshold).sum()),
                ("case 1 (", DIFF))]),
    Spec("condition_on_label", E.check_condition_on_label, condition_ok,
         lambda v, y, num_classes=10: condition_ok(v.double(), y, num_classes).to(v.dtype),  # float64, v's dtype back
         [("torch.eye rows", lambda v, y, num_classes=10: torch.cat([v.flatten(1), torch.eye(num_classes)[y]], 1))],
         [Wrong("the label code first", lambda v, y, num_classes=10: torch.cat(
             [F.one_hot(y, num_classes).float(), v.reshape(len(v), -1)], 1), ("case 1 (", DIFF, "come first")),
          Wrong("the raw label as one column", lambda v, y, num_classes=10: torch.cat(
              [v.reshape(len(v), -1), y[:, None].float()], 1), ("wrong shape: got (3, 3), expected (3, 12)", "one-hot")),
          Wrong("only the one-hot rows, as integers", lambda v, y, num_classes=10: F.one_hot(y, num_classes),
                ("case 1 (", "wrong dtype")),
          Wrong("images not flattened", lambda v, y, num_classes=10: torch.cat([v, F.one_hot(y, num_classes).float()], 1),
                ("case 2 (images (2, 1, 28, 28)", "raised")),
          Wrong("float64 one-hot rows (promote float32 v to float64)", lambda v, y, num_classes=10: torch.cat(
              [v.flatten(1), torch.eye(num_classes, dtype=F64)[y]], 1),
                ("case 1 (codes z", "wrong dtype: got torch.float64 for v of dtype torch.float32"))]),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_exercise(spec):
    run_spec(spec)


def test_pass_messages_are_unchanged():
    expected = {E.check_cb_log_normalizer: (cb_ok, "cb_log_norm", 7), E.check_optimal_sigma: (sigma_ok, "best_sigma", 6),
                E.check_iwae_estimate: (iwae_ok, "iwae_estimate", 7), E.check_kl_weight: (kl_weight_ok, "kl_weight", 11),
                E.check_active_units: (active_ok, "active_units_from_means", 9),
                E.check_condition_on_label: (condition_ok, "condition_on_label", 7)}
    for check, (fn, name, n) in expected.items():
        assert check(fn).message == f"PASS {name}: all {n} cases match the reference (fixed and random inputs)."
