"""The build exercises of notebooks 07 and 08 (vae_course.teaching.exercises.bounds): the continuous Bernoulli's mean
everywhere on (0, 1), and the plain and control-variate estimates of k * gap with their standard errors."""
import math

import pytest
import torch

from vae_course.teaching import exercises as E
from vae_course.teaching.exercises import bounds as BD

from .spec import Spec, Wrong, in_dtype, run_spec

F32, F64 = torch.float32, torch.float64
DIFF = "largest absolute difference"


def cb_mean_ok(lam):
    """The solved exercise: the closed form away from 1/2, the series near it, no NaN formed anywhere."""
    t = 1 - 2 * lam
    small = t.abs() < 1e-2
    t_safe = torch.where(small, torch.full_like(t, 0.5), t)
    lam_safe = (1 - t_safe) / 2
    closed = lam_safe / (2 * lam_safe - 1) + 1 / (2 * torch.atanh(t_safe))
    return torch.where(small, 0.5 - t / 6 - 2 * t.pow(3) / 45, closed)


def cb_mean_from_eta(lam):
    """Equivalent: lam / (2 lam - 1) - 1 / eta with eta = logit(lam); the series up to t^3 for |t| < 0.05."""
    t = 1 - 2 * lam
    small = t.abs() < 0.05
    lam_safe = torch.where(small, torch.full_like(lam, 0.25), lam)
    eta = torch.log(lam_safe) - torch.log1p(-lam_safe)
    return torch.where(small, 0.5 - t / 6 - 2 * t.pow(3) / 45, lam_safe / (2 * lam_safe - 1) - 1 / eta)


def cb_mean_float64_inside(lam):
    """Equivalent: compute in float64 whatever comes in (a branch only at exactly 1/2), cast back."""
    l64 = lam.double()
    t = 1 - 2 * l64
    exact = l64 / (2 * l64 - 1) + 1 / (2 * torch.atanh(torch.where(t == 0, torch.ones_like(t), t)))
    return torch.where(t.abs() < 1e-6, 0.5 - t / 6, exact).to(lam.dtype)


def closed_only(lam):
    return lam / (2 * lam - 1) + 1 / (2 * torch.atanh(1 - 2 * lam))


def exact_at_half_only(lam):  # fixes lam = 1/2 itself, but computes the closed form in the input's dtype
    return torch.where(lam == 0.5, torch.full_like(lam, 0.5), closed_only(torch.where(lam == 0.5, 0.25, lam)))


CB_SPEC = Spec(
    "continuous_bernoulli_mean", E.check_cb_mean, cb_mean_ok, in_dtype(cb_mean_ok, F32),
    [("lam / (2 lam - 1) - 1 / logit(lam), series for |t| < 0.05", cb_mean_from_eta),
     ("everything in float64, a branch only at 1/2", cb_mean_float64_inside),
     ("the series up to t only, for |t| < 0.003", lambda lam: torch.where(
         (1 - 2 * lam).abs() < 3e-3, 0.5 - (1 - 2 * lam) / 6, closed_only(torch.where(
             (1 - 2 * lam).abs() < 3e-3, torch.full_like(lam, 0.25), lam))))],
    [Wrong("lam itself (the Bernoulli's mean)", lambda lam: lam.clone(), ("case 1 (", DIFF, "That is lam itself")),
     Wrong("the second term's sign flipped", lambda lam: lam / (2 * lam - 1) - 1 / (2 * torch.atanh(1 - 2 * lam)),
           ("case 1 (", DIFF, "wrong sign")),
     Wrong("the factor 2 of artanh forgotten", lambda lam: lam / (2 * lam - 1) + 1 / torch.atanh(1 - 2 * lam),
           ("case 1 (", DIFF, "factor 2 in front of artanh")),
     Wrong("the closed form only (NaN or inf at 1/2)", closed_only,
           ("case 3 (lam = 1/2 exactly", "inf or NaN at lam = [0.5]", "divides by zero")),
     Wrong("1/2 patched, but the closed form in float32 near 1/2", exact_at_half_only,
           ("case 5 (lam within 1e-3 of 1/2 (float32)", DIFF, "right in float64, but in float32")),
     Wrong("the series everywhere", lambda lam: 0.5 - (1 - 2 * lam) / 6 - 2 * (1 - 2 * lam) ** 3 / 45,
           ("case 1 (", DIFF, "follow the series")),
     Wrong("the series with its signs flipped near 1/2", lambda lam: torch.where(
         (1 - 2 * lam).abs() < 1e-2, 0.5 + (1 - 2 * lam) / 6 + 2 * (1 - 2 * lam) ** 3 / 45, cb_mean_ok(lam)),
           ("case 4 (lam within 1e-3 of 1/2 (float64)", DIFF, "moves the wrong way")),
     Wrong("a Python list", lambda lam: cb_mean_ok(lam).tolist(), ("case 1 (", "wrong type"))])


