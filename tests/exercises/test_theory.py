"""The exercises of notebooks 01-04: solved, float32 and equivalent answers pass, stubs are TODO, typical mistakes
FAIL with the case, the difference or the shape, and a diagnosis, never the formula."""
import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae_course.teaching import exercises as E

from .spec import Spec, Wrong, in_dtype, run_spec

F32, F64 = torch.float32, torch.float64
DIFF = "largest absolute difference"


def mc_ok(toy, x, z):
    return torch.logsumexp(toy.log_likelihood(x, z).sum(-1), 0) - math.log(z.shape[0])


def mc_max_shift(toy, x, z):
    lp = Normal(toy.w * z + toy.b, toy.s).log_prob(x).sum(-1)
    m = lp.max()
    return m + torch.log(torch.exp(lp - m).mean())


def mc_tensor_log(toy, x, z):
    return torch.logsumexp(toy.log_likelihood(x, z).sum(-1), 0) - torch.log(torch.tensor(z.shape[0]))


def post_ok(w, b, s, x):
    return w * (x - b) / (w ** 2 + s ** 2), s ** 2 / (w ** 2 + s ** 2)


def post_square(w, b, s, x):  # completing the square: precision a, linear coefficient c
    a = 1 + w ** 2 / s ** 2
    c = w * (x - b) / s ** 2
    return c / a, 1 / a


def post_f32(w, b, s, x):
    x = torch.as_tensor(x, dtype=F32)
    return w * (x - b) / (w ** 2 + s ** 2), torch.tensor(s ** 2 / (w ** 2 + s ** 2), dtype=F32)


def toy_elbo_ok(toy, x, m, v):
    recon = -0.5 * math.log(2 * math.pi * toy.s ** 2) - ((x - toy.w * m - toy.b) ** 2 + toy.w ** 2 * v ** 2) / (
        2 * toy.s ** 2)
    return recon - 0.5 * (m ** 2 + v ** 2 - 1 - torch.log(v ** 2))


def toy_elbo_distributions(toy, x, m, v):
    q = Normal(m, v)
    exp_loglik = (Normal(toy.w * m + toy.b, toy.s).log_prob(x) - toy.w ** 2 * v ** 2 / (2 * toy.s ** 2))
    return exp_loglik - kl_divergence(q, Normal(torch.zeros_like(m), torch.ones_like(v)))


def kl_ok(mu, lv):
    return -0.5 * torch.sum(1 + lv - mu ** 2 - lv.exp(), dim=-1)


def reparam_ok(mu, lv, eps):
    return mu + torch.exp(0.5 * lv) * eps


def score_ok(f, mu, sigma, z):
    fz = f(z)
    return torch.stack([(fz * (z - mu) / sigma ** 2).mean(), (fz * ((z - mu) ** 2 - sigma ** 2) / sigma ** 3).mean()])


def score_autograd(f, mu, sigma, z):  # the score from autograd of log q, f's values only
    mu, sigma = mu.clone().requires_grad_(True), sigma.clone().requires_grad_(True)
    log_q = Normal(mu, sigma).log_prob(z)  # (n,)
    fz = f(z).detach()
    d_mu, d_sigma = torch.autograd.grad((fz * log_q).mean(), (mu, sigma))
    return torch.stack([d_mu, d_sigma])


