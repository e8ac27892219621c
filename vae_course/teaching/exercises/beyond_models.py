"""The exercises of notebooks 08-10 that work on a whole model: the importance log-weights of a VAE batch and the
bound from them (08) and the free-bits KL term (09). (The build exercises of notebooks 09 and 10, the free-bits
objective and the CVAE's bound on log p(x), are in :mod:`.collapse_cvae`.)

Noise is passed in, so that every answer is deterministic: ``eps`` holds standard normal draws, ``(k, B, D)`` for
the ``k`` importance samples of ``B`` images, ``(B, D)`` for one forward pass. The models are course models with
seeded weights (the log-variance head pushed away from 0, so that a standard deviation used as a variance shows).
"""
from __future__ import annotations

import inspect
import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions import Normal

from .core import (CheckResult, Exercise, attempt, checker, compare, describe_inputs, fail, mismatch, passed,
                   random_cases, recognise, require, seeded)


def _vae(input_dim=784, hidden_dim=400, latent_dim=2, seed=0):
    from ...models import VAE

    with seeded(seed):
        model = VAE(input_dim, hidden_dim, latent_dim, image_shape=(1, 28, 28) if input_dim == 784 else (input_dim,))
        with torch.no_grad():
            model.fc_mu.bias.add_(0.5)
            model.fc_logvar.bias.fill_(-1.5)  # sigma about 0.47: a std used as a variance shows
            model.fc4.weight.mul_(4.0)  # confident logits: the likelihood term matters
    return model.eval()


def _binary(seed, shape):
    return torch.bernoulli(torch.full(shape, 0.3), generator=torch.Generator().manual_seed(seed))


# --- Notebook 08: the importance log-weights and the bound from them ---
def _log_weights_reference(model, x, eps):
    """log p(x|z) + log p(z) - log q(z|x) at z = mu + sigma * eps: ``(k, B)``."""
    from ...evaluation.iwae import vae_log_joint, vae_proposal

    with torch.no_grad():
        mu, logvar = model.encode(x)  # (B, D) each
        z = mu + torch.exp(0.5 * logvar) * eps  # (k, B, D)
        return vae_log_joint(model)(x, z) - vae_proposal(model)(x).log_prob(z)  # (k, B)


def _log_weight_parts(model, x, eps):
    """(log p(x|z), log p(z), log q(z|x), mu, logvar, z) of the reference, for the wrong variants."""
    with torch.no_grad():
        mu, logvar = model.encode(x)
        std = torch.exp(0.5 * logvar)
        z = mu + std * eps
        k, b, d = z.shape
        logits = model.decode_logits(z.reshape(k * b, d)).reshape(k, b, -1)
        flat = x.reshape(1, b, -1).expand_as(logits)
        log_lik = -F.binary_cross_entropy_with_logits(logits, flat, reduction="none").sum(-1)
        return log_lik, Normal(0.0, 1.0).log_prob(z).sum(-1), Normal(mu, std).log_prob(z).sum(-1), mu, logvar, z


def _log_weight_cases():
    big, small = _vae(), _vae(16, 8, 3, seed=1)
    gen = torch.Generator().manual_seed(81)
    return [
        ("VAE 784-400-2, 3 binary images (3, 1, 28, 28), k = 5", (big, _binary(1, (3, 1, 28, 28)),
                                                                  torch.randn(5, 3, 2, generator=gen)), {}),
        ("k = 1, flat images (2, 784)", (big, _binary(2, (2, 784)), torch.randn(1, 2, 2, generator=gen)), {}),
        ("a small VAE 16-8-3 on 4 flat 16-pixel images, k = 7", (small, _binary(3, (4, 16)),
                                                                 torch.randn(7, 4, 3, generator=gen)), {}),
    ]


def _lw_variant(combine):
    def wrong(model, x, eps):
        return combine(*_log_weight_parts(model, x, eps))
    return wrong