def k_gap_ok(log_w, log_px):
    """The solved exercise."""
    r, k = log_w.shape
    u = torch.logsumexp(log_w, dim=1) - math.log(k) - log_px  # (R,) log p_hat_k - log p(x)
    excess = torch.expm1(u) - u  # (R,) delta - log(1 + delta) >= 0
    return k * (-u).mean(), k * u.std() / math.sqrt(r), k * excess.mean(), k * excess.std() / math.sqrt(r)


def k_gap_floats_biased(log_w, log_px):
    """Equivalent: Python floats, a hand-written max shift, standard errors with the divisor R."""
    r, k = log_w.shape
    m = log_w.max(dim=1, keepdim=True).values
    draws = m[:, 0] + torch.log(torch.exp(log_w - m).mean(dim=1))
    delta = torch.exp(draws - log_px) - 1
    excess = delta - torch.log1p(delta)
    return (float(k * (log_px - draws).mean()), float(k * draws.std(unbiased=False) / math.sqrt(r)),
            float(k * excess.mean()), float(k * excess.std(unbiased=False) / math.sqrt(r)))


def k_gap_variant(*, draws=None, excess=None, se_root=True, per_sample=False, plain_sign=1.0):
    def wrong(log_w, log_px):
        r, k = log_w.shape
        d = torch.logsumexp(log_w, dim=1) - math.log(k) if draws is None else draws(log_w)
        u = d - log_px
        ex = torch.expm1(u) - u if excess is None else excess(u)
        root = math.sqrt(r) if se_root else 1.0
        kk = 1 if per_sample else k
        return plain_sign * kk * (-u).mean(), kk * u.std() / root, kk * ex.mean(), kk * ex.std() / root
    return wrong


GAP_SPEC = Spec(
    "k_gap_estimates", E.check_k_gap_estimates, k_gap_ok,
    lambda log_w, log_px: tuple(v.double() for v in k_gap_ok(log_w.double(), log_px)),  # inputs are float64 already
    [("floats, a hand-written max shift, the divisor R", k_gap_floats_biased),
     ("a list of four 0-d tensors", lambda log_w, log_px: list(k_gap_ok(log_w, log_px)))],
    [Wrong("the gap, not k times it", k_gap_variant(per_sample=True),
           ("case 2 (the toy", DIFF, "1/k of the")),
     Wrong("standard deviations, not standard errors", k_gap_variant(se_root=False),
           ("case 1 (", "its standard error: largest absolute difference", "sqrt(R) times too large")),
     Wrong("delta^2 / 2, the small-delta approximation", k_gap_variant(excess=lambda u: torch.expm1(u) ** 2 / 2),
           ("case 1 (", "control-variate k * gap: largest absolute difference", "small-delta approximation")),
     Wrong("log(1 + delta) - delta, the wrong sign", k_gap_variant(excess=lambda u: u - torch.expm1(u)),
           ("case 1 (", DIFF, "wrong sign: each of its terms is >= 0")),
     Wrong("the control variate left out (the plain column twice)", k_gap_variant(excess=lambda u: -u),
           ("case 1 (", DIFF, "equals the plain one")),
     Wrong("the mean log-weight as log p_hat_k", k_gap_variant(draws=lambda w: w.mean(dim=1)),
           ("case 2 (the toy", DIFF, "average the log-weights")),
     Wrong("the plain gap's sign flipped", k_gap_variant(plain_sign=-1.0),
           ("case 1 (", "the plain k * gap: largest absolute difference", "plain estimate has the wrong sign")),
     Wrong("the weights themselves (underflow at -800)", k_gap_variant(
         draws=lambda w: torch.log(torch.exp(w).mean(dim=1))), ("case 3 (k = 100, R = 60", "inf or NaN",
                                                                "stay in log space")),
     Wrong("three values (no standard error of the plain estimate)",
           lambda lw, lp: (lambda a, b, c, d: (a, c, d))(*k_gap_ok(lw, lp)), ("case 1 (", "expected 4 values"))])


