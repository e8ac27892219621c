"""The build exercise of notebook 14 (vae_course.teaching.exercises.diffusion): the forward marginal q(x_t | x_0)."""
import torch

from vae_course.teaching import exercises as E

from .spec import Spec, Wrong, run_spec

DIFF = "largest absolute difference"


def marginal_ok(x0, alphas, t):
    """The solved exercise."""
    abar = torch.cumprod(alphas, dim=0)[t - 1]  # (B,)
    return abar.sqrt()[:, None] * x0, (1 - abar).sqrt()[:, None]


def marginal_float32(x0, alphas, t):
    return marginal_ok(x0.float(), alphas.float(), t)


def marginal_logspace(x0, alphas, t):
    """Equivalent: the product as the exponential of a sum of logs, and a (B,) standard deviation."""
    log_abar = torch.cumsum(torch.log(alphas), 0)[t - 1]
    return torch.exp(0.5 * log_abar)[:, None] * x0, torch.sqrt(-torch.expm1(log_abar))


def marginal_loop(x0, alphas, t):
    """Equivalent: iterate the mean's factor and the variance step by step, image by image."""
    means, stds = [], []
    for i in range(x0.shape[0]):
        factor, var = 1.0, 0.0
        for s in range(int(t[i])):
            a = float(alphas[s])
            factor, var = factor * a ** 0.5, a * var + (1 - a)
        means.append(factor * x0[i])
        stds.append(var ** 0.5)
    return torch.stack(means), torch.tensor(stds, dtype=x0.dtype)[:, None]


def one_step(x0, alphas, t):
    a = alphas[t - 1]
    return a.sqrt()[:, None] * x0, (1 - a).sqrt()[:, None]


def no_sqrt_mean(x0, alphas, t):
    abar = torch.cumprod(alphas, 0)[t - 1]
    return abar[:, None] * x0, (1 - abar).sqrt()[:, None]


def variance(x0, alphas, t):
    abar = torch.cumprod(alphas, 0)[t - 1]
    return abar.sqrt()[:, None] * x0, (1 - abar)[:, None]


def sum_variances(x0, alphas, t):
    abar = torch.cumprod(alphas, 0)[t - 1]
    return abar.sqrt()[:, None] * x0, torch.cumsum(1 - alphas, 0)[t - 1].sqrt()[:, None]


def noise_product(x0, alphas, t):
    abar = torch.cumprod(1 - alphas, 0)[t - 1]
    return abar.sqrt()[:, None] * x0, (1 - abar).sqrt()[:, None]


def first_t(x0, alphas, t):
    abar = torch.cumprod(alphas, 0)[t[0] - 1]
    return abar.sqrt() * x0, (1 - abar).sqrt().expand(x0.shape[0], 1)


def off_by_one(x0, alphas, t):
    abar = torch.cumprod(alphas, 0)[torch.clamp(t, max=len(alphas) - 1)]
    return abar.sqrt()[:, None] * x0, (1 - abar).sqrt()[:, None]


def mean_only(x0, alphas, t):
    return marginal_ok(x0, alphas, t)[0]


SPEC = Spec(
    "forward_marginal", E.check_forward_marginal, marginal_ok, marginal_float32,
    [("the product in log space, a (B,) std", marginal_logspace), ("step by step, image by image", marginal_loop)],
    [Wrong("one step's alpha_t instead of abar_t", one_step, ("case 1 (", DIFF, "one step of the chain")),
     Wrong("no square root on the mean's factor", no_sqrt_mean, ("case 1 (", "mean:", DIFF, "square root")),
     Wrong("the variance instead of the std", variance, ("case 1 (", "std:", DIFF, "looks like the variance")),
     Wrong("the noise variances simply added", sum_variances, ("case 1 (", "std:", DIFF, "simply added")),
     Wrong("the product over 1 - alpha (the noise) instead of alpha", noise_product,
           ("case 1 (", "mean:", DIFF, "noise variances")),
     Wrong("the first image's t for the whole batch", first_t, ("case 1 (", "mean:", DIFF, "first image's step")),
     Wrong("t counted from 0", off_by_one, ("case 1 (", DIFF, "counts from 1")),
     Wrong("the mean alone", mean_only, ("case 1 (", "expected 2 values"))])
SPECS = [SPEC]


def test_forward_marginal_spec():
    run_spec(SPEC)


def test_pass_line_and_reference():
    assert E.check_forward_marginal(marginal_ok).message == (
        "PASS forward_marginal: all 4 cases match the reference (mean and standard deviation of q(x_t | x_0)).")
    from vae_course.models import forward_marginal

    assert E.check_forward_marginal(forward_marginal).verdict == "REFERENCE"
    assert E.EXERCISES["forward_marginal"].notebook == "14"