LOG_WEIGHT_DIAGNOSES = [
    ("The prior term log p(z) seems to be missing.", _lw_variant(lambda ll, lp, lq, mu, lv, z: ll - lq)),
    ("The proposal term log q(z|x) seems to be missing.", _lw_variant(lambda ll, lp, lq, mu, lv, z: ll + lp)),
    ("log q(z|x) seems to have the wrong sign: the weight divides by q.",
     _lw_variant(lambda ll, lp, lq, mu, lv, z: ll + lp + lq)),
    ("The likelihood term seems to have the wrong sign: log p(x|z) is minus the BCE.",
     _lw_variant(lambda ll, lp, lq, mu, lv, z: -ll + lp - lq)),
    ("Did you use the variance where the standard deviation belongs in q(z|x)?",
     _lw_variant(lambda ll, lp, lq, mu, lv, z: ll + lp - Normal(mu, lv.exp()).log_prob(z).sum(-1))),
]


def check_log_weights(student_fn: Callable) -> CheckResult:
    """Notebook 08: ``log_weights(model, x, eps) -> (k, B)``, the importance log-weights of a VAE batch.

    ``model`` is a course VAE (``encode``, ``decode_logits``), ``x`` images ``(B, 1, 28, 28)`` or ``(B, 784)``,
    ``eps`` standard normal draws ``(k, B, D)``. With ``z = mu + sigma * eps`` (``mu, logvar = model.encode(x)``),
    the answer is ``log p(x|z) + log p(z) - log q(z|x)``: the Bernoulli log-likelihood of the decoder's logits
    summed over pixels, the standard normal prior and the Gaussian q, each summed over the latent dimensions.
    Compared with :func:`vae_course.evaluation.vae_log_joint` and :func:`vae_course.evaluation.vae_proposal`.
    """
    return compare(student_fn, _log_weights_reference, _log_weight_cases(), name="log_weights",
                   diagnoses=LOG_WEIGHT_DIAGNOSES, inputs="seeded models, images and noise")


def _iwae_bound_reference(model, x, eps, chunk=None):
    """``L_k`` of each image, ``(B,)``: one log-sum of the weights per chunk of ``chunk`` samples (all ``k`` at once
    when ``chunk`` is None), then one more over the chunks; the chunks do not change the value."""
    k = eps.shape[0]
    size = k if chunk is None else int(chunk)
    log_sums = [torch.logsumexp(_log_weights_reference(model, x, eps[i:i + size]), dim=0) for i in range(0, k, size)]
    return torch.logsumexp(torch.stack(log_sums), dim=0) - math.log(k)


class CountingVAE(nn.Module):
    """A course VAE seen through ``encode`` and ``decode_logits`` only, remembering the most codes that one
    ``decode_logits`` call received (how :func:`check_iwae_bound` sees whether the samples were decoded in chunks)."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae
        self.latent_dim = vae.latent_dim
        self.largest_call = 0

    def encode(self, x):
        return self.vae.encode(x)

    def decode_logits(self, z):
        self.largest_call = max(self.largest_call, z.numel() // z.shape[-1])
        return self.vae.decode_logits(z)

    def decode(self, z):
        return torch.sigmoid(self.decode_logits(z))


def _chunk_log_sums(model, x, eps, chunk):
    """The reference's log-weights split into chunks: ``[(logsumexp over the chunk, its size), ...]``."""
    log_w = _log_weights_reference(model, x, eps)  # (k, B)
    size = chunk or len(log_w)
    return [(torch.logsumexp(log_w[s:s + size], dim=0), len(log_w[s:s + size])) for s in range(0, len(log_w), size)]


