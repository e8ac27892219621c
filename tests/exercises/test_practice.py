"""The exercises of notebooks 05 (vae_loss) and 06 (interpolation_path)."""
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


def path_ok(z0, z1, steps):
    return z0 + torch.linspace(0, 1, steps, dtype=z0.dtype)[:, None] * (z1 - z0)


SPECS = [
    Spec("vae_loss", E.check_vae_loss, solution, in_dtype(solution, F64),
         [("the per-image ELBO of vae_course.objectives.losses, summed", lambda logits, x, mu, lv: __import__(
             "vae_course.objectives.losses", fromlist=["elbo"]).elbo(logits, x, mu, lv).total.sum()),
          ("-Bernoulli(logits=...).log_prob summed", lambda logits, x, mu, lv: -Bernoulli(logits=logits, validate_args=False).log_prob(
              x.reshape(len(x), -1)).sum() + _kl(mu, lv))],
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
              logits, x, reduction="sum") + _kl(mu, lv), ("case 2 (", "raised"))]),
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


def test_pass_messages_are_unchanged():
    assert E.check_vae_loss(solution).message == \
        "PASS vae_loss: all 7 cases match the reference (fixed and random inputs)."
    assert E.check_interpolation_path(path_ok).message == \
        "PASS interpolation_path: all 7 cases match the reference (fixed and random inputs)."