SPECS = [
    Spec("mc_log_marginal", E.check_mc_marginal, mc_ok, in_dtype(mc_ok, F32),
         [("hand-written max shift with torch.distributions", mc_max_shift),
          ("log n as torch.log(torch.tensor(n))", mc_tensor_log)],
         [Wrong("log(mean(exp(...))): underflows in 50-D",
                lambda toy, x, z: toy.log_likelihood(x, z).sum(-1).exp().mean().log(),
                ("case 7 (50-D", DIFF, "inf or NaN", "log space")),
          Wrong("mean of the log-likelihoods (E[log] for log E)", lambda toy, x, z: toy.log_likelihood(x, z).sum(-1).mean(),
                (DIFF, "averaging the log-likelihoods")),
          Wrong("log of the sum (missing 1/n)", lambda toy, x, z: torch.logsumexp(toy.log_likelihood(x, z).sum(-1), 0),
                (DIFF, "missing the 1/n")),
          Wrong("no sum over the D coordinates", lambda toy, x, z: torch.logsumexp(toy.log_likelihood(x, z), 0)
                - math.log(z.shape[0]), ("wrong shape", "missing a sum"))]),
    Spec("toy_posterior", E.check_toy_posterior, post_ok, post_f32,
         [("completing the square (precision, then mean)", post_square),
          ("variance as a tensor shaped like x", lambda w, b, s, x: (post_ok(w, b, s, x)[0],
                                                                      torch.full_like(torch.as_tensor(x, dtype=F64),
                                                                                      s ** 2 / (w ** 2 + s ** 2))))],
         [Wrong("std for the variance", lambda w, b, s, x: (post_ok(w, b, s, x)[0], post_ok(w, b, s, x)[1] ** 0.5),
                ("variance: largest absolute difference", "standard deviation where the variance belongs")),
          Wrong("the precision for the variance", lambda w, b, s, x: (post_ok(w, b, s, x)[0], 1 / post_ok(w, b, s, x)[1]),
                (DIFF, "precision")),
          Wrong("no prior (the likelihood's maximiser)", lambda w, b, s, x: ((x - b) / w, s ** 2 / w ** 2),
                ("mean: largest absolute difference", "ignore the prior")),
          Wrong("offset b forgotten", lambda w, b, s, x: (w * x / (w ** 2 + s ** 2), s ** 2 / (w ** 2 + s ** 2)),
                (DIFF, "offset b")),
          Wrong("only the mean returned", lambda w, b, s, x: post_ok(w, b, s, x)[0], ("expected 2 values",))]),
    Spec("toy_elbo", E.check_toy_elbo, toy_elbo_ok, in_dtype(toy_elbo_ok, F32),
         [("torch.distributions (Normal, kl_divergence)", toy_elbo_distributions)],
         [Wrong("std squared twice (variance used as std)", lambda toy, x, m, v: toy_elbo_ok(toy, x, m, v * v),
                (DIFF, "standard deviation where the variance belongs")),
          Wrong("missing the w^2 v^2 term of E_q", lambda toy, x, m, v: toy_elbo_ok(toy, x, m, v)
                + toy.w ** 2 * v ** 2 / (2 * toy.s ** 2), (DIFF, "q's spread")),
          Wrong("+KL instead of -KL", lambda toy, x, m, v: toy_elbo_ok(toy, x, m, v)
                + (m ** 2 + v ** 2 - 1 - torch.log(v ** 2)),
                (DIFF, "wrong sign")),
          Wrong("log p(x) instead of the ELBO", lambda toy, x, m, v: toy.log_marginal(x) + 0 * m,
                ("case 2 (", DIFF, "log p(x), the evidence"))]),
    Spec("gaussian_kl", E.check_gaussian_kl, kl_ok, in_dtype(kl_ok, F64),
         [("torch.distributions kl_divergence", lambda mu, lv: kl_divergence(
             Normal(mu, torch.exp(0.5 * lv)), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)),
          ("0.5 * sum(mu^2 + sigma^2 - 1 - log sigma^2)", lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - 1 - lv).sum(1))],
         [Wrong("summed over everything", lambda mu, lv: -0.5 * torch.sum(1 + lv - mu ** 2 - lv.exp()),
                ("wrong shape: got (), expected (3,)", "too many axes")),
          Wrong("no sum", lambda mu, lv: -0.5 * (1 + lv - mu ** 2 - lv.exp()), ("wrong shape", "missing a sum")),
          Wrong("wrong sign", lambda mu, lv: 0.5 * torch.sum(1 + lv - mu ** 2 - lv.exp(), dim=-1),
                ("case 2 (", DIFF, "wrong sign")),
          Wrong("std where the variance belongs", lambda mu, lv: -0.5 * torch.sum(1 + lv - mu ** 2 - torch.exp(0.5 * lv),
                                                                                  dim=-1),
                (DIFF, "standard deviation where the variance belongs")),
          Wrong("missing the 1", lambda mu, lv: -0.5 * torch.sum(lv - mu ** 2 - lv.exp(), dim=-1), (DIFF, "the 1")),
          Wrong("log(logvar) (logvar taken for the variance)",
                lambda mu, lv: -0.5 * torch.sum(1 + torch.log(lv) - mu ** 2 - lv, dim=-1),
                ("case 1 (", "inf or NaN", "log or a square root of logvar")),
          Wrong("logvar taken for sigma", lambda mu, lv: 0.5 * torch.sum(mu ** 2 + lv ** 2 - 1 - torch.log(lv ** 2), dim=-1),
                ("inf or NaN", "may be 0 or negative"))]),
    Spec("reparameterize", E.check_reparameterize, reparam_ok, in_dtype(reparam_ok, F64),
         [("logvar.mul(0.5).exp()", lambda mu, lv, eps: mu + lv.mul(0.5).exp() * eps),
          ("sqrt of the variance", lambda mu, lv, eps: mu + torch.sqrt(torch.exp(lv)) * eps)],
         [Wrong("exp(logvar) as the std", lambda mu, lv, eps: mu + torch.exp(lv) * eps,
                ("case 2 (sigma = 2", DIFF, "variance where the standard deviation belongs")),
          Wrong("logvar as the std", lambda mu, lv, eps: mu + lv * eps, (DIFF, "logvar itself")),
          Wrong("a detached logvar", lambda mu, lv, eps: mu + torch.exp(0.5 * lv.detach()) * eps,
                ("dz/dlogvar: largest absolute difference", "detached")),
          Wrong("z detached", lambda mu, lv, eps: (mu + torch.exp(0.5 * lv) * eps).detach(), ("no gradient",)),
          Wrong("sqrt(logvar) as the std", lambda mu, lv, eps: mu + torch.sqrt(lv) * eps,
                ("inf or NaN", "square root")),
          Wrong("mu detached", lambda mu, lv, eps: mu.detach() + torch.exp(0.5 * lv) * eps,
                ("dz/dmu: largest absolute difference", "No gradient reaches mu"))]),
    Spec("score_function_grad", E.check_score_function, score_ok, in_dtype(score_ok, F32),
         [("autograd of log q times f's values", score_autograd)],
         [Wrong("sum over the draws", lambda f, mu, sigma, z: score_ok(f, mu, sigma, z) * z.shape[0],
                (DIFF, "summing over the draws")),
          Wrong("d_mu divided by sigma, not sigma^2",
                lambda f, mu, sigma, z: score_ok(f, mu, sigma, z) * torch.stack([sigma, sigma ** 0]),
                (DIFF, "d/dmu is off by a factor of sigma")),
          Wrong("d_sigma missing", lambda f, mu, sigma, z: torch.stack([(f(z) * (z - mu)).mean() / sigma ** 2,
                                                                       torch.zeros((), dtype=z.dtype)]), (DIFF,)),
          Wrong("a scalar, not the pair", lambda f, mu, sigma, z: score_ok(f, mu, sigma, z).sum(),
                ("wrong shape", "too many axes"))]),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_exercise(spec):
    run_spec(spec)


