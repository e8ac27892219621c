"""The exercises of the beyond-the-basics part, notebooks 07-10: likelihoods, the importance-weighted bound, the KL
warm-up schedule, active units and conditioning on a one-hot label. (The exercises that work on a whole model, the
log-weights, free bits and the CVAE's forward pass, are in :mod:`.beyond_models`.)
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .core import CheckResult, Exercise, compare, fail, random_cases


# --- Notebook 07: likelihoods ---
def _cb_reference(lam):
    from ...evaluation.likelihoods import cb_log_normalizer

    return cb_log_normalizer(lam)


def _sigma_reference(mean, x):
    from ...evaluation.likelihoods import optimal_gaussian_sigma

    return optimal_gaussian_sigma(mean, x)


def check_cb_log_normalizer(student_fn: Callable) -> CheckResult:
    """Notebook 07, exercise 1: ``cb_log_norm(lam)`` = log C(lam) of the continuous Bernoulli, elementwise."""
    from ...evaluation.likelihoods import cb_log_normalizer

    def make(gen):
        n = int(torch.randint(1, 6, (), generator=gen))
        u = 0.01 + 0.48 * torch.rand(n, generator=gen, dtype=torch.float64)  # in (0.01, 0.49)
        side = torch.randint(0, 2, (n,), generator=gen, dtype=torch.float64)
        lam = 0.5 + (2 * side - 1) * (0.5 - u)  # |lam - 1/2| >= 0.01
        return (lam,), {}

    cases = [
        ("lam = 0.1, 0.9 (C is symmetric)", (torch.tensor([0.1, 0.9], dtype=torch.float64),), {}),
        ("lam = 0.001, 0.3, 0.7, 0.999", (torch.tensor([0.001, 0.3, 0.7, 0.999], dtype=torch.float64),), {}),
        ("a (2, 3) tensor", (torch.tensor([[0.02, 0.2, 0.4], [0.6, 0.8, 0.98]], dtype=torch.float64),), {}),
    ]
    cases += random_cases(make, 4, seed=70)
    diagnoses = [
        ("You might be missing the factor 2 of the normalizer (every value is off by log 2).",
         lambda lam: cb_log_normalizer(lam) - math.log(2)),
        ("Is that C itself? The exercise asks for its log.", lambda lam: cb_log_normalizer(lam).exp()),
    ]
    return compare(student_fn, _cb_reference, cases, name="cb_log_norm", diagnoses=diagnoses)


def check_optimal_sigma(student_fn: Callable) -> CheckResult:
    """Notebook 07, exercise 2: ``best_sigma(mean, x)``, the per-image sigma minimizing -log N(x; mean, sigma^2 I)."""
    from ...evaluation.likelihoods import optimal_gaussian_sigma

    def make(gen):
        b = int(torch.randint(1, 6, (), generator=gen))
        return (torch.rand(b, 784, generator=gen), torch.rand(b, 784, generator=gen)), {}

    cases = [
        ("every pixel off by 0.1: sigma = 0.1", (torch.zeros(2, 784), torch.full((2, 784), 0.1)), {}),
        ("a quarter of the pixels off by 0.8: sigma = 0.4",
         (torch.zeros(1, 784), torch.cat([torch.full((1, 196), 0.8), torch.zeros(1, 588)], dim=1)), {}),
    ]
    cases += random_cases(make, 4, seed=71)
    diagnoses = [
        ("Did you return the variance where the standard deviation belongs?",
         lambda mean, x: optimal_gaussian_sigma(mean, x) ** 2),
        ("You might be summing the squared errors over the pixels where the optimum averages them.",
         lambda mean, x: optimal_gaussian_sigma(mean, x) * math.sqrt(x.shape[1])),
        ("Your value looks like the spread of the residual around its own average (a standard deviation of x - "
         "mean): an error that is the same on every pixel then counts as 0, but -log N counts it in full. s* "
         "measures the residual from 0, not from its average.",
         lambda mean, x: (x - mean).std(dim=1, unbiased=False)),
        ("You might be averaging the absolute errors: s* comes from the squared errors (averaged, then the root).",
         lambda mean, x: (x - mean).abs().mean(dim=1)),
    ]
    return compare(student_fn, _sigma_reference, cases, name="best_sigma", diagnoses=diagnoses)


# --- Notebook 08: the importance-weighted bound ---
def _iwae_reference(log_w):
    from ...evaluation.iwae import iwae_from_log_weights

    return iwae_from_log_weights(log_w)


def check_iwae_estimate(student_fn: Callable) -> CheckResult:
    """Notebook 08: ``iwae_estimate(log_w)``: (k, B) log-weights -> (B,) log of the mean weight, computed stably."""
    def make(gen):
        k = int(torch.randint(1, 50, (), generator=gen))
        b = int(torch.randint(1, 5, (), generator=gen))
        return (-100 + 20 * torch.randn(k, b, generator=gen, dtype=torch.float64),), {}

    cases = [
        ("k = 1: the log-weight itself", (torch.tensor([[-3.0, -90.0]], dtype=torch.float64),), {}),
        ("equal weights: the mean is the weight", (torch.full((5, 2), -7.0, dtype=torch.float64),), {}),
        ("log-weights near -1000 (exp underflows to 0)",
         (torch.tensor([[-1000.0, -2000.0], [-1001.0, -2000.5]], dtype=torch.float64),), {}),
    ]
    cases += random_cases(make, 4, seed=80)
    diagnoses = [
        ("You might be missing the 1/k of the average: your value is the log of the sum of the weights.",
         lambda log_w: torch.logsumexp(log_w, 0)),
        ("You averaged the log-weights: that is the ELBO estimate. The bound averages the weights themselves, "
         "then takes the log.", lambda log_w: log_w.mean(0)),
    ]
    return compare(student_fn, _iwae_reference, cases, name="iwae_estimate", diagnoses=diagnoses)


# --- Notebook 08: the per-image ELBO that the amortization gap is measured with ---
def _local_elbo_reference(log_joint, mu, logvar, eps):
    from ...evaluation.amortization import noise_elbo

    return noise_elbo(log_joint, mu, logvar, eps)


def _quadratic_joint(a, c):
    """A log-joint ``z (S, B, D) -> (S, B)`` that is quadratic in z (exact for whitened noise): ``-a |z - c|^2 / 2``."""
    return lambda z: -0.5 * (a * (z - c) ** 2).sum(-1)


def check_local_elbo(student_fn: Callable) -> CheckResult:
    """Notebook 08: ``local_elbo(log_joint, mu, logvar, eps)`` -> ``(B,)``: the mean of ``log p(x, mu + sigma eps_s)``
    over the S draws plus the closed-form entropy of ``q = N(mu, diag exp(logvar))``."""
    def make(gen):
        b, d, s = (int(torch.randint(1, 5, (), generator=gen)), int(torch.randint(1, 4, (), generator=gen)),
                   int(torch.randint(5, 30, (), generator=gen)))
        a = 0.5 + torch.rand(d, generator=gen, dtype=torch.float64)
        c = torch.randn(b, d, generator=gen, dtype=torch.float64)
        mu, logvar = torch.randn(b, d, generator=gen, dtype=torch.float64), torch.randn(b, d, generator=gen,
                                                                                       dtype=torch.float64)
        return (_quadratic_joint(a, c), mu, logvar, torch.randn(s, d, generator=gen, dtype=torch.float64)), {}

    one = torch.ones(1, 1, dtype=torch.float64)
    cases = [
        ("q = N(0, 1) against log p = -z^2 / 2, noise 1, -1, 0", (_quadratic_joint(1.0, 0.0), 0 * one, 0 * one,
                                                            torch.tensor([[1.0], [-1.0], [0.0]], dtype=torch.float64)), {}),
        ("a narrow q (logvar = -4), two images", (_quadratic_joint(2.0, 0.5), torch.tensor([[0.3], [-1.0]],
                                                  dtype=torch.float64), torch.full((2, 1), -4.0, dtype=torch.float64),
                                                  torch.tensor([[0.5], [-2.0], [1.5]], dtype=torch.float64)), {}),
    ]
    cases += random_cases(make, 4, seed=81)

    def entropy(logvar):
        return 0.5 * (math.log(2 * math.pi) + 1 + logvar).sum(-1)

    def fit_of(log_joint, mu, logvar, eps, std):
        z = mu.unsqueeze(0) + std.unsqueeze(0) * eps.unsqueeze(1)
        return log_joint(z).mean(0)

    diagnoses = [
        ("You might be missing the entropy of q: without it, the best q would shrink to a point.",
         lambda lj, mu, lv, eps: fit_of(lj, mu, lv, eps, torch.exp(0.5 * lv))),
        ("Is your sigma exp(logvar)? logvar is log sigma^2, so sigma is its half, exponentiated.",
         lambda lj, mu, lv, eps: fit_of(lj, mu, lv, eps, torch.exp(lv)) + entropy(lv)),
        ("Your entropy seems to miss the +1 (the expected squared standardized draw).",
         lambda lj, mu, lv, eps: fit_of(lj, mu, lv, eps, torch.exp(0.5 * lv)) + entropy(lv) - 0.5 * lv.shape[-1]),
        ("You might be summing the S draws where the expectation averages them.",
         lambda lj, mu, lv, eps: eps.shape[0] * fit_of(lj, mu, lv, eps, torch.exp(0.5 * lv)) + entropy(lv)),
    ]
    return compare(student_fn, _local_elbo_reference, cases, name="local_elbo", diagnoses=diagnoses,
                   inputs="fixed and random quadratic log-joints")


# --- Notebooks 09-10: the KL warm-up schedule, active units, conditioning on a one-hot label ---
def _kl_weight_reference(step, warmup_steps, beta=1.0):
    from ...objectives.warmup import kl_weight

    return kl_weight(step, warmup_steps, beta)

def check_kl_weight(student_fn: Callable) -> CheckResult:
    """Notebook 09: ``kl_weight(step, warmup_steps, beta)``, the linear KL warm-up; compared with
    :func:`vae_course.objectives.kl_weight` (including no warm-up, ``warmup_steps == 0``, and steps past the end)."""
    from ...objectives.warmup import kl_weight

    def make(gen):
        warm = int(torch.randint(1, 500, (), generator=gen))
        step = int(torch.randint(0, 2 * warm, (), generator=gen))
        beta = round(float(torch.empty(()).uniform_(0.1, 8.0, generator=gen)), 3)
        return (step, warm, beta), {}

    cases = [("first step", (0, 100, 1.0), {}), ("half-way", (50, 100, 1.0), {}), ("past the end", (150, 100, 1.0), {}),
             ("beta = 4, a quarter of the way", (25, 100, 4.0), {}), ("no warm-up", (10, 0, 4.0), {}),
             ("fractional warm-up length", (3, 7.5, 2.0), {})]
    cases += random_cases(make, 5, seed=91)
    diagnoses = [
        ("Your weight keeps growing after the warm-up: it should stay at beta once the warm-up is over.",
         lambda step, warm, beta: beta * step / warm),
        ("You might be ignoring beta: the weight ramps up to beta, not to 1.",
         lambda step, warm, beta: kl_weight(step, warm, 1.0)),
        ("Your ramp seems to start one step late or early: at step 0 the weight is 0.",
         lambda step, warm, beta: beta * min(1.0, (step + 1) / warm)),
    ]
    return compare(student_fn, _kl_weight_reference, cases, name="kl_weight", diagnoses=diagnoses)


def _active_units_reference(mu, threshold=0.01):
    from ...evaluation.collapse import count_active_units

    return count_active_units(mu, threshold)


def check_active_units(student_fn: Callable) -> CheckResult:
    """Notebook 09: ``active_units_from_means(mu, threshold=0.01) -> int`` for posterior means ``mu`` (N, D).

    Burda et al.'s criterion: ``A_u = Var_x(mu_u(x)) > threshold``. The cases keep every variance far from the
    threshold, so the biased and the unbiased variance both pass. Each known mistake fails first on a case that only
    it gets wrong: a unit held at 0.05 for every image (the mean size of mu, ``mean |mu|``), a unit that varies by
    0.05 around 0 (the standard deviation), means shifted to 3 (``mean(mu**2)``), a threshold of 0.25 (a hard-coded
    0.01).
    """
    def means(gen, scales, shift=0.0):
        scales = torch.tensor(scales)
        return torch.randn(400, len(scales), generator=gen) * scales + torch.as_tensor(shift)  # (400, D)

    def make(gen):
        d = int(torch.randint(2, 17, (), generator=gen))
        choice = torch.randint(0, 4, (d,), generator=gen)
        scales = torch.tensor([0.0, 0.02, 0.5, 1.5])[choice].tolist()  # variances 0, 4e-4, 0.25, 2.25
        shift = float(torch.randn((), generator=gen))
        return (means(gen, scales, shift),), {}

    gen = torch.Generator().manual_seed(92)
    cases = [("all units active", (means(gen, [1.0, 1.0, 0.5]),), {}),
             ("a dead unit held at 0.05 for every image", (means(gen, [1.0, 0.0, 0.8], [0.0, 0.05, 0.0]),), {}),
             ("a unit that varies by 0.05 around 0 (variance 0.0025)", (means(gen, [1.0, 0.0, 0.05, 0.8]),), {}),
             ("means shifted away from 0 (a variance ignores the shift)", (means(gen, [0.0, 0.5], shift=3.0),), {}),
             ("threshold = 0.25", (means(gen, [1.0, 0.2, 0.6, 0.3]),), {"threshold": 0.25})]
    cases += random_cases(make, 4, seed=93)
    def mean_square(mu, threshold=0.01):
        return int((mu.pow(2).mean(0) > threshold).sum())

    def std_count(mu, threshold=0.01):
        return int((mu.std(0) > threshold).sum())

    def mean_size(mu, threshold=0.01):  # said only where it tells this mistake from the two above
        count = int((mu.abs().mean(0) > threshold).sum())
        return None if count in (mean_square(mu, threshold), std_count(mu, threshold)) else count

    diagnoses = [
        ("You might be measuring the mean square of each unit rather than its variance: a unit whose mean is "
         "shifted away from 0 but never changes is not active.", mean_square),
        ("You might be measuring how large each unit's mean is, averaged over the images, rather than how much it "
         "changes from image to image: a unit held at the same value for every image is not active.", mean_size),
        ("Did you use the standard deviation where the variance belongs?", std_count),
        ("Your count ignores the threshold argument: it should compare with the threshold it is given, not a fixed "
         "number.", lambda mu, threshold=0.01: int((mu.var(0) > 0.01).sum())),
        ("You might be counting the inactive units (below the threshold) instead of the active ones.",
         lambda mu, threshold=0.01: int((mu.var(0) <= threshold).sum())),
    ]
    return compare(student_fn, _active_units_reference, cases, name="active_units_from_means", diagnoses=diagnoses)


def _condition_reference(v, y, num_classes=10):
    from ...models.cvae import one_hot

    return torch.cat([v.reshape(v.shape[0], -1), one_hot(y, num_classes)], dim=1)


def check_condition_on_label(student_fn: Callable) -> CheckResult:
    """Notebook 10: ``condition_on_label(v, y, num_classes=10)`` -> ``(B, K + C)``: the rows of ``v`` (flattened to
    ``(B, K)``) followed by the one-hot code of each label; how the CVAE feeds ``[x, y]`` and ``[z, y]``.

    The answer must keep ``v``'s dtype (float32 rows for float32 ``v``): a float64 one-hot code would promote the
    rows to float64, which the network's float32 layers refuse.
    """
    def make(gen):
        b = int(torch.randint(1, 9, (), generator=gen))
        k = (2, 16, 784)[int(torch.randint(0, 3, (), generator=gen))]
        return (torch.randn(b, k, generator=gen), torch.randint(0, 10, (b,), generator=gen)), {}

    cases = [("codes z (3, 2) with labels 0, 5, 9", (torch.tensor([[0.5, -1.0], [2.0, 0.0], [1.0, 1.0]]),
                                                     torch.tensor([0, 5, 9])), {}),
             ("images (2, 1, 28, 28) are flattened first", (torch.rand(2, 1, 28, 28, generator=torch.Generator()
                                                                       .manual_seed(94)), torch.tensor([3, 3])), {}),
             ("three classes only", (torch.ones(2, 4), torch.tensor([2, 0])), {"num_classes": 3})]
    cases += random_cases(make, 4, seed=95)
    diagnoses = [
        ("The label code seems to come first: the CVAE appends it after the rows of v.",
         lambda v, y, num_classes=10: _condition_reference(v, y, num_classes).roll(num_classes, dims=1)),
        ("You might be appending the label itself as one number: it goes in as a one-hot code of num_classes "
         "entries.", lambda v, y, num_classes=10: torch.cat([v.reshape(len(v), -1), y[:, None].float()], 1)),
    ]
    name = "condition_on_label"

    def keeps_dtype(v, y, num_classes=10):
        out = student_fn(v, y, num_classes)
        if isinstance(out, torch.Tensor) and out.is_floating_point() and out.dtype != v.dtype:
            raise _WrongDtype(f"wrong dtype: got {out.dtype} for v of dtype {v.dtype}: the rows must keep v's dtype "
                              f"(the network's layers take {v.dtype}), so make the one-hot code in it.")
        return out

    result = compare(keeps_dtype, _condition_reference, cases, name=name, diagnoses=diagnoses)
    if result.verdict == "FAIL" and "_WrongDtype" in result.message:
        case = result.message.split(": ", 1)[1].split(" raised", 1)[0]
        why = result.message.split("_WrongDtype: ", 1)[1].split(" Inputs:", 1)[0]
        return fail(name, f"{case}: {why.rstrip('.')}.")
    return result


class _WrongDtype(Exception):
    """The learner's rows are floats of another dtype than ``v``'s (raised inside the check, reported as a FAIL)."""


EXERCISES = (
    Exercise("cb_log_norm", check_cb_log_normalizer, _cb_reference, (
        "The continuous Bernoulli's normalizer C(lam) makes lam^x (1 - lam)^(1 - x) integrate to 1 over [0, 1]; "
        "it has a closed form in terms of atanh, and the answer is its log, elementwise.",
        "With t = 1 - 2 lam, C is a ratio whose numerator and denominator change sign together at lam = 1/2. Form "
        "the (positive) ratio first and take the log of it, not the difference of two logs; keep the input's shape.",
        "log C(λ) = log[ 2 artanh(t) / t ] with t = 1 − 2λ: one log of a positive ratio (skeleton: "
        "`torch.log(___ / ___)`)."), "07",
        replaces=("vae_course.evaluation.likelihoods.cb_log_normalizer",
                  "vae_course.evaluation.likelihoods.bernoulli_pmf_integral")),
    Exercise("best_sigma", check_optimal_sigma, _sigma_reference, (
        "For a fixed mean, -log N(x; mean, sigma^2 I) trades the squared error against log sigma; the best "
        "sigma matches the typical error per pixel, one value per image.",
        "Set the derivative with respect to sigma to zero: the optimal variance is the squared residual averaged "
        "over the D pixels of each image. Return sigma, not its square, shape (B,).",
        "s*² = (1/D) Σ_j (x_j − x̂_j)², one value per image; return s* = √(s*²), shape (B,)."), "07",
        replaces=("vae_course.evaluation.likelihoods.optimal_gaussian_sigma",)),
    Exercise("iwae_estimate", check_iwae_estimate, _iwae_reference, (
        "The bound is the log of the average importance weight, computed from the log-weights without ever "
        "leaving log space (the weights themselves underflow to 0).",
        "The log of a sum of exponentials is a logsumexp over the k samples (dim 0); dividing the sum by k to "
        "average it subtracts log k in log space.",
        "log((1/k) Σ_i e^{log w_i}) = logsumexp_i(log w_i) − log k, the logsumexp over dim 0 (the k samples)."),
        "08", replaces=("vae_course.evaluation.iwae.iwae_from_log_weights", "vae_course.evaluation.iwae.log_mean_exp",
                        "vae_course.theory.toy.log_mean_exp")),
    Exercise("local_elbo", check_local_elbo, _local_elbo_reference, (
        "The ELBO of one image's own q is E_q[log p(x, z)] + H(q): the expectation by the reparameterization with "
        "the given draws, the entropy of the diagonal Gaussian in closed form.",
        "Turn the (S, D) noise into codes z = mu + sigma * eps of shape (S, B, D) (sigma from logvar), average "
        "log_joint(z) over the S draws, and add the entropy, summed over the D dimensions of each image.",
        "ELBO_b ≈ (1/S) Σ_s log p(x_b, μ_b + σ_b ⊙ ε_s) + ½ Σ_j (log 2π + 1 + ℓ_bj), with σ = e^{ℓ/2}, ℓ = logvar; "
        "the codes have shape (S, B, D): eps gets a new axis for the images."), "08",
        replaces=("vae_course.evaluation.amortization.noise_elbo",)),
    Exercise("kl_weight", check_kl_weight, _kl_weight_reference, (
        "The KL weight grows linearly from 0 at step 0 to beta at the end of the warm-up, and then stays at beta.",
        "The fraction of the warm-up done is step / warmup_steps, capped at 1; with warmup_steps == 0 there is no "
        "warm-up, so the weight is beta from the start (never divide by zero).",
        "β_t = β · min(1, t / T) at step t of a warm-up of T steps, and β_t = β for every t when T = 0."), "09",
        replaces=("vae_course.objectives.warmup.kl_weight",)),
    Exercise("active_units_from_means", check_active_units, _active_units_reference, (
        "A unit is active when its posterior mean changes with the input: measure how much column u of mu varies "
        "over the images.",
        "Take the variance over the images (dim 0) of each column (a variance ignores a common shift), compare it "
        "with the threshold, and count the columns above it as a Python int.",
        "A_u = 1/(N − 1) Σ_n (μ_u(x_n) − μ̄_u)² with μ̄_u = (1/N) Σ_n μ_u(x_n); the answer is the number of u "
        "with A_u > threshold, as an int."), "09",
        replaces=("vae_course.evaluation.collapse.count_active_units", "vae_course.evaluation.collapse.active_units")),
    Exercise("condition_on_label", check_condition_on_label, _condition_reference, (
        "The CVAE gives the label to a network by appending its one-hot code to the network's input.",
        "Flatten v to (B, K); turn each label into a row of num_classes zeros with a 1 at the label (as floats); "
        "join the two along the feature axis, v first.",
        "Row b of the answer is [v_b flattened; e_(y_b)], with e_y ∈ {0, 1}^C the unit vector with its 1 at "
        "position y, in v's dtype: torch.cat([___, ___], dim=___)."), "10",
        replaces=("vae_course.models.cvae.one_hot", "vae_course.models.cvae.label_codes")),
)
