"""The build exercises of notebooks 09 and 10: the free-bits objective that ``fit`` trains with and the active units'
A_u of a model computed batch by batch (09), and the CVAE's bound on log p(x) by summing over the labels (10).

Used by notebooks 09 (``check_unit_variances``, ``check_free_bits_objective``) and 10 (``check_cvae_log_px_bound``) through
:mod:`vae_course.teaching.exercises`.

* ``free_bits_objective(model, x, y, free_bits)`` returns ``ELBOTerms(recon, kl, total)`` per image, with
  ``total = recon + sum_u max(free_bits, mean_b KL_u)`` (Kingma et al. 2016), the objective of
  ``ELBO(free_bits=...)``; the checker compares the terms under the same reparameterization noise, then trains a
  small VAE for one epoch with ``fit`` on it and on the package's objective and compares the runs (a total that is
  right in value but cut off from the gradient takes other steps).
* ``cvae_log_px_bound(model, x, eps, log_p_y)`` returns ``log sum_y p(y) exp(L(x, y))`` per image, ``(B,)``, with
  ``L(x, y)`` the CVAE's conditional ELBO at ``z = mu(x, y) + sigma(x, y) * eps`` (the same noise for every label).

Noise is fixed, so that every answer is deterministic: the objective's ``model.reparameterize`` runs under a seed
that the checker sets before each call; the bound takes ``eps`` as an argument.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from .core import CheckResult, Exercise, attempt, checker, compare, fail, mismatch, passed, seeded

NOISE_SEED = 1234  # the torch seed set before every call of an objective, so that both draw the same eps


# --- Notebook 09: free bits as an objective for fit ---
def _free_bits_objective_reference(model, x, y=None, free_bits=0.25):
    """``ELBOTerms(recon, kl, total)`` of the free-bits objective (beta = 1), as ``ELBO(free_bits=...)`` computes it."""
    from ...objectives.warmup import _free_bits_terms

    return _free_bits_terms(model, x.reshape(len(x), -1), y, "bernoulli", 1.0, 1.0, free_bits)


def _fb_parts(model, x, noise=True, std=True):
    """(recon (B,), kl_dims (B, D)) of one pass with the checker's noise, for the wrong variants."""
    from ...objectives.losses import gaussian_kl_per_dim

    flat = x.reshape(len(x), -1)
    mu, logvar = model.encode(flat)
    scale = torch.exp(0.5 * logvar) if std else torch.exp(logvar)
    z = mu + scale * torch.randn_like(mu) if noise else mu
    recon = F.binary_cross_entropy_with_logits(model.decode_logits(z), flat, reduction="none").sum(1)
    return recon, gaussian_kl_per_dim(mu, logvar)


def _fb_variant(combine, **kw):
    def wrong(model, x, y=None, free_bits=0.25):
        from ...objectives.losses import ELBOTerms

        recon, kl_dims = _fb_parts(model, x, **kw)
        return ELBOTerms(*combine(recon, kl_dims, free_bits))
    return wrong


def _fb_right(recon, kl_dims, fb):
    return recon, kl_dims.sum(1), recon + torch.clamp(kl_dims.mean(0), min=fb).sum()


FREE_BITS_OBJECTIVE_DIAGNOSES = [
    ("Your total seems to be the plain negative ELBO: the free-bits term (each dimension's batch-mean KL raised to at "
     "least free_bits) is missing from it.", _fb_variant(lambda r, k, fb: (r, k.sum(1), r + k.sum(1)))),
    ("You might be clamping each image's KL: free bits clamps the batch mean of each latent dimension.",
     _fb_variant(lambda r, k, fb: (r, k.sum(1), r + torch.clamp(k, min=fb).sum(1)))),
    ("The kl you return should be each image's plain KL, so that fit still reports the negative ELBO: the free-bits "
     "clamp belongs in total only.",
     _fb_variant(lambda r, k, fb: (r, torch.clamp(k.mean(0), min=fb).sum().expand(len(r)),
                                   r + torch.clamp(k.mean(0), min=fb).sum()))),
    ("Your z ignores the noise: draw it with model.reparameterize (a sample of q, not its mean).",
     _fb_variant(_fb_right, noise=False)),
    ("Did you use the variance where the standard deviation belongs when drawing z?", _fb_variant(_fb_right, std=False)),
]


def _seeded_call(fn):
    """``fn`` called under the checker's noise seed (the learner's and the reference's draws are then the same)."""
    def call(model, x, y, free_bits):
        with seeded(NOISE_SEED):
            return fn(model, x, y, free_bits=free_bits)
    call.__name__ = getattr(fn, "__name__", "objective")
    return call


