"""The build exercises of notebooks 09 and 10 (vae_course.teaching.exercises.collapse_cvae): the free-bits objective
that fit trains with, and the CVAE's bound on log p(x) by summing over the labels."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from vae_course.objectives import ELBOTerms
from vae_course.teaching import exercises as E
from vae_course.teaching.exercises import collapse_cvae as CC

from .spec import Spec, Wrong, run_spec

DIFF = "largest absolute difference"


# --- free_bits_objective ---
def free_bits_kl(mu, logvar, free_bits):
    kl_dims = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)  # (B, D)
    return torch.clamp(kl_dims.mean(0), min=free_bits).sum()


def free_bits_objective(model, x, y=None, free_bits=0.25):
    """The solved exercise."""
    flat = x.reshape(len(x), -1)  # (B, 784)
    mu, logvar = model.encode(flat)
    z = model.reparameterize(mu, logvar)
    logits = model.decode_logits(z)
    recon = F.binary_cross_entropy_with_logits(logits, flat, reduction="none").sum(1)  # (B,)
    kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)  # (B,)
    return ELBOTerms(recon, kl, recon + free_bits_kl(mu, logvar, free_bits))


def fbo_f64(model, x, y=None, free_bits=0.25):
    """The same terms computed in float64 after the pass (a plain tuple, which fit accepts too)."""
    flat = x.reshape(len(x), -1)
    mu, logvar = model.encode(flat)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    logits = model.decode_logits(z).double()
    mu, logvar, flat = mu.double(), logvar.double(), flat.double()
    recon = (F.softplus(logits) - flat * logits).sum(1)
    kl_dims = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)
    return recon, kl_dims.sum(1), recon + torch.maximum(kl_dims.mean(0), torch.tensor(float(free_bits))).sum()


def fbo_distributions(model, x, y=None, free_bits=0.25):
    """torch.distributions for the KL, the package's reparameterize, the batch mean as a sum over B."""
    flat = x.flatten(1)
    mu, logvar = model.encode(flat)
    z = model.reparameterize(mu, logvar)
    recon = F.binary_cross_entropy_with_logits(model.decode_logits(z), flat, reduction="none").sum(-1)
    kl_dims = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    return ELBOTerms(recon, kl_dims.sum(-1), recon + (kl_dims.sum(0) / len(flat)).clamp(min=free_bits).sum())


def fbo_variant(total=None, kl=None, noise=True, flatten=True, detach=False):
    def objective(model, x, y=None, free_bits=0.25):
        flat = x.reshape(len(x), -1)
        mu, logvar = model.encode(flat)
        z = model.reparameterize(mu, logvar) if noise else mu
        logits = model.decode_logits(z)
        recon = F.binary_cross_entropy_with_logits(logits, flat if flatten else x, reduction="none").sum(1)
        kl_dims = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)
        term = torch.clamp(kl_dims.mean(0), min=free_bits).sum()
        if detach:
            term = term.detach()
        per_image_kl = kl(kl_dims, term, free_bits) if kl else kl_dims.sum(1)
        return ELBOTerms(recon, per_image_kl, total(recon, kl_dims, term, free_bits) if total else recon + term)
    return objective


# --- cvae_log_px_bound ---
def cvae_log_px_bound(model, x, eps, log_p_y):
    """The solved exercise."""
    flat = x.reshape(len(x), -1)
    columns = []
    for label in range(model.num_classes):
        y = torch.full((len(flat),), label)
        mu, logvar = model.encode(flat, y)
        z = mu + torch.exp(0.5 * logvar) * eps
        logits = model.decode_logits(z, y)
        log_lik = -F.binary_cross_entropy_with_logits(logits, flat, reduction="none").sum(1)
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)
        columns.append(log_lik - kl)
    return torch.logsumexp(torch.stack(columns, 1) + log_p_y, dim=1)


def bound_f64(model, x, eps, log_p_y):
    """The ELBOs in float64 and a hand-written max shift; one-hot rows as the labels."""
    flat = x.flatten(1)
    c = model.num_classes
    table = []
    for label in range(c):
        rows = F.one_hot(torch.full((len(flat),), label), c).float()  # label_codes accepts one-hot rows
        mu, logvar = model.encode(flat, rows)
        z = mu + (0.5 * logvar).exp() * eps
        logits = model.decode_logits(z, rows).double()
        mu, logvar = mu.double(), logvar.double()
        table.append((flat.double() * logits - F.softplus(logits)).sum(1)
                     - 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1))
    a = torch.stack(table, 1) + log_p_y.double()
    m = a.max(1, keepdim=True).values
    return (m + (a - m).exp().sum(1, keepdim=True).log()).squeeze(1)