@pytest.mark.parametrize("spec", [CB_SPEC, GAP_SPEC], ids=lambda s: s.name)
def test_exercise(spec):
    run_spec(spec)


def test_cb_reference_is_torchs_mean_and_the_numerical_integral():
    """The checker's truth is the mean of the continuous Bernoulli: torch's .mean away from 1/2, the integral
    of x times the density everywhere (including lam = 1/2, where the closed form is 0/0)."""
    lam = torch.tensor([0.01, 0.2, 0.4999, 0.5, 0.5003, 0.8, 0.99], dtype=F64)
    want = BD._cb_mean_exact(lam)
    far = (lam - 0.5).abs() > 0.01
    assert torch.allclose(want[far], torch.distributions.ContinuousBernoulli(probs=lam[far]).mean, atol=1e-10)
    x = torch.linspace(0, 1, 200_001, dtype=F64)
    density = torch.distributions.ContinuousBernoulli(probs=lam[:, None]).log_prob(x).exp()  # (7, G)
    assert torch.allclose(want, torch.trapezoid(x * density, x, dim=1), atol=1e-8)


def test_k_gap_reference_on_the_toy_recovers_rho_over_2():
    """On the toy of notebook 08, the control-variate k * gap at k = 200 is rho / 2 within 4 standard errors, and
    its standard error is far below the plain one's (the point of the control variate)."""
    from vae_course.theory import LinearGaussian

    toy = LinearGaussian(w=2.0, b=0.5, s=0.5)
    x = torch.tensor(3.0, dtype=F64)
    m, s = toy.posterior(x)
    qm, qs = m + s, 1.5 * s
    grid = torch.linspace(-12, 12, 200_001, dtype=F64)
    from vae_course.theory import normal_log_prob
    rho = torch.trapezoid(torch.exp(2 * toy.log_posterior(x, grid) - normal_log_prob(grid, qm, qs)), grid).item() - 1
    gen = torch.Generator().manual_seed(0)
    log_w = toy.log_weights(x, toy.sample_q(qm, qs, 500 * 200, gen).reshape(500, 200), qm, qs)
    plain, plain_se, cv, cv_se = BD._k_gap_reference(log_w, toy.log_marginal(x).item())
    assert abs(cv - rho / 2) < 4 * cv_se and cv_se < plain_se / 5


def test_pass_lines():
    assert E.check_cb_mean(cb_mean_ok).message == (
        "PASS continuous_bernoulli_mean: all 10 cases match the reference (float64 and float32, at and near 1/2).")
    assert E.check_k_gap_estimates(k_gap_ok).message == (
        "PASS k_gap_estimates: all 6 cases match the reference (lognormal and toy log-weights).")


def test_handing_the_work_to_the_package_is_not_a_pass():
    from vae_course.evaluation import cb_mean

    assert E.check_cb_mean(lambda lam: cb_mean(lam)).verdict == "REFERENCE"
    assert E.check_k_gap_estimates(BD._k_gap_reference).verdict == "REFERENCE"