def _fb_cases():
    from .beyond_models import _binary, _vae

    small = _vae(16, 8, 3, seed=1)
    big = _vae(784, 400, 2, seed=0)
    gen = torch.Generator().manual_seed(90)
    grey = torch.rand(3, 1, 28, 28, generator=gen)
    return [
        ("a small VAE 16-8-3, 4 flat binary images, free_bits = 0.5", (small, _binary(11, (4, 16)), None, 0.5), {}),
        ("VAE 784-400-2, 3 grey images (3, 1, 28, 28), free_bits = 0.25", (big, grey, None, 0.25), {}),
        ("free_bits = 0: every dimension counts its own batch-mean KL", (small, _binary(12, (5, 16)), None, 0.0), {}),
        ("free_bits = 3 above every dimension's KL", (small, _binary(13, (6, 16)), None, 3.0), {}),
    ]


def _fit_run(objective, seed=0):
    """One epoch of ``fit`` on 64 flat 16-pixel binary images, batches of 16, for a seeded small VAE: (history, model)."""
    from ...training import fit
    from .beyond_models import _binary, _vae

    model = _vae(16, 8, 3, seed=5).train()
    hist = fit(model, _binary(14, (64, 16)), None, objective=objective, epochs=1, batch_size=16, seed=seed,
               progress=False)
    return hist, model


@checker
def check_free_bits_objective(student_fn: Callable) -> CheckResult:
    """Notebook 09: ``free_bits_objective(model, x, y=None, free_bits=0.25) -> ELBOTerms(recon, kl, total)``.

    Per image: ``recon`` the Bernoulli negative log-likelihood of ``x`` (summed over the pixels) at a reparameterized
    ``z``, ``kl`` the plain KL of q(z|x) from N(0, I), and ``total = recon + sum_u max(free_bits, mean_b KL_u)``,
    the objective of ``ELBO(free_bits=...)``. The checker compares the terms with the package's under the same noise
    (draw it with ``model.reparameterize``), then trains a small VAE for one epoch with ``fit`` on the learner's
    objective and on ``ELBO(free_bits=0.3)`` and compares the two runs.
    """
    from ...objectives import ELBO

    name = "free_bits_objective"
    if not callable(student_fn):
        return fail(name, "pass your function itself, without calling it: check_...(my_function), "
                          "not check_...(my_function()).")
    notes = [("size of target", "Flatten the images to (B, 784) before comparing them with the decoder's logits."),
             ("Target size", "Flatten the images to (B, 784) before comparing them with the decoder's logits.")]
    result = compare(_seeded_call(student_fn), _seeded_call(_free_bits_objective_reference), _fb_cases(), name=name,
                     diagnoses=[(m, _seeded_call(fn)) for m, fn in FREE_BITS_OBJECTIVE_DIAGNOSES],
                     names=("recon", "kl", "total"), error_notes=notes, inputs="seeded models, images and noise")
    if result.verdict != "PASS":
        return result

    def objective(model, x, y):
        return student_fn(model, x, y, free_bits=0.3)
    objective.precision = "fp32"  # fit reads an objective's precision: full float32, so that the runs compare
    _, want_model = _fit_run(ELBO(free_bits=0.3, precision="fp32"))
    _, got_model = attempt(name, "fit(model, images, objective=your function, epochs=1)", _fit_run, objective)
    case = "case 5 (one epoch of fit on 64 16-pixel images, batches of 16, free_bits = 0.3)"
    for (pname, p_got), p_want in zip(got_model.named_parameters(), want_model.parameters()):
        why = mismatch(p_got.detach(), p_want.detach(), rtol=1e-4)
        if why:
            return fail(name, f"{case}: the terms are right, but training with your objective takes other steps "
                              f"(weights {pname} after the epoch: {why}) Is part of your total cut off from the "
                              f"gradient (.item(), .detach(), float(), torch.no_grad)?")
    return passed(name, f"all {len(_fb_cases())} cases match the reference (seeded models, images and noise), and one "
                        "epoch of fit with it takes the same steps as with ELBO(free_bits=0.3).")


# --- Notebook 09: the active units' A_u of a model, batch by batch ---
class _CountingEncoder:
    """A course VAE seen through its ``encode`` only, recording the largest batch it was given."""

    def __init__(self, model):
        self.model, self.largest, self.calls = model, 0, 0

    def encode(self, x, *args, **kwargs):
        self.largest, self.calls = max(self.largest, len(x)), self.calls + 1
        return self.model.encode(x, *args, **kwargs)

    def __getattr__(self, attr):  # anything else (eval, parameters, latent_dim) is the model's
        if attr == "model":
            raise AttributeError(attr)
        return getattr(self.model, attr)

    def __repr__(self) -> str:
        return type(self.model).__name__