def bound_variant(combine=None, kl_sign=-1.0, noise=True, std=True):
    def bound(model, x, eps, log_p_y):
        table = CC._cvae_elbos(model, x, eps, noise=noise, std=std, kl_sign=kl_sign)
        return combine(table, log_p_y) if combine else torch.logsumexp(table + log_p_y, 1)
    return bound


# --- unit_variances ---
def unit_variances(model, images, batch_size=500):
    """The solved exercise: keep each batch's means, then one variance over all of them."""
    with torch.no_grad():
        mus = [model.encode(images[i:i + batch_size])[0] for i in range(0, len(images), batch_size)]
    return torch.cat(mus).var(dim=0, unbiased=False)


def uv_running_sums(model, images, batch_size=500):
    """Running sums of mu and mu^2 in float64, the unbiased divisor N - 1."""
    n, s1, s2 = 0, 0.0, 0.0
    for start in range(0, len(images), batch_size):
        with torch.no_grad():
            mu = model.encode(images[start:start + batch_size])[0].double()
        n, s1, s2 = n + len(mu), s1 + mu.sum(0), s2 + (mu ** 2).sum(0)
    return (s2 - s1 ** 2 / n) / (n - 1)


def uv_welford(model, images, batch_size=500):
    """Chan et al.'s pairwise update of mean and M2, float32 throughout."""
    n, mean, m2 = 0, None, None
    for start in range(0, len(images), batch_size):
        with torch.no_grad():
            mu = model.encode(images[start:start + batch_size])[0]
        b, bm = len(mu), mu.mean(0)
        bm2 = ((mu - bm) ** 2).sum(0)
        if mean is None:
            n, mean, m2 = b, bm, bm2
        else:
            delta = bm - mean
            m2 = m2 + bm2 + delta ** 2 * n * b / (n + b)
            mean = mean + delta * b / (n + b)
            n += b
    return m2 / n


def uv_variant(stat, batch=None):
    def fn(model, images, batch_size=500):
        size = batch or batch_size
        with torch.no_grad():
            mus = [model.encode(images[i:i + size])[0] for i in range(0, len(images), size)]
        return stat(mus)
    return fn


