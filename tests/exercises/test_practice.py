"""The exercises of notebooks 05 (vae_loss) and 06 (hole_test, interpolation_path)."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli

from vae_course.teaching import exercises as E

from .spec import Spec, Wrong, in_dtype, run_spec

F64 = torch.float64
DIFF = "largest absolute difference"


def _kl(mu, logvar, dim=None):
    terms = 1 + logvar - mu.pow(2) - logvar.exp()
    return -0.5 * (terms.sum() if dim is None else terms.sum(dim))


def solution(logits, x, mu, logvar):
    x = x.reshape(x.shape[0], -1)
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") + _kl(mu, logvar)


def per_image(logits, x, mu, logvar):
    x = x.reshape(x.shape[0], -1)
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1) + _kl(mu, logvar, 1)


def through_probabilities(logits, x, mu, logvar):  # the reference script's way: saturates for large logits
    x = x.reshape(x.shape[0], -1)
    return F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") + _kl(mu, logvar)


def from_the_math(logits, x, mu, logvar):
    """The loss written from its formulas: softplus(eta) - x eta, and the KL of notebook 03."""
    x = x.reshape(x.shape[0], -1)
    return (F.softplus(logits) - x * logits).sum() + 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum()


def two_softplus(logits, x, mu, logvar):
    """x softplus(-eta) + (1 - x) softplus(eta): the same BCE, before the simplification."""
    x = x.reshape(x.shape[0], -1)
    return (x * F.softplus(-logits) + (1 - x) * F.softplus(logits)).sum() + _kl(mu, logvar)


def bernoulli_validated(logits, x, mu, logvar):  # torch's Bernoulli rejects grey x
    return -Bernoulli(logits=logits).log_prob(x.reshape(len(x), -1)).sum() + _kl(mu, logvar)


def hole_test(z, mu, logvar, fraction=0.1):
    """The solved hole test (notebook 06), as its solution cell holds it."""
    log_n = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z[:, None, :]).sum(-1)  # (M, N)
    log_q = torch.logsumexp(log_n, dim=1) - math.log(mu.shape[0])  # (M,)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)  # (M,)
    in_hole = (log_q < log_p + math.log(fraction)).to(z.dtype)
    mass = in_hole.mean()
    return log_q, mass, (mass * (1 - mass) / len(z)).sqrt()


def hole_by_hand(z, mu, logvar, fraction=0.1):
    """Equivalent: the Gaussian log-density written out, a max-shifted log-sum-exp, floats returned."""
    var = logvar.exp()
    quad = ((z[:, None, :] - mu[None]) ** 2 / var[None]).sum(-1)  # (M, N)
    log_n = -0.5 * (quad + logvar.sum(1)[None] + mu.shape[1] * math.log(2 * math.pi))
    top = log_n.max(1, keepdim=True).values
    log_q = top.squeeze(1) + torch.log(torch.exp(log_n - top).mean(1))
    log_p = -0.5 * (z.pow(2).sum(1) + z.shape[1] * math.log(2 * math.pi))
    h = (torch.exp(log_q) < fraction * torch.exp(log_p)).double().mean().item()
    return log_q, h, math.sqrt(h * (1 - h) / len(z))


def hole_wrong(**how):
    def fn(z, mu, logvar, fraction=0.1):
        log_q, mass, se = hole_test(z, mu, logvar, how.get("fraction", fraction))
        if how.get("no_weights"):
            log_q = log_q + math.log(mu.shape[0])
        if how.get("mean_of_logs"):
            log_q = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z[:, None, :]).sum(-1).mean(1)
        if how.get("variance"):
            log_q = torch.logsumexp(torch.distributions.Normal(mu, logvar.exp()).log_prob(z[:, None, :]).sum(-1),
                                    1) - math.log(len(mu))
        if how.get("no_prior") or how.get("variance") or how.get("mean_of_logs") or how.get("no_weights"):
            log_p = 0.0 if how.get("no_prior") else torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
            mass = (log_q < log_p + math.log(fraction)).to(z.dtype).mean()
            se = (mass * (1 - mass) / len(z)).sqrt()
        if how.get("unbiased"):
            se = (log_q < torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1) + math.log(fraction)).to(
                z.dtype).std() / math.sqrt(len(z))
        if how.get("variance_of_share"):
            se = se ** 2
        if how.get("no_over_m"):
            se = (mass * (1 - mass)).sqrt()
        if how.get("per_dim"):
            log_q = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z[:, None, :]).logsumexp(1)
        return log_q, mass, se
    return fn


def path_ok(z0, z1, steps):
    return z0 + torch.linspace(0, 1, steps, dtype=z0.dtype)[:, None] * (z1 - z0)


SPECS = [
    Spec("vae_loss", E.check_vae_loss, solution, in_dtype(solution, F64),
         [("-Bernoulli(logits=...).log_prob summed", lambda logits, x, mu, lv: -Bernoulli(logits=logits, validate_args=False).log_prob(
              x.reshape(len(x), -1)).sum() + _kl(mu, lv)),
          ("softplus(eta) - x eta, the KL as 1/2 (mu^2 + sigma^2 - 1 - logvar)", from_the_math),
          ("x softplus(-eta) + (1 - x) softplus(eta)", two_softplus)],
         [Wrong("BCE through sigmoid probabilities", through_probabilities,
                ("case 3 (confident logits", DIFF, "sigmoid probabilities")),
          Wrong("BCE averaged (reduction='mean')", lambda logits, x, mu, lv: F.binary_cross_entropy_with_logits(
              logits, x.reshape(len(x), -1)) + _kl(mu, lv), (DIFF, "averaging the BCE")),
          Wrong("no KL", lambda logits, x, mu, lv: F.binary_cross_entropy_with_logits(
              logits, x.reshape(len(x), -1), reduction="sum"), ("case 2 (", DIFF, "KL term seems to be missing")),
          Wrong("KL subtracted", lambda logits, x, mu, lv: solution(logits, x, mu, lv) - 2 * _kl(mu, lv),
                (DIFF, "wrong sign")),
          Wrong("one value per image", per_image, ("wrong shape: got (2,), expected ()", "one value per image")),
          Wrong("x not flattened", lambda logits, x, mu, lv: F.binary_cross_entropy_with_logits(
              logits, x, reduction="sum") + _kl(mu, lv), ("case 2 (", "raised")),
          Wrong("torch's Bernoulli(logits).log_prob, which rejects grey x", bernoulli_validated,
                ("case 2 (grey x", "raised ValueError", "x is grey", "write it from the logits"))]),
    Spec("hole_test", E.check_hole_test, hole_test, in_dtype(hole_test, F64),
         [("the Gaussian written out, a max-shifted log-sum-exp, densities compared, floats returned", hole_by_hand)],
         [Wrong("the mixture's 1/N forgotten", hole_wrong(no_weights=True), ("case 2 (", "log_q", DIFF, "1/N")),
          Wrong("the average of the log-densities", hole_wrong(mean_of_logs=True),
                ("case 2 (", "log_q", DIFF, "averaging the log-densities")),
          Wrong("the variance as Normal's scale", hole_wrong(variance=True),
                ("case 2 (", "log_q", DIFF, "variance where the standard deviation belongs")),
          Wrong("q(z) < 0.1, without the prior", hole_wrong(no_prior=True), ("mass", DIFF, "fraction alone")),
          Wrong("torch's unbiased std for the standard error", hole_wrong(unbiased=True),
                ("stderr", DIFF, "M - 1")),
          Wrong("the variance of the share as its standard error", hole_wrong(variance_of_share=True),
                ("stderr", DIFF, "square root")),
          Wrong("sqrt(h (1 - h)) without the / M", hole_wrong(no_over_m=True),
                ("stderr", DIFF, "spread of one yes-or-no draw")),
          Wrong("0.1 hard-coded", hole_wrong(fraction=0.1), ("case 3 (", "mass", DIFF, "fraction")),
          Wrong("no sum over the latent axis", hole_wrong(per_dim=True), ("case 1 (", "log_q", "wrong shape"))]),
    Spec("interpolation_path", E.check_interpolation_path, path_ok, in_dtype(path_ok, F64),
         [("torch.lerp", lambda z0, z1, s: torch.lerp(z0, z1, torch.linspace(0, 1, s)[:, None])),
          ("stacked (1 - t) z0 + t z1", lambda z0, z1, s: torch.stack([(1 - t) * z0 + t * z1
                                                                       for t in torch.linspace(0, 1, s)]))],
         [Wrong("one step short of z1", lambda z0, z1, s: z0 + torch.linspace(0, 1, s + 1)[:-1, None] * (z1 - z0),
                ("case 1 (2 steps", DIFF, "one step short")),
          Wrong("only the endpoints", lambda z0, z1, s: torch.stack([z0, z1]), ("case 2 (", "wrong shape")),
          Wrong("backwards", lambda z0, z1, s: path_ok(z1, z0, s), (DIFF, "backwards")),
          Wrong("transposed (D, steps)", lambda z0, z1, s: path_ok(z0, z1, s).T, ("case 1 (", DIFF))]),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_exercise(spec):
    run_spec(spec)


def test_vae_loss_per_image_reduction():
    assert E.check_vae_loss(per_image, reduction="none")
    r = E.check_vae_loss(solution, reduction="none")
    assert not r and "wrong shape: got (), expected (2,)" in r.message
    with pytest.raises(ValueError, match="reduction"):
        E.check_vae_loss(solution, reduction="mean")


def test_handing_the_work_to_the_package_is_no_pass():
    from vae_course.evaluation import log_aggregate_posterior
    from vae_course.objectives import bernoulli_nll, gaussian_kl

    assert E.check_vae_loss(lambda logits, x, mu, lv: (bernoulli_nll(logits, x) + gaussian_kl(mu, lv)).sum()
                            ).verdict == "REFERENCE"
    assert E.check_hole_test(lambda z, mu, lv, fraction=0.1: hole_by_hand(z, mu, lv, fraction)[:0] + (
        log_aggregate_posterior(z, mu, lv),) + hole_by_hand(z, mu, lv, fraction)[1:]).verdict == "REFERENCE"


def test_pass_messages_are_unchanged():
    assert E.check_vae_loss(solution).message == \
        "PASS vae_loss: all 7 cases match the reference (fixed and random inputs)."
    assert E.check_interpolation_path(path_ok).message == \
        "PASS interpolation_path: all 7 cases match the reference (fixed and random inputs)."