IWAE_BOUND_DIAGNOSES = [
    ("You might be missing the 1/k of the average: your value is the log of the sum of the weights.",
     lambda model, x, eps, chunk=None: torch.logsumexp(_log_weights_reference(model, x, eps), 0)),
    ("You averaged the log-weights: that is the ELBO estimate. The bound averages the weights, then takes the log.",
     lambda model, x, eps, chunk=None: _log_weights_reference(model, x, eps).mean(0)),
    ("You might be averaging the chunks' own bounds: each is a bound with fewer samples, lower than L_k. Combine the "
     "chunks' log-sums of weights first, and take the average over all k weights once.",
     lambda model, x, eps, chunk=None: torch.stack([s - math.log(n) for s, n in _chunk_log_sums(
         model, x, eps, chunk)]).mean(0)),
    ("You might be adding the chunks' log-sums: the sums of the weights add, so their logs combine by a "
     "logsumexp, not by +.", lambda model, x, eps, chunk=None: torch.stack([s for s, _ in _chunk_log_sums(
         model, x, eps, chunk)]).sum(0) - math.log(eps.shape[0])),
    ("Your average seems to count chunk samples in every chunk: when chunk does not divide k the last chunk is "
     "shorter, and the average is over the k = eps.shape[0] weights themselves.",
     lambda model, x, eps, chunk=None: torch.logsumexp(torch.stack([s for s, _ in _chunk_log_sums(
         model, x, eps, chunk)]), 0) - math.log(len(_chunk_log_sums(model, x, eps, chunk)) * (chunk or len(eps)))),
]


def _iwae_bound_cases():
    big, small = _vae(), _vae(16, 8, 3, seed=1)
    gen = torch.Generator().manual_seed(82)
    return [
        ("VAE 784-400-2, 3 binary images (3, 1, 28, 28), k = 5, no chunk given",
         (big, _binary(1, (3, 1, 28, 28)), torch.randn(5, 3, 2, generator=gen)), {}),
        ("VAE 784-400-2, 3 images, k = 50 in chunks of 10",
         (big, _binary(4, (3, 1, 28, 28)), torch.randn(50, 3, 2, generator=gen)), {"chunk": 10}),
        ("a small VAE 16-8-3 on 4 flat 16-pixel images, k = 7 in chunks of 3 (the last chunk holds 1)",
         (small, _binary(3, (4, 16)), torch.randn(7, 4, 3, generator=gen)), {"chunk": 3}),
        ("VAE 784-400-2, 2 flat images (2, 784), k = 5 in chunks of 1",
         (big, _binary(2, (2, 784)), torch.randn(5, 2, 2, generator=gen)), {"chunk": 1}),
        ("a small VAE 16-8-3, 4 images, k = 4 with chunk = 10 (one chunk)",
         (small, _binary(5, (4, 16)), torch.randn(4, 4, 3, generator=gen)), {"chunk": 10}),
    ]


@checker
def check_iwae_bound(student_fn: Callable) -> CheckResult:
    """Notebook 08: ``iwae_bound(model, x, eps, chunk=None) -> (B,)``, the importance-weighted bound L_k from the
    log-weights, the ``k`` samples decoded ``chunk`` at a time.

    The same inputs as :func:`check_log_weights`, and ``chunk``, the most samples per decoder call (``None``: all
    ``k`` at once). The answer is the log of the average of each image's ``k`` weights, computed in log space with
    one logsumexp per chunk and one more over the chunks. The model the checker passes counts the codes of each
    ``decode_logits`` call: a call with more than ``chunk * B`` codes fails, even with the right values.
    """
    name = "iwae_bound"
    if not callable(student_fn):
        return fail(name, "pass your function itself, without calling it: check_iwae_bound(my_function), not "
                          "check_iwae_bound(my_function()).")
    try:
        params = inspect.signature(student_fn).parameters
    except (TypeError, ValueError):
        params = {}
    if params and "chunk" not in params and not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return fail(name, "your function has no chunk argument: its signature should be iwae_bound(model, x, eps, "
                          "chunk=None).")
    cases = _iwae_bound_cases()
    for i, (desc, (model, x, eps), kwargs) in enumerate(cases, start=1):
        want = _iwae_bound_reference(model, x, eps)
        spy = CountingVAE(model)
        got = attempt(name, f"case {i} ({desc})", student_fn, spy, x.clone(), eps.clone(), **kwargs)
        inputs = describe_inputs((model, x, eps), kwargs)
        why = mismatch(got, want)
        if why:
            known = recognise(got, IWAE_BOUND_DIAGNOSES, (model, x, eps), kwargs)
            if known:
                why = mismatch(got, want, generic=False) + known
            return fail(name, f"case {i} ({desc}): {why} Inputs: {inputs}.")
        chunk = kwargs.get("chunk")
        if chunk is not None:
            most = min(chunk, len(eps)) * x.shape[0]
            require(name, spy.largest_call <= most,
                    f"case {i} ({desc}): your values are right, but decode_logits received {spy.largest_call} codes in "
                    f"one call; with chunk = {chunk} and {x.shape[0]} images a call should decode at most {most}. "
                    f"Split the noise along its first axis into chunks of chunk samples, and keep one log-sum per "
                    f"chunk. "
                    f"Inputs: {inputs}.")
    return passed(name, f"all {len(cases)} cases match the reference, each decoded in chunks as asked (seeded models, "
                        f"images and noise).")


