"""The exercises of notebook 11 (vae_course.teaching.exercises.priors): the mixture's log-density and the Monte-Carlo KL."""
import math

import pytest
import torch

from vae_course.objectives import priors
from vae_course.teaching import exercises as E

from .spec import Spec, Wrong, in_dtype, run_spec

F32, F64 = torch.float32, torch.float64
DIFF = "largest absolute difference"
LOG_2PI = math.log(2 * math.pi)


def mixture_ok(z, means, logvars, log_weights):
    comp = -0.5 * (LOG_2PI + logvars + (z[:, None] - means).pow(2) / logvars.exp()).sum(-1)  # (N, K)
    return torch.logsumexp(comp + log_weights, dim=1)


def mixture_by_distributions(z, means, logvars, log_weights):
    normal = torch.distributions.Normal(means, torch.exp(0.5 * logvars))  # batch (K, D)
    return torch.logsumexp(normal.log_prob(z[:, None]).sum(-1) + log_weights, dim=1)


def mixture_by_max_shift(z, means, logvars, log_weights):
    a = -0.5 * (LOG_2PI + logvars + (z[:, None] - means).pow(2) * torch.exp(-logvars)).sum(-1) + log_weights
    m = a.max(dim=1, keepdim=True).values
    return (m + torch.log(torch.exp(a - m).sum(dim=1, keepdim=True)))[:, 0]


def mixture_naive(z, means, logvars, log_weights):  # the density itself, then its log: underflows
    comp = torch.exp(-0.5 * (LOG_2PI + logvars + (z[:, None] - means).pow(2) / logvars.exp()).sum(-1))
    return torch.log((comp * log_weights.exp()).sum(1))


def mc_kl_ok(mu, logvar, z, log_prior):
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(1) - log_prior


SPECS = [
    Spec("mixture_log_density", E.check_mixture_log_density, mixture_ok, in_dtype(mixture_ok, F32),
         [("torch.distributions.Normal", mixture_by_distributions), ("hand-written max shift", mixture_by_max_shift),
          ("the package's mixture_log_prob", priors.mixture_log_prob)],
         [Wrong("the density, then its log (underflows far away)", mixture_naive,
                ("case 7 (z 60 standard deviations", DIFF, "inf or NaN")),
          Wrong("weights left out", lambda z, m, lv, lw: mixture_ok(z, m, lv, torch.zeros_like(lw)),
                ("case 2 (two 1-D components", DIFF, "leaving out the mixture weights")),
          Wrong("the largest component only", lambda z, m, lv, lw: (
              -0.5 * (LOG_2PI + lv + (z[:, None] - m).pow(2) / lv.exp()).sum(-1) + lw).max(1).values,
                ("case 3 (", DIFF, "single component")),
          Wrong("logvars read as log sigma", lambda z, m, lv, lw: mixture_ok(z, m, 2 * lv, lw),
                ("case 2 (", DIFF, "log of the variance")),
          Wrong("the weighted mean of the log-densities", lambda z, m, lv, lw: (
              (-0.5 * (LOG_2PI + lv + (z[:, None] - m).pow(2) / lv.exp()).sum(-1)) * lw.exp()).sum(1),
                ("case 2 (", DIFF, "averaging the log-densities")),
          Wrong("logsumexp over the wrong axis", lambda z, m, lv, lw: torch.logsumexp(
              -0.5 * (LOG_2PI + lv + (z[:, None] - m).pow(2) / lv.exp()).sum(-1) + lw, dim=0),
                ("case 1 (", "wrong shape")),
          Wrong("no broadcast over the components", lambda z, m, lv, lw: torch.logsumexp(
              -0.5 * (LOG_2PI + lv + (z - m).pow(2) / lv.exp()).sum(-1) + lw, dim=0),
                ("case 1 (", "wrong shape"))]),
    Spec("mc_kl", E.check_mc_kl, mc_kl_ok, in_dtype(mc_kl_ok, F32),
         [("torch.distributions", lambda mu, lv, z, lp: torch.distributions.Normal(mu, torch.exp(0.5 * lv))
           .log_prob(z).sum(1) - lp),
          ("the package's prior_kl route", lambda mu, lv, z, lp: priors.diagonal_normal_log_prob(z, mu, lv) - lp)],
         [Wrong("the sign flipped", lambda mu, lv, z, lp: -mc_kl_ok(mu, lv, z, lp), ("case 1 (", DIFF, "sign")),
          Wrong("logvar read as log sigma", lambda mu, lv, z, lp: mc_kl_ok(mu, 2 * lv, z, lp),
                ("case 2 (", DIFF, "log of the variance")),
          Wrong("no normalizing constant", lambda mu, lv, z, lp: -0.5 * ((z - mu).pow(2) / lv.exp()).sum(1) - lp,
                ("case 1 (", DIFF, "normalizing constant")),
          Wrong("the closed-form KL to N(0, I)", lambda mu, lv, z, lp: -0.5 * (1 + lv - mu.pow(2) - lv.exp()).sum(1),
                ("case 1 (", DIFF, "closed-form KL")),
          Wrong("not summed over the dimensions", lambda mu, lv, z, lp: -0.5 * (LOG_2PI + lv + (z - mu).pow(2)
                                                                                / lv.exp()) - lp[:, None],
                ("wrong shape",))]),
]


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_spec(spec):
    run_spec(spec)


def test_the_exercises_are_registered_for_notebook_11():
    for name in ("mixture_log_density", "mc_kl"):
        ex = E.EXERCISES[name]
        assert ex.notebook == "11" and E.exercise_of_checker(ex.check.__name__) == name
        assert E.mine_or_reference(lambda *a: (_ for _ in ()).throw(NotImplementedError()), name) is ex.reference


def test_the_mc_kl_reference_averages_to_the_closed_form_under_the_standard_prior():
    gen = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(3, 4, generator=gen, dtype=F64), 0.5 * torch.randn(3, 4, generator=gen, dtype=F64)
    s = 40000
    z = mu + torch.exp(0.5 * logvar) * torch.randn(s, 3, 4, generator=gen, dtype=F64)  # (S, B, D)
    log_prior = priors.StandardNormalPrior(4).log_prob(z.reshape(-1, 4)).reshape(s, 3)
    draws = torch.stack([E.EXERCISES["mc_kl"].reference(mu, logvar, z[i], log_prior[i]) for i in range(s)])
    exact = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
    assert ((draws.mean(0) - exact).abs() < 4 * draws.std(0) / math.sqrt(s)).all()
