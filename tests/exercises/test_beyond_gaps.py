"""Notebook 08's amortization-gap exercise (vae_course.teaching.exercises.beyond.check_local_elbo): the ELBO of one image's
own Gaussian q, with the expectation over fixed draws and the entropy in closed form."""
import math

import torch

from vae_course.evaluation import noise_elbo, whitened_noise
from vae_course.teaching import exercises as E
from vae_course.theory import LinearGaussian

from .spec import Spec, Wrong, in_dtype, run_spec

F32, F64 = torch.float32, torch.float64
DIFF = "largest absolute difference"


def local_elbo_ok(log_joint, mu, logvar, eps):
    z = mu + torch.exp(0.5 * logvar) * eps[:, None]  # (S, B, D)
    return log_joint(z).mean(0) + 0.5 * (math.log(2 * math.pi) + 1 + logvar).sum(-1)


def local_elbo_loop(log_joint, mu, logvar, eps):  # one image at a time, the entropy as a sum of log sigma
    out = []
    for b in range(mu.shape[0]):
        z = mu[b] + torch.exp(0.5 * logvar[b]) * eps  # (S, D)
        values = log_joint(z[:, None, :].expand(-1, mu.shape[0], -1))[:, b]  # (S,)
        out.append(values.mean() + (0.5 * math.log(2 * math.pi * math.e) + 0.5 * logvar[b]).sum())
    return torch.stack(out)


def _fit(log_joint, mu, logvar, eps, std):
    return log_joint(mu + std * eps[:, None]).mean(0)


SPEC = Spec(
    "local_elbo", E.check_local_elbo, local_elbo_ok, in_dtype(local_elbo_ok, F32),
    [("image by image, entropy from log sigma", local_elbo_loop)],
    [Wrong("the entropy forgotten", lambda lj, mu, lv, eps: _fit(lj, mu, lv, eps, torch.exp(0.5 * lv)),
           ("case 1 (", DIFF, "missing the entropy")),
     Wrong("sigma = exp(logvar)", lambda lj, mu, lv, eps: _fit(lj, mu, lv, eps, torch.exp(lv))
           + 0.5 * (math.log(2 * math.pi) + 1 + lv).sum(-1), (DIFF, "sigma exp(logvar)")),
     Wrong("the entropy without its +1", lambda lj, mu, lv, eps: local_elbo_ok(lj, mu, lv, eps) - 0.5 * lv.shape[-1],
           (DIFF, "miss the +1")),
     Wrong("the draws summed, not averaged", lambda lj, mu, lv, eps: local_elbo_ok(lj, mu, lv, eps)
           + (eps.shape[0] - 1) * _fit(lj, mu, lv, eps, torch.exp(0.5 * lv)), (DIFF, "summing the S draws")),
     Wrong("a (B, 1) answer", lambda lj, mu, lv, eps: local_elbo_ok(lj, mu, lv, eps)[:, None], ("wrong shape",))])


def test_exercise():
    run_spec(SPEC)


def test_the_reference_is_the_exact_elbo_on_the_toy_with_whitened_noise():
    """On the linear-Gaussian toy log p(x, z) is quadratic in z, so with whitened draws the estimate is exact."""
    toy = LinearGaussian(2.0, 0.5, 0.5)
    x = torch.tensor([3.0, -1.0], dtype=F64)
    mu, logvar = torch.tensor([[0.4], [1.0]], dtype=F64), torch.tensor([[-1.0], [0.5]], dtype=F64)
    got = E.EXERCISES["local_elbo"].reference(lambda z: toy.log_joint(x, z[..., 0]), mu, logvar, whitened_noise(8, 1))
    assert torch.allclose(got, toy.elbo(x, mu[:, 0], torch.exp(0.5 * logvar[:, 0])), atol=1e-12)


def test_the_package_s_noise_elbo_is_the_reference_verdict():
    """Handing the work to vae_course.evaluation.noise_elbo is not a PASS (issue 24's honest grades)."""
    assert E.check_local_elbo(noise_elbo).verdict == "REFERENCE"
    assert E.check_local_elbo(lambda lj, mu, lv, eps: noise_elbo(lj, mu, lv, eps) + 0).verdict == "REFERENCE"


def test_the_pass_line_is_unchanged():
    assert E.check_local_elbo(local_elbo_ok).message == (
        "PASS local_elbo: all 6 cases match the reference (fixed and random quadratic log-joints).")