# --- Notebook 09: the free-bits KL term ---
def _free_bits_reference(mu, logvar, free_bits):
    """The KL term of :func:`vae_course.objectives.warmup._free_bits_terms`: per-dimension batch-mean KL, clamped below."""
    from ...objectives.losses import gaussian_kl_per_dim

    return torch.clamp(gaussian_kl_per_dim(mu, logvar).mean(dim=0), min=free_bits).sum()


def check_free_bits(student_fn: Callable) -> CheckResult:
    """Notebook 09: ``free_bits_kl(mu, logvar, free_bits) -> scalar``, the KL term of the free-bits objective.

    ``mu``, ``logvar`` are ``(B, D)``; each latent dimension's KL, averaged over the batch, counts as at least
    ``free_bits`` nats; the term is the sum of those over the dimensions, exactly as ``ELBO(free_bits=...)`` uses
    (:mod:`vae_course.objectives.warmup`).
    """
    from ...objectives.losses import gaussian_kl_per_dim

    def make(gen):
        b, d = int(torch.randint(2, 9, (), generator=gen)), int(torch.randint(1, 8, (), generator=gen))
        scale = torch.rand(d, generator=gen) * 2  # some dimensions near the prior, some far from it
        mu = scale * torch.randn(b, d, generator=gen)
        lv = scale * torch.randn(b, d, generator=gen)
        return (mu, lv, round(float(torch.rand((), generator=gen)) * 1.5, 3)), {}

    t = torch.tensor
    mixed_mu = t([[0.0, 2.0, 0.1], [0.0, -2.0, 1.6], [0.0, 1.0, 0.0], [0.0, 0.5, -0.2]])
    cases = [("free_bits = 0: the plain batch-mean KL, summed", (mixed_mu, torch.zeros(4, 3), 0.0), {}),
             ("a collapsed dimension (KL 0) with free_bits = 0.5", (mixed_mu, torch.zeros(4, 3), 0.5), {}),
             ("a dimension above free_bits on some images and below on others",
              (mixed_mu, t([[0.0, -1.0, 0.2]]).expand(4, 3), 0.3), {}),
             ("free_bits above every dimension's KL", (0.1 * mixed_mu, torch.zeros(4, 3), 2.0), {}),
             *random_cases(make, 4, seed=96)]

    def kl(mu, lv):
        return gaussian_kl_per_dim(mu, lv)

    diagnoses = [
        ("You might be clamping each image's KL before averaging over the batch: free bits clamps the batch "
         "mean of each dimension.", lambda mu, lv, fb: torch.clamp(kl(mu, lv), min=fb).mean(0).sum()),
        ("You might be clamping the total KL: free bits clamps each latent dimension on its own.",
         lambda mu, lv, fb: torch.clamp(kl(mu, lv).sum(1).mean(), min=fb)),
        ("You might be clamping the total KL: free bits clamps each latent dimension on its own.",
         lambda mu, lv, fb: torch.clamp(kl(mu, lv).sum(1).mean(), min=fb * mu.shape[1])),
        ("Your clamp seems to cap the KL from above: free bits raises a dimension's KL to at least free_bits.",
         lambda mu, lv, fb: torch.clamp(kl(mu, lv).mean(0), max=fb).sum()),
        ("You might be summing over the batch where free bits averages over it.",
         lambda mu, lv, fb: torch.clamp(kl(mu, lv).sum(0), min=fb).sum()),
    ]
    return compare(student_fn, _free_bits_reference, cases, name="free_bits_kl", diagnoses=diagnoses)


