"""The model exercises of notebooks 08-10 (vae_course.teaching.exercises.beyond_models): the importance log-weights and the
bound from them, the free-bits KL."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Independent, Normal

from vae_course.teaching import exercises as E
from vae_course.teaching.exercises import beyond_models as BM

from .spec import Spec, Wrong, in_dtype, run_spec

F32, F64 = torch.float32, torch.float64
DIFF = "largest absolute difference"
LOG_2PI = math.log(2 * math.pi)


def log_weights(model, x, eps):
    """The solved exercise: (k, B) log-weights with torch.distributions."""
    mu, logvar = model.encode(x)  # (B, D)
    std = torch.exp(0.5 * logvar)
    z = mu + std * eps  # (k, B, D)
    k, b, d = z.shape
    logits = model.decode_logits(z.reshape(k * b, d)).reshape(k, b, -1)  # (k, B, 784)
    x_flat = x.reshape(1, b, -1)
    log_px_z = -F.binary_cross_entropy_with_logits(logits, x_flat.expand_as(logits), reduction="none").sum(-1)
    log_pz = Normal(0.0, 1.0).log_prob(z).sum(-1)
    log_qz = Normal(mu, std).log_prob(z).sum(-1)
    return log_px_z + log_pz - log_qz


def log_weights_by_hand(model, x, eps):
    """Equivalent: the Gaussian densities written out, log sigmoid through softplus, log q from eps directly."""
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * eps
    k, b, d = z.shape
    logits = model.decode_logits(z.reshape(-1, d)).reshape(k, b, -1)
    xf = x.reshape(b, -1)
    log_px_z = (xf * logits - F.softplus(logits)).sum(-1)
    log_pz = (-0.5 * z ** 2 - 0.5 * LOG_2PI).sum(-1)
    log_qz = (-0.5 * eps ** 2 - 0.5 * logvar - 0.5 * LOG_2PI).sum(-1)
    return log_px_z + log_pz - log_qz


def log_weights_f64(model, x, eps):
    """The same, with the densities evaluated in float64."""
    mu, logvar = (t.double() for t in model.encode(x))
    std = torch.exp(0.5 * logvar)
    z = mu + std * eps.double()
    k, b, d = z.shape
    logits = model.decode_logits(z.float().reshape(k * b, d)).double().reshape(k, b, -1)
    xf = x.reshape(1, b, -1).double().expand_as(logits)
    return (-F.binary_cross_entropy_with_logits(logits, xf, reduction="none").sum(-1)
            + Independent(Normal(torch.zeros_like(z), torch.ones_like(z)), 1).log_prob(z)
            - Independent(Normal(mu, std), 1).log_prob(z))


def lw_parts(model, x, eps):
    return BM._log_weight_parts(model, x, eps)[:3]


def iwae_bound(model, x, eps, chunk=None):
    """The solved exercise: one logsumexp per chunk of samples, one more over the chunks, then minus log k."""
    k = eps.shape[0]
    size = chunk or k
    pieces = [torch.logsumexp(log_weights(model, x, eps[s:s + size]), dim=0) for s in range(0, k, size)]  # (B,) each
    return torch.logsumexp(torch.stack(pieces), dim=0) - math.log(k)


def iwae_bound_max_shift(model, x, eps, chunk=None):
    """Equivalent: a running max-shifted sum of the weights, chunk by chunk, in float64."""
    k = eps.shape[0]
    size = chunk or k
    running, total = None, None
    for s in range(0, k, size):
        w = log_weights(model, x, eps[s:s + size]).double()  # (c, B)
        m = w.max(0).values if running is None else torch.maximum(running, w.max(0).values)
        total = (torch.exp(w - m).sum(0) if total is None else total * torch.exp(running - m) + torch.exp(w - m).sum(0))
        running = m
    return running + torch.log(total / k)


def iwae_chunked(combine):
    """A wrong answer built from the chunks' (logsumexp, size) pairs."""
    def wrong(model, x, eps, chunk=None):
        size = chunk or eps.shape[0]
        parts = [(torch.logsumexp(log_weights(model, x, eps[s:s + size]), 0), len(eps[s:s + size]))
                 for s in range(0, eps.shape[0], size)]
        return combine(parts, eps.shape[0], size)
    return wrong


