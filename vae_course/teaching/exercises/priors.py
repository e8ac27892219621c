"""The exercises of notebook 11 (learned priors and the aggregate posterior): ELBO surgery's two terms from samples
(the build exercise: the aggregate posterior's log-density by logsumexp, then the two Monte-Carlo averages), the
mixture's log-density, computed with logsumexp, and the one-sample Monte-Carlo estimate of the KL term that a learned
prior needs.

Used by notebook 11 through :mod:`vae_course.teaching.exercises`.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .core import CheckResult, Exercise, compare, random_cases

F64 = torch.float64


# --- ELBO surgery's two terms from samples (the build exercise of notebook 11) --------------------------------------
def _log_q_table(z, mu, logvar):
    """log q(z_si | x_j) for every draw z_si (S, N, D) and every posterior j of mu, logvar (N, D): (S, N, N)."""
    from ...objectives.priors import diagonal_normal_log_prob

    return diagonal_normal_log_prob(z[:, :, None, :], mu, logvar)


def _surgery_reference(mu, logvar, z, log_prior):
    from ...evaluation.surgery import aggregate_log_prob
    from ...objectives.priors import diagonal_normal_log_prob

    s, n, d = z.shape
    log_q_own = diagonal_normal_log_prob(z, mu, logvar)  # (S, N): log q(z_si | x_i)
    log_q_agg = aggregate_log_prob(z.reshape(-1, d), mu, logvar).reshape(s, n)  # (S, N): log q(z_si)
    return (log_q_own - log_q_agg).mean(), (log_q_agg - log_prior).mean()


def _surgery_with(log_q_agg_fn, mu, logvar, z, log_prior, own=None):
    """The two averages with a given (possibly wrong) log q(z) table -> (S, N)."""
    from ...objectives.priors import diagonal_normal_log_prob

    log_q_own = diagonal_normal_log_prob(z, mu, logvar) if own is None else own
    log_q_agg = log_q_agg_fn(_log_q_table(z, mu, logvar))
    return (log_q_own - log_q_agg).mean(), (log_q_agg - log_prior).mean()


def _surgery_args(gen, s, n, d, spread=1.5, tail=0.0):
    mu = spread * torch.randn(n, d, generator=gen, dtype=F64)  # (N, D)
    logvar = torch.empty(n, d, dtype=F64).uniform_(-3.0, 0.5, generator=gen)  # (N, D)
    eps = torch.randn(s, n, d, generator=gen, dtype=F64)
    if tail:  # draws `tail` standard deviations out in every dimension: rare, and legal
        eps = tail * torch.sign(eps)
    z = mu + torch.exp(0.5 * logvar) * eps  # (S, N, D): z[s, i] from q(z|x_i)
    log_prior = -0.5 * (math.log(2 * math.pi) * d + z.pow(2).sum(-1))  # (S, N): the standard normal prior
    return mu, logvar, z, log_prior


def check_surgery_terms(student_fn: Callable) -> CheckResult:
    """Notebook 11: ``surgery_terms(mu, logvar, z, log_prior) -> (mutual_information, marginal_kl)``, the Monte-Carlo
    estimates of ELBO surgery's two terms: N posteriors N(mu_i, diag(exp(logvar_i))) (``mu``, ``logvar`` (N, D)),
    draws ``z`` (S, N, D) with ``z[s, i]`` from posterior i, and ``log_prior`` = log p(z) (S, N). Each estimate is the
    average over the S x N draws of log q(z|x_i) - log q(z) and of log q(z) - log p(z), with q(z) the aggregate
    posterior (1/N) sum_j q(z|x_j).

    The last case holds rare draws far out in their posterior's tail, where every q(z | x_j) underflows to 0 in
    float64, so only a log-space answer passes it.
    """
    def make(gen):
        s, n, d = (int(torch.randint(1, hi, (), generator=gen)) for hi in (5, 7, 5))
        return _surgery_args(gen, s, max(n, 2), d), {}

    gen = torch.Generator().manual_seed(113)
    toy_mu = torch.tensor([[-2.0, 0.0], [1.5, 1.0], [0.5, -2.0]], dtype=F64)
    toy_logvar = 2 * torch.log(torch.tensor([[0.5, 0.5], [1.0, 0.3], [0.3, 0.8]], dtype=F64))
    toy_z = toy_mu + torch.exp(0.5 * toy_logvar) * torch.randn(4, 3, 2, generator=gen, dtype=F64)
    toy_lp = -0.5 * (math.log(2 * math.pi) * 2 + toy_z.pow(2).sum(-1))
    cases = [
        ("three posteriors in 2-D, 4 draws each", (toy_mu, toy_logvar, toy_z, toy_lp), {}),
        ("two 1-D posteriors, one draw each, a made-up log p(z)",
         (torch.tensor([[-1.0], [2.0]], dtype=F64), torch.tensor([[0.0], [-1.0]], dtype=F64),
          torch.tensor([[[-0.5], [1.5]]], dtype=F64), torch.tensor([[-1.5, -3.0]], dtype=F64)), {}),
        *random_cases(make, 4, seed=114),
        ("draws 40 standard deviations out in 3-D (every q(z|x_j) underflows)",
         _surgery_args(gen, 2, 4, 3, spread=3.0, tail=40.0), {}),
    ]
    diagnoses = [
        ("Your log q(z) seems to add up the N posteriors' densities without averaging them: the aggregate posterior "
         "gives each image the weight 1/N.",
         lambda mu, lv, z, lp: _surgery_with(lambda t: torch.logsumexp(t, -1), mu, lv, z, lp)),
        ("Your log q(z) seems to average the N log-densities: the aggregate posterior averages the densities "
         "themselves, and only then takes the log.",
         lambda mu, lv, z, lp: _surgery_with(lambda t: t.mean(-1), mu, lv, z, lp)),
        ("Your log q(z) seems to use only the posterior of the image the draw came from: the aggregate posterior "
         "mixes the posteriors of all N images.",
         lambda mu, lv, z, lp: _surgery_with(lambda t: torch.diagonal(t, dim1=-2, dim2=-1), mu, lv, z, lp)),
        ("Your two values seem to be in the wrong order: first the mutual information, then the marginal KL.",
         lambda mu, lv, z, lp: tuple(reversed(_surgery_reference(mu, lv, z, lp)))),
        ("You might be treating logvar as the log of the standard deviation: it is the log of the variance.",
         lambda mu, lv, z, lp: _surgery_reference(mu, 2 * lv, z, lp)),
        ("Your values seem to be sums over the draws and images, not averages.",
         lambda mu, lv, z, lp: tuple(v * z.shape[0] * z.shape[1] for v in _surgery_reference(mu, lv, z, lp))),
    ]
    result = compare(student_fn, _surgery_reference, cases, name="surgery_terms", diagnoses=diagnoses,
                     names=("mutual_information", "marginal_kl"), inputs="fixed and random posteriors and draws")
    generic = " It has one more dimension than expected: you might be missing a sum over the last axis."
    if result.verdict == "FAIL" and generic in result.message:  # an average is missing, not a sum
        result = CheckResult(False, result.message.replace(
            generic, " Each of the two values is one number, the average over all the draws and all the images."),
            verdict="FAIL", exercise="surgery_terms")
    return result


def _mixture_reference(z, means, logvars, log_weights):
    from ...objectives.priors import mixture_log_prob

    return mixture_log_prob(z, means, logvars, log_weights)


def _mixture_args(gen, n, k, d, spread=2.0, far=0.0):
    z = spread * torch.randn(n, d, generator=gen, dtype=F64) + far  # (N, D)
    means = spread * torch.randn(k, d, generator=gen, dtype=F64)  # (K, D)
    logvars = torch.empty(k, d, dtype=F64).uniform_(-3.0, 1.0, generator=gen)  # (K, D)
    log_weights = torch.log_softmax(torch.randn(k, generator=gen, dtype=F64), dim=0)  # (K,)
    return z, means, logvars, log_weights


def check_mixture_log_density(student_fn: Callable) -> CheckResult:
    """Notebook 11: ``mixture_log_density(z, means, logvars, log_weights) -> (N,)``, the log-density of a mixture of
    diagonal Gaussians at each row of ``z`` (N, D); components ``means``, ``logvars`` (K, D), ``log_weights`` (K,).

    The last cases put z far from every component, where each component's density underflows to 0 in float64, so
    only a log-space (logsumexp) answer passes them.
    """
    def make(gen):
        n, k, d = (int(torch.randint(1, hi, (), generator=gen)) for hi in (7, 6, 5))
        return _mixture_args(gen, n, k, d), {}

    gen = torch.Generator().manual_seed(110)
    one = torch.zeros(1, 2, dtype=F64)
    cases = [
        ("one standard normal component in 2-D", (torch.tensor([[0.0, 0.0], [1.0, -2.0]], dtype=F64), one.clone(),
                                                  one.clone(), torch.zeros(1, dtype=F64)), {}),
        ("two 1-D components with weights 1/4 and 3/4",
         (torch.tensor([[-3.0], [0.0], [3.0]], dtype=F64), torch.tensor([[-3.0], [3.0]], dtype=F64),
          torch.log(torch.tensor([[0.25], [1.0]], dtype=F64)), torch.log(torch.tensor([0.25, 0.75], dtype=F64))), {}),
        *random_cases(make, 4, seed=111),
        ("z 60 standard deviations from every component (exp underflows)", _mixture_args(gen, 3, 4, 2, 1.0, 60.0), {}),
        ("20-D codes between narrow components (exp underflows)", _mixture_args(gen, 5, 3, 20, 3.0), {}),
    ]
    diagnoses = [
        ("You might be leaving out the mixture weights: every component counts as if it had weight 1.",
         lambda z, m, lv, lw: _mixture_reference(z, m, lv, torch.zeros_like(lw))),
        ("Your log-density looks like that of a single component (the one that is largest at z) rather than the "
         "whole mixture: the mixture adds the weighted densities of all components.",
         lambda z, m, lv, lw: torch.stack([_mixture_reference(z, m[j:j + 1], lv[j:j + 1], lw[j:j + 1])
                                           for j in range(len(lw))]).max(0).values),
        ("You might be treating logvars as the log of the standard deviation: it is the log of the variance.",
         lambda z, m, lv, lw: _mixture_reference(z, m, 2 * lv, lw)),
        ("You might be averaging the log-densities of the components: the mixture averages the densities "
         "themselves (weighted), and only then takes the log.",
         lambda z, m, lv, lw: (torch.stack([_mixture_reference(z, m[j:j + 1], lv[j:j + 1], torch.zeros(1, dtype=lw.dtype))
                                            for j in range(len(lw))]) * lw.exp()[:, None]).sum(0)),
    ]
    return compare(student_fn, _mixture_reference, cases, name="mixture_log_density", diagnoses=diagnoses)


def _mc_kl_reference(mu, logvar, z, log_prior):
    from ...objectives.priors import diagonal_normal_log_prob

    return diagonal_normal_log_prob(z, mu, logvar) - log_prior


def check_mc_kl(student_fn: Callable) -> CheckResult:
    """Notebook 11: ``mc_kl(mu, logvar, z, log_prior) -> (B,)``, the one-sample Monte-Carlo estimate of
    KL(q(z|x) || p(z)) at a draw ``z`` (B, D) of q(z|x) = N(mu, diag(exp(logvar))), given ``log_prior`` = log p(z),
    (B,)."""
    def make(gen):
        b, d = int(torch.randint(1, 7, (), generator=gen)), int(torch.randint(1, 21, (), generator=gen))
        mu = torch.randn(b, d, generator=gen, dtype=F64)
        logvar = torch.empty(b, d, dtype=F64).uniform_(-6.0, 1.0, generator=gen)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(b, d, generator=gen, dtype=F64)
        return (mu, logvar, z, -0.5 * (math.log(2 * math.pi) * d + z.pow(2).sum(1)) + torch.randn(b, generator=gen,
                                                                                                 dtype=F64)), {}

    cases = [
        ("z at the posterior mean, 1-D", (torch.tensor([[1.0]], dtype=F64), torch.tensor([[0.0]], dtype=F64),
                                          torch.tensor([[1.0]], dtype=F64), torch.tensor([-2.0], dtype=F64)), {}),
        ("two images in 2-D, sigma = 0.5", (torch.tensor([[0.0, 1.0], [2.0, -1.0]], dtype=F64),
                                            torch.full((2, 2), math.log(0.25), dtype=F64),
                                            torch.tensor([[0.5, 1.0], [2.0, 0.0]], dtype=F64),
                                            torch.tensor([-3.0, -4.5], dtype=F64)), {}),
        *random_cases(make, 5, seed=112),
    ]
    gauss = _mc_kl_reference
    diagnoses = [
        ("Your sign seems flipped: the estimate is the log-density of the posterior minus that of the prior.",
         lambda mu, lv, z, lp: -gauss(mu, lv, z, lp)),
        ("You might be treating logvar as the log of the standard deviation: it is the log of the variance.",
         lambda mu, lv, z, lp: gauss(mu, 2 * lv, z, lp)),
        ("Your log q(z|x) seems to miss its normalizing constant (the log 2 pi and log-variance terms).",
         lambda mu, lv, z, lp: -0.5 * ((z - mu).pow(2) * torch.exp(-lv)).sum(1) - lp),
        ("That looks like the closed-form KL to N(0, I): with a learned prior the KL has no closed form, and the "
         "estimate must use the given log_prior.",
         lambda mu, lv, z, lp: -0.5 * (1 + lv - mu.pow(2) - lv.exp()).sum(1)),
    ]
    return compare(student_fn, _mc_kl_reference, cases, name="mc_kl", diagnoses=diagnoses)


EXERCISES = (
    Exercise("surgery_terms", check_surgery_terms, _surgery_reference, (
        "Both terms are averages, over the images i and the draws z from q(z|x_i), of a difference of two "
        "log-densities at z. Two of the three log-densities are at hand; the new one is the aggregate posterior's, "
        "log q(z), the log of an equal-weight mixture of the N posteriors.",
        "For every draw (S, N of them) evaluate the log-density under every one of the N posteriors, an (S, N, N) "
        "table (broadcast the draws against the posteriors, sum the per-dimension terms over D). Combine the last "
        "axis with a logsumexp and subtract log N to get log q(z). The posterior a draw came from is the diagonal "
        "of that table. Then average the two differences over all draws.",
        "With `a_sij = −½ Σ_d ( log 2π + ℓ_jd + (z_sid − μ_jd)² / exp(ℓ_jd) )`: "
        "`log q(z_si) = logsumexp_j a_sij − log N`, `Î_q = mean_si ( a_sii − log q(z_si) )`, "
        "`KL̂ = mean_si ( log q(z_si) − log p(z_si) )`."), "11",
        replaces=("vae_course.evaluation.surgery.aggregate_log_prob", "vae_course.evaluation.surgery.elbo_surgery",
                  "vae_course.evaluation.surgery.hole_mass", "vae_course.evaluation.latent_space.log_aggregate_posterior",
                  "vae_course.evaluation.latent_space.prior_hole_mass", "vae_course.objectives.priors.mixture_log_prob")),
    Exercise("mixture_log_density", check_mixture_log_density, _mixture_reference, (
        "A mixture's density is the weighted sum of its components' densities. Work with logs throughout: far "
        "from the components every density underflows to 0, but its log is a fine finite number.",
        "For every z and every component k, compute log w_k + log N(z; m_k, diag(exp(logvar_k))) as an (N, K) "
        "table, summing the per-dimension terms over D; then combine the K columns with a logsumexp over k.",
        "With m_k, ℓ_k the k-th rows of means and logvars: `log p(z_n) = logsumexp_k [ log w_k "
        "− ½ Σ_d ( log 2π + ℓ_kd + (z_nd − m_kd)² / exp(ℓ_kd) ) ]`, one value per row n of z."), "11",
        replaces=("vae_course.objectives.priors.mixture_log_prob",)),
    Exercise("mc_kl", check_mc_kl, _mc_kl_reference, (
        "KL(q || p) is the expectation under q of log q(z|x) - log p(z); one draw z from q gives an unbiased "
        "estimate of it.",
        "Evaluate the diagonal Gaussian log-density of z under N(mu, diag(exp(logvar))), summed over the D "
        "dimensions (with its -1/2 log 2 pi and -1/2 logvar terms), and subtract the prior's log-density.",
        "With ℓ = logvar: `KL̂ = −½ Σ_d ( log 2π + ℓ_d + (z_d − μ_d)² / exp(ℓ_d) ) − log p(z)`, "
        "one value per row of z."), "11",
        replaces=("vae_course.objectives.priors.diagonal_normal_log_prob", "vae_course.objectives.priors.prior_kl")),
)