EXERCISES = (
    Exercise("log_weights", check_log_weights, _log_weights_reference, (
        "Each importance weight compares the joint p(x, z) with the proposal q(z|x) at a draw z from q; in log "
        "space it is log p(x|z) + log p(z) - log q(z|x), one number per draw and image.",
        "Encode x to mu and logvar; build all k draws at once from eps (k, B, D) by shifting and scaling; decode "
        "the k * B codes in one batch (reshape to (k * B, D) and back). The decoder's log-likelihood is minus the "
        "BCE from the logits summed over the pixels; the prior's and q's log densities are summed over the latent "
        "dimensions.",
        "z_ib = μ_b + σ_b ⊙ ε_ib with σ = e^{ℓ/2}; log p(x|z) = Σ_j [x_j η_j − softplus(η_j)] over the 784 pixels "
        "(η the logits); log p(z) = Σ_d [−½ z_d² − ½ log 2π]; log q(z|x) = Σ_d [−½ ε_d² − ½ ℓ_d − ½ log 2π]; "
        "log w = log p(x|z) + log p(z) − log q(z|x)."), "08",
        replaces=("vae_course.evaluation.iwae.vae_log_joint", "vae_course.evaluation.iwae.vae_proposal",
                  "vae_course.evaluation.iwae.model_log_weights")),
    Exercise("iwae_bound", check_iwae_bound, _iwae_bound_reference, (
        "The importance-weighted bound L_k of an image is the log of the average of its k importance weights; in "
        "chunks, the sum of all k weights is the sum of the chunks' sums.",
        "Loop over the k samples chunk at a time (the last chunk may be shorter); for each chunk compute its "
        "(c, B) log-weights with your log_weights and keep their logsumexp over the samples, (B,); combine the "
        "kept values with one more logsumexp, and only then divide by k (in log space).",
        "s_j = logsumexp_{i in C_j} log w_i for the chunks C_1, ..., C_m of the k indices; "
        "L_k = logsumexp_j s_j − log k. Skeleton: `pieces.append(torch.logsumexp(___, dim=0))`, then "
        "`torch.logsumexp(torch.stack(pieces), dim=0) - ___`."), "08",
        replaces=("vae_course.evaluation.iwae.iwae_bound", "vae_course.evaluation.iwae.importance_weighted_bound",
                  "vae_course.evaluation.iwae.iwae_from_log_weights", "vae_course.evaluation.iwae.model_log_weights")),
    Exercise("free_bits_kl", check_free_bits, _free_bits_reference, (
        "Free bits stops the optimizer from pushing a latent dimension's KL below free_bits nats: each "
        "dimension's KL, averaged over the batch, counts as at least free_bits.",
        "Compute the KL per image and per dimension, (B, D), without summing; average over the batch to get one "
        "KL per dimension; raise every one below free_bits to free_bits; sum over the dimensions.",
        "KL_u(x_b) = ½ (μ_bu² + σ_bu² − 1 − log σ_bu²) for each image b and dimension u; the term is "
        "Σ_u max(λ, (1/B) Σ_b KL_u(x_b)), with λ = free_bits: average over ___, clamp from ___, sum over ___."),
        "09"),
)