def _unit_variances_reference(model, images, batch_size=500):
    """A_u = Var_x(mu_u(x)) over all the images, the 1/N variance: ``(D,)``."""
    with torch.no_grad():
        mu = torch.cat([model.encode(images[i:i + batch_size])[0] for i in range(0, len(images), batch_size)])
    return mu.double().var(dim=0, unbiased=False)  # (D,)


def _uv_cases():
    from .beyond_models import _vae

    big, small = _vae(784, 400, 4, seed=2), _vae(16, 8, 3, seed=3)
    with torch.no_grad():
        big.fc_mu.weight[3].zero_()  # unit 4 is dead: mu_4(x) = its bias for every image
        small.fc_mu.bias.fill_(20.0)  # means far from 0: E[mu^2] - E[mu]^2 loses its digits in float32
    gen = torch.Generator().manual_seed(97)
    grey = torch.rand(1000, 784, generator=gen)
    ink = grey * torch.linspace(0.2, 1.0, 1000).unsqueeze(1)  # the images darken along the set: batches differ
    return [
        ("VAE 784-400-4 with a dead unit, 1,000 images in batches of 250", (big, ink, 250), {}),
        ("the same, 1,000 images in batches of 300 (the last batch has 100)", (big, ink, 300), {}),
        ("a small VAE 16-8-3 whose means sit near 20, 600 images in batches of 128",
         (small, torch.bernoulli(torch.full((600, 16), 0.3), generator=gen), 128), {}),
    ]


def check_unit_variances(student_fn: Callable) -> CheckResult:
    """Notebook 09: ``unit_variances(model, images, batch_size=500) -> (D,)``: ``A_u = Var_x(mu_u(x))`` over all the
    images, encoding them ``batch_size`` at a time.

    The 1/N and the 1/(N - 1) variance both pass (the cases have N >= 600); the checker's model records the batches
    it is given, and a batch larger than ``batch_size`` fails.
    """
    name = "unit_variances"

    def spied(fn):
        def run(model, images, batch_size):
            counting = _CountingEncoder(model)
            out = fn(counting, images, batch_size=batch_size)
            if counting.largest > batch_size:
                raise _TooLarge(f"your function encoded {counting.largest} images in one call, more than "
                                f"batch_size = {batch_size}: encode them batch_size at a time")
            return out
        run.__name__ = getattr(fn, "__name__", "unit_variances")
        return run

    def variant(stat):
        def wrong(model, images, batch_size=500):
            with torch.no_grad():
                mus = [model.encode(images[i:i + batch_size])[0].double() for i in range(0, len(images), batch_size)]
            return stat(mus)
        return wrong

    diagnoses = [
        ("You might be averaging each batch's own variance: that misses how much the batches' means differ. A_u is "
         "the variance over all the images together.",
         variant(lambda mus: torch.stack([m.var(0, unbiased=False) for m in mus]).mean(0))),
        ("The last batch seems to be left out (check the range of your loop).",
         variant(lambda mus: torch.cat(mus[:-1]).var(0, unbiased=False))),
        ("You might be measuring the mean square of each unit rather than its variance: the mean must be subtracted.",
         variant(lambda mus: torch.cat(mus).pow(2).mean(0))),
        ("Did you return the standard deviation where the variance belongs?",
         variant(lambda mus: torch.cat(mus).std(0, unbiased=False))),
        ("Your variance seems to lose its digits to cancellation: E[mu^2] - E[mu]^2 of numbers near 20 in float32 "
         "keeps only a few of them. Accumulate in float64, or subtract the mean first.",
         variant(lambda mus: ((torch.cat(mus).float() ** 2).mean(0) - torch.cat(mus).float().mean(0) ** 2).double())),
    ]
    result = compare(spied(student_fn), _unit_variances_reference, _uv_cases(), name=name, rtol=2e-3,
                     diagnoses=[(m, fn) for m, fn in diagnoses], inputs="seeded models and images")
    if result.verdict == "FAIL" and "_TooLarge" in result.message:
        case = result.message.split(": ", 1)[1].split(" raised", 1)[0]
        why = result.message.split("_TooLarge: ", 1)[1].split(" Inputs:", 1)[0]
        return fail(name, f"{case}: {why.rstrip('.')}.")
    return result