def free_bits_kl(mu, logvar, free_bits):
    kl_dims = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())  # (B, D)
    return torch.clamp(kl_dims.mean(dim=0), min=free_bits).sum()


SPECS = [
    Spec("log_weights", E.check_log_weights, log_weights, log_weights_f64,
         [("Gaussian densities by hand, softplus", log_weights_by_hand)],
         [Wrong("no prior term", lambda m, x, e: (lambda ll, lp, lq: ll - lq)(*lw_parts(m, x, e)),
                ("case 1 (", DIFF, "prior term log p(z) seems to be missing")),
          Wrong("no log q", lambda m, x, e: (lambda ll, lp, lq: ll + lp)(*lw_parts(m, x, e)),
                (DIFF, "log q(z|x) seems to be missing")),
          Wrong("+ log q", lambda m, x, e: (lambda ll, lp, lq: ll + lp + lq)(*lw_parts(m, x, e)),
                (DIFF, "wrong sign")),
          Wrong("the variance as q's scale", lambda m, x, e: BM.LOG_WEIGHT_DIAGNOSES[4][1](m, x, e),
                (DIFF, "variance where the standard deviation belongs")),
          Wrong("+ BCE", lambda m, x, e: (lambda ll, lp, lq: -ll + lp - lq)(*lw_parts(m, x, e)),
                (DIFF, "minus the BCE")),
          Wrong("no sum over the latent dimensions", lambda m, x, e: (
              lambda mu, lv: -0.5 * e ** 2 + 0 * mu)(*m.encode(x)), ("wrong shape: got (5, 3, 2), expected (5, 3)",
                                                                    "missing a sum")),
          Wrong("(B, k) instead of (k, B)", lambda m, x, e: log_weights(m, x, e).T,
                ("case 1 (", "wrong shape: got (3, 5), expected (5, 3)", "transposed")),
          Wrong("z not flattened for the decoder", lambda m, x, e: m.decode_logits(
              m.encode(x)[0] + e).sum(-1), ("case 1 (", "raised"))]),
    Spec("iwae_bound", E.check_iwae_bound, iwae_bound, lambda m, x, e, chunk=None: iwae_bound(m, x, e, chunk).double(),
         [("a running max shift, chunk by chunk, in float64", iwae_bound_max_shift),
          ("logsumexp as a tensor method over the stacked chunks",
           iwae_chunked(lambda parts, k, size: torch.stack([p for p, _ in parts]).logsumexp(0) - math.log(k)))],
         [Wrong("log k forgotten", lambda m, x, e, chunk=None: torch.logsumexp(log_weights(m, x, e), 0),
                ("case 1 (", DIFF, "1/k")),
          Wrong("the mean log-weight (the ELBO)", lambda m, x, e, chunk=None: log_weights(m, x, e).mean(0),
                ("case 1 (", DIFF, "ELBO")),
          Wrong("log of the mean weight (underflows)",
                lambda m, x, e, chunk=None: log_weights(m, x, e).exp().mean(0).log(), ("case 1 (", DIFF, "inf or NaN")),
          Wrong("one bound for the batch", lambda m, x, e, chunk=None: iwae_bound(m, x, e, chunk).mean(),
                ("wrong shape",)),
          Wrong("chunk ignored: all k samples decoded at once", lambda m, x, e, chunk=None: iwae_bound(m, x, e),
                ("case 2 (", "decode_logits received 150 codes in one call", "at most 30")),
          Wrong("the average of the chunks' own bounds", iwae_chunked(
              lambda parts, k, size: torch.stack([p - math.log(n) for p, n in parts]).mean(0)),
                ("case 2 (", DIFF, "averaging the chunks' own bounds")),
          Wrong("the chunks' log-sums added", iwae_chunked(
              lambda parts, k, size: torch.stack([p for p, _ in parts]).sum(0) - math.log(k)),
                ("case 2 (", DIFF, "combine by a logsumexp")),
          Wrong("every chunk counted as full", iwae_chunked(
              lambda parts, k, size: torch.stack([p for p, _ in parts]).logsumexp(0) - math.log(len(parts) * size)),
                ("case 3 (", DIFF, "the last chunk is shorter")),
          Wrong("no chunk argument", lambda m, x, e: iwae_bound(m, x, e), ("no chunk argument",), names_case=False)]),
    Spec("free_bits_kl", E.check_free_bits, free_bits_kl, in_dtype(free_bits_kl, F64),
         [("torch.maximum with a tensor", lambda mu, lv, fb: torch.maximum(
             (0.5 * (mu ** 2 + lv.exp() - 1 - lv)).mean(0), torch.tensor(fb)).sum()),
          ("torch.distributions per dimension", lambda mu, lv, fb: torch.clamp(torch.distributions.kl_divergence(
              Normal(mu, torch.exp(0.5 * lv)), Normal(0.0, 1.0)).mean(0), min=fb).sum())],
         [Wrong("clamped per image, then averaged", lambda mu, lv, fb: torch.clamp(
             -0.5 * (1 + lv - mu ** 2 - lv.exp()), min=fb).mean(0).sum(),
                ("case 2 (a collapsed", DIFF, "each image's KL")),
          Wrong("the total KL clamped", lambda mu, lv, fb: torch.clamp(
              (-0.5 * (1 + lv - mu ** 2 - lv.exp())).sum(1).mean(), min=fb), (DIFF, "clamping the total KL")),
          Wrong("clamped from above", lambda mu, lv, fb: torch.clamp(
              (-0.5 * (1 + lv - mu ** 2 - lv.exp())).mean(0), max=fb).sum(), ("case 1 (", DIFF, "from above")),
          Wrong("summed over the batch", lambda mu, lv, fb: torch.clamp(
              (-0.5 * (1 + lv - mu ** 2 - lv.exp())).sum(0), min=fb).sum(), (DIFF, "summing over the batch")),
          Wrong("no sum over the dimensions", lambda mu, lv, fb: torch.clamp(
              (-0.5 * (1 + lv - mu ** 2 - lv.exp())).mean(0), min=fb), ("wrong shape: got (3,), expected ()",))]),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_exercise(spec):
    run_spec(spec)


def test_log_weights_reference_matches_the_package_bound():
    """The reference log-weights are the package's: their IWAE estimate matches iwae.importance_weighted_bound's."""
    from vae_course.evaluation import vae_log_joint, vae_proposal

    model, x, eps = BM._log_weight_cases()[0][1]
    w = BM._log_weights_reference(model, x, eps)
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * eps
    direct = vae_log_joint(model)(x, z) - vae_proposal(model)(x).log_prob(z)
    assert torch.allclose(w, direct) and w.shape == (5, 3)
    assert torch.allclose(BM._iwae_bound_reference(model, x, eps), torch.logsumexp(direct, 0) - math.log(5))


def test_free_bits_reference_is_the_objective_of_fit():
    """The checker's reference equals the KL term that vae_course.objectives.warmup's free bits adds to the loss."""
    from vae_course.models import VAE
    from vae_course.objectives.warmup import _free_bits_terms

    torch.manual_seed(0)
    model = VAE(784, 32, 4)
    x = torch.rand(6, 784)
    torch.manual_seed(1)
    terms = _free_bits_terms(model, x, None, "bernoulli", 1.0, 1.0, 0.3)
    torch.manual_seed(1)
    mu, logvar = model.encode(x)
    recon = terms.total - BM._free_bits_reference(mu, logvar, 0.3)
    z = model.reparameterize(mu, logvar)
    from vae_course.objectives import bernoulli_nll
    assert torch.allclose(recon, bernoulli_nll(model.decode_logits(z), x), atol=1e-4)