def test_pass_messages_are_unchanged():
    """The notebooks' stored outputs show these lines: they must stay byte-identical."""
    assert E.check_mc_marginal(mc_ok).message == \
        "PASS mc_log_marginal: all 7 cases match the reference (fixed and random inputs)."
    assert E.check_toy_elbo(toy_elbo_ok).message == \
        "PASS toy_elbo: all 7 cases match the reference (fixed and random inputs)."
    assert E.check_gaussian_kl(kl_ok).message == \
        "PASS gaussian_kl: all 7 cases match the reference (fixed and random inputs)."
    assert E.check_reparameterize(reparam_ok).message == \
        "PASS reparameterize: all 6 cases match the reference (fixed and random inputs)."
    assert E.check_score_function(score_ok).message == \
        "PASS score_function_grad: all 7 cases match the reference (fixed and random inputs)."


def test_the_toy_posterior_reference_is_the_package_posterior():
    from vae_course.theory import LinearGaussian

    mean, var = E.EXERCISES["toy_posterior"].reference(2.0, 0.5, 1.0, 3.0)
    assert float(mean) == pytest.approx(1.0, abs=1e-12) and float(var) == pytest.approx(0.2, abs=1e-12)
    toy = LinearGaussian(-1.5, 0.8, 0.6)
    z = torch.linspace(-8, 8, 160_001, dtype=F64)
    density = (toy.log_joint(2.0, z) - toy.log_joint(2.0, z).max()).exp()
    density = density / torch.trapezoid(density, z)
    grid_mean = torch.trapezoid(z * density, z)
    m, v = post_ok(-1.5, 0.8, 0.6, 2.0)
    assert float(grid_mean) == pytest.approx(m, abs=1e-8)
    assert float(torch.trapezoid((z - grid_mean) ** 2 * density, z)) == pytest.approx(v, abs=1e-8)