class _TooLarge(Exception):
    """The learner's function encoded more than ``batch_size`` images at once (reported as a FAIL)."""


# --- Notebook 10: a bound on log p(x) from the CVAE, by summing over the labels ---
def _cvae_elbos(model, x, eps, noise=True, std=True, kl_sign=-1.0):
    """(B, C): the conditional ELBO L(x, y) of every image for every label y, at z = mu + sigma * eps."""
    from ...objectives.losses import bernoulli_nll, gaussian_kl

    flat = x.reshape(len(x), -1)
    columns = []
    for label in range(model.num_classes):
        y = torch.full((len(flat),), label, dtype=torch.long)
        mu, logvar = model.encode(flat, y)  # (B, D) each
        scale = torch.exp(0.5 * logvar) if std else torch.exp(logvar)
        z = mu + scale * eps if noise else mu
        logits = model.decode_logits(z, y)  # (B, 784)
        columns.append(-bernoulli_nll(logits, flat) + kl_sign * gaussian_kl(mu, logvar))  # (B,)
    return torch.stack(columns, dim=1)  # (B, C)


def _cvae_bound_reference(model, x, eps, log_p_y):
    """log sum_y p(y) exp(L(x, y)): ``(B,)``."""
    with torch.no_grad():
        return torch.logsumexp(_cvae_elbos(model, x, eps) + log_p_y, dim=1)


def _cvae_bound_cases():
    from ...models import CVAE

    out = []
    for i, (desc, sizes, b, flat, prior) in enumerate([
            ("CVAE 784-400-2, 3 grey images (3, 1, 28, 28), equally likely labels", {}, 3, False, "uniform"),
            ("CVAE 784-400-2, 2 grey images, labels not equally likely", {}, 2, False, "skewed"),
            ("CVAE 784-16-3 with 4 classes, 5 flat images (5, 784)",
             {"hidden_dim": 16, "latent_dim": 3, "num_classes": 4}, 5, True, "skewed"),
            ("one image, p(y) almost all on label 0", {}, 1, True, "peaked")]):
        with seeded(30 + (i if i != 1 else 0)):
            cvae = CVAE(**sizes)
            with torch.no_grad():
                cvae.fc_logvar.bias.fill_(-1.5)  # sigma about 0.47: a std used as a variance shows
                cvae.fc4.weight.mul_(4.0)  # confident logits: L(x, y) near -1000, exp underflows
        cvae.eval()
        gen = torch.Generator().manual_seed(40 + i)
        x = torch.rand(b, 784, generator=gen)
        c = cvae.num_classes
        if prior == "uniform":
            log_p_y = torch.full((c,), -math.log(c))
        elif prior == "skewed":
            w = torch.arange(1, c + 1, dtype=torch.float32) ** 2
            log_p_y = (w / w.sum()).log()
        else:
            p = torch.full((c,), 1e-3 / (c - 1))
            p[0] = 1 - 1e-3
            log_p_y = p.log()
        out.append((desc, (cvae, x if flat else x.reshape(b, 1, 28, 28), torch.randn(b, cvae.latent_dim, generator=gen),
                           log_p_y), {}))
    return out