SPECS = [
    Spec("unit_variances", E.check_unit_variances, unit_variances, uv_running_sums,
         [("Welford/Chan pairwise updates in float32", uv_welford),
          ("the unbiased variance of the kept means", uv_variant(lambda mus: torch.cat(mus).var(0)))],
         [Wrong("the mean of the batches' variances", uv_variant(lambda mus: torch.stack(
             [m.var(0, unbiased=False) for m in mus]).mean(0)), ("case 1 (", DIFF, "each batch's own variance")),
          Wrong("the last batch left out", uv_variant(lambda mus: torch.cat(mus[:-1]).var(0, unbiased=False)),
                ("case 1 (", DIFF, "last batch seems to be left out")),
          Wrong("mean of mu^2", uv_variant(lambda mus: torch.cat(mus).pow(2).mean(0)), ("case 1 (", DIFF, "mean square")),
          Wrong("E[mu^2] - E[mu]^2 in float32", uv_variant(lambda mus: torch.cat(mus).pow(2).mean(0)
                                                         - torch.cat(mus).mean(0) ** 2),
                ("case 3 (", DIFF, "cancellation")),
          Wrong("all images in one call", uv_variant(lambda mus: torch.cat(mus).var(0), batch=10 ** 6),
                ("case 1 (", "encoded 1000 images in one call"))]),

    Spec("free_bits_objective", E.check_free_bits_objective, free_bits_objective, fbo_f64,
         [("torch.distributions KL, flatten(1), a sum over the batch divided by B", fbo_distributions)],
         [Wrong("the plain negative ELBO as total", fbo_variant(total=lambda r, k, t, fb: r + k.sum(1)),
                ("case 1 (", "total: " + DIFF, "free-bits term")),
          Wrong("each image's KL clamped", fbo_variant(total=lambda r, k, t, fb: r + k.clamp(min=fb).sum(1)),
                ("case 1 (", "total: " + DIFF, "clamping each image's KL")),
          Wrong("the clamped term reported as kl", fbo_variant(kl=lambda k, t, fb: t.expand(len(k))),
                ("case 1 (", "kl: " + DIFF, "plain KL")),
          Wrong("z = mu (no noise)", fbo_variant(noise=False), ("case 1 (", "recon: " + DIFF, "ignores the noise")),
          Wrong("one total for the batch", fbo_variant(total=lambda r, k, t, fb: r.mean() + t),
                ("case 1 (", "total: wrong shape: got (), expected (4,)")),
          Wrong("images not flattened for the BCE", fbo_variant(flatten=False),
                ("case 2 (VAE 784-400-2", "raised", "Flatten the images")),
          Wrong("the free-bits term cut off from the gradient", fbo_variant(detach=True),
                ("case 5 (one epoch of fit", "takes other steps", "cut off from the gradient"))]),
    Spec("cvae_log_px_bound", E.check_cvae_log_px_bound, cvae_log_px_bound, bound_f64,
         [("the package's ELBOTerms through elbo()", lambda m, x, e, lp: torch.logsumexp(torch.stack(
             [(lambda y: (lambda mu, lv: __import__("vae_course").objectives.elbo(
                 m.decode_logits(mu + (0.5 * lv).exp() * e, y), x, mu, lv).elbo)(*m.encode(x, y)))(
                 torch.full((len(x),), c)) for c in range(m.num_classes)], 1) + lp, 1))],
         [Wrong("log p(y) left out", bound_variant(lambda L, lp: torch.logsumexp(L, 1)),
                ("case 1 (", DIFF, "log prior of the labels seems to be missing")),
          Wrong("equally likely labels assumed", bound_variant(lambda L, lp: torch.logsumexp(L, 1) - math.log(L.shape[1])),
                ("case 2 (", DIFF, "equally likely labels")),
          Wrong("the p(y)-weighted mean of the ELBOs", bound_variant(lambda L, lp: (lp.exp() * L).sum(1)),
                ("case 1 (", DIFF, "looser one")),
          Wrong("the largest term only", bound_variant(lambda L, lp: (L + lp).max(1).values),
                ("case 1 (", DIFF, "largest of the labels' terms")),
          Wrong("log of the sum of p(y) exp(L): underflows", bound_variant(lambda L, lp: (lp.exp() * L.exp()).sum(1).log()),
                ("case 1 (", DIFF, "inf or NaN")),
          Wrong("+ KL", bound_variant(kl_sign=1.0), ("case 1 (", DIFF, "KL seems to have the wrong sign")),
          Wrong("z = mu", bound_variant(noise=False), ("case 1 (", DIFF, "ignores the noise eps")),
          Wrong("the variance as sigma", bound_variant(std=False), ("case 1 (", DIFF, "variance where the standard")),
          Wrong("logsumexp over the images", bound_variant(lambda L, lp: torch.logsumexp(L + lp, 0)),
                ("case 1 (", "wrong shape: got (10,), expected (3,)"))]),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_exercise(spec):
    run_spec(spec)


def test_free_bits_objective_reference_is_elbo_free_bits():
    """The reference's terms are those ELBO(free_bits=...) trains with (the same noise), and their mean total the
    batch-mean recon plus the free-bits term."""
    from vae_course.objectives import ELBO

    model, x, _, fb = CC._fb_cases()[1][1]
    torch.manual_seed(3)
    want = ELBO(free_bits=fb)(model, x.reshape(len(x), -1), None)
    torch.manual_seed(3)
    got = CC._free_bits_objective_reference(model, x, None, free_bits=fb)
    assert all(torch.allclose(g, w) for g, w in zip(got, want))


def test_cvae_bound_reference_is_at_least_each_label_term():
    """The bound is at least every label's own term log p(y) + L(x, y), and at most their max plus log C."""
    for _, (model, x, eps, log_p_y), _ in CC._cvae_bound_cases():
        bound = CC._cvae_bound_reference(model, x, eps, log_p_y)
        with torch.no_grad():
            terms = CC._cvae_elbos(model, x, eps) + log_p_y
        assert bound.shape == (len(x),)
        assert bool((bound >= terms.max(1).values - 1e-4).all())
        assert bool((bound <= terms.max(1).values + math.log(model.num_classes) + 1e-4).all())