def check_cvae_log_px_bound(student_fn: Callable) -> CheckResult:
    """Notebook 10: ``cvae_log_px_bound(model, x, eps, log_p_y) -> (B,)``, ``log sum_y p(y) exp(L(x, y))``.

    ``model`` a :class:`vae_course.models.CVAE` (``encode(x, y)``, ``decode_logits(z, y)``, ``num_classes``), ``x``
    images ``(B, 1, 28, 28)`` or ``(B, 784)``, ``eps`` standard normal noise ``(B, D)`` used for every label,
    ``log_p_y`` the log prior of the labels ``(C,)``. ``L(x, y)`` is the conditional ELBO of section 2.1 at
    ``z = mu(x, y) + sigma(x, y) * eps``: minus the BCE summed over the pixels, minus the closed-form KL.
    """
    def with_prior(combine):
        def wrong(model, x, eps, log_p_y):
            with torch.no_grad():
                return combine(_cvae_elbos(model, x, eps), log_p_y)
        return wrong

    def with_elbos(**kw):
        def wrong(model, x, eps, log_p_y):
            with torch.no_grad():
                return torch.logsumexp(_cvae_elbos(model, x, eps, **kw) + log_p_y, dim=1)
        return wrong

    diagnoses = [
        ("The log prior of the labels seems to be missing: each label's term is weighted by p(y).",
         with_prior(lambda L, lp: torch.logsumexp(L, 1))),
        ("You might be assuming equally likely labels: weight each label by the p(y) you are given (log_p_y).",
         with_prior(lambda L, lp: torch.logsumexp(L, 1) - math.log(L.shape[1]))),
        ("You averaged the ELBOs over the labels (weighted by p(y)): by Jensen that is a bound too, but a looser one. "
         "The derivation's bound sums p(y) times the exponentiated ELBOs, then takes the log.",
         with_prior(lambda L, lp: (lp.exp() * L).sum(1))),
        ("You kept only the largest of the labels' terms: the bound sums them all, which can only raise it.",
         with_prior(lambda L, lp: (L + lp).max(1).values)),
        ("The KL seems to have the wrong sign: the ELBO subtracts it from the log-likelihood.", with_elbos(kl_sign=1.0)),
        ("Your z ignores the noise eps: the ELBO is estimated at a sample of q, not at its mean.",
         with_elbos(noise=False)),
        ("Did you use the variance where the standard deviation belongs?", with_elbos(std=False)),
    ]
    notes = [("mat1 and mat2", "The CVAE's encode and decode_logits take the labels as their second argument "
                               "(a (B,) tensor of one label repeated, for each label in turn).")]
    return compare(student_fn, _cvae_bound_reference, _cvae_bound_cases(), name="cvae_log_px_bound",
                   diagnoses=diagnoses, error_notes=notes, inputs="seeded CVAEs, images, noise and label priors")


EXERCISES = (
    Exercise("free_bits_objective", check_free_bits_objective, _free_bits_objective_reference, (
        "An objective for fit is any function objective(model, x, y) that returns ELBOTerms(recon, kl, total), one "
        "number per image in each: fit minimises the mean of total and reports recon + kl, the negative ELBO.",
        "Flatten x; encode it; draw z with model.reparameterize; decode to logits. recon is each image's BCE summed "
        "over the pixels, kl each image's plain KL (summed over the latent dimensions); only total carries free bits: "
        "recon plus the one free-bits number of the batch (your free_bits_kl), the same for every image.",
        "recon_b = Σ_i BCE(η_i(z_b), x_bi),  kl_b = Σ_u KL_u(x_b),  total_b = recon_b + Σ_u max(λ, (1/B) Σ_b' "
        "KL_u(x_b')); skeleton: ELBOTerms(___, ___, ___ + free_bits_kl(___, ___, ___))."),
        "09", replaces=("vae_course.objectives.warmup._free_bits_terms",)),
    Exercise("unit_variances", check_unit_variances, _unit_variances_reference, (
        "A_u is the variance over the images of unit u's posterior mean; a data set too big for one pass of the "
        "encoder goes through it in batches, and the variance must still be over all the images together.",
        "Encode the images batch_size at a time (no gradients needed) and keep each batch's means, or only running "
        "sums of mu and of mu squared per unit (in float64); after the last batch, combine them into one variance "
        "per unit: shape (D,).",
        "A_u = (1/N) Σ_n (μ_u(x_n) − μ̄_u)² = (1/N) Σ_n μ_u(x_n)² − μ̄_u², with μ̄_u = (1/N) Σ_n μ_u(x_n) and n over "
        "all the batches; skeleton: for each batch, mu_batch = model.encode(___)[0], then combine ___."),
        "09", replaces=("vae_course.evaluation.collapse.unit_activity", "vae_course.evaluation.collapse.active_units",
                        "vae_course.evaluation.collapse.posterior_params")),
    Exercise("cvae_log_px_bound", check_cvae_log_px_bound, _cvae_bound_reference, (
        "The label is a discrete latent variable: p(x) = Σ_y p(y) p(x | y), and each p(x | y) is at least "
        "exp(L(x, y)), the CVAE's conditional ELBO. So the p(y)-weighted sum of the exponentiated ELBOs bounds p(x).",
        "For each label y in turn, give the whole batch that label, encode, draw z with the given eps (the same for "
        "every label), decode, and compute each image's conditional ELBO: a (B, C) table. Add log p(y) to each "
        "column and combine the columns over the labels without leaving log space (the ELBOs are near -1000).",
        "L(x, y) = −Σ_i BCE(η_i(z_y, y), x_i) − ½ Σ_j (σ_j² + μ_j² − 1 − log σ_j²) with z_y = μ(x, y) + σ(x, y)·ε; "
        "bound(x) = log Σ_y exp(log p(y) + L(x, y)), a logsumexp over the label axis of ___ + ___."),
        "10"),
)
