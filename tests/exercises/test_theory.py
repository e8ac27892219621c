"""The checkers of notebooks 01-04: the shipped solutions pass, typical mistakes fail with a hint."""
import math

import torch

from vae_course import exercises as E


def mc_ok(toy, x, z):
    return torch.logsumexp(toy.log_likelihood(x, z).sum(-1), 0) - math.log(z.shape[0])


def test_mc_marginal():
    assert E.check_mc_marginal(mc_ok)
    bad = E.check_mc_marginal(lambda toy, x, z: toy.log_likelihood(x, z).sum(-1).exp().mean().log())
    assert not bad and "50-D" in bad.message and "logsumexp" in bad.message
    assert not E.check_mc_marginal(lambda toy, x, z: toy.log_likelihood(x, z).sum(-1).mean())  # E[log] != log E


def toy_elbo_ok(toy, x, m, v):
    recon = -0.5 * math.log(2 * math.pi * toy.s ** 2) - ((x - toy.w * m - toy.b) ** 2 + toy.w ** 2 * v ** 2) / (
        2 * toy.s ** 2)
    return recon - 0.5 * (m ** 2 + v ** 2 - 1 - torch.log(v ** 2))


def test_toy_elbo():
    assert E.check_toy_elbo(toy_elbo_ok)
    r = E.check_toy_elbo(lambda toy, x, m, v: toy.log_marginal(x) + 0 * m)  # log p(x) is not the ELBO
    assert not r and "Hint:" in r.message
    assert not E.check_toy_elbo(lambda toy, x, m, v: toy_elbo_ok(toy, x, m, v * v))  # std vs variance


def test_gaussian_kl():
    assert E.check_gaussian_kl(lambda mu, lv: -0.5 * torch.sum(1 + lv - mu ** 2 - lv.exp(), dim=-1))
    r = E.check_gaussian_kl(lambda mu, lv: -0.5 * torch.sum(1 + lv - mu ** 2 - lv.exp()))
    assert not r and "shape" in r.message
    assert not E.check_gaussian_kl(lambda mu, lv: 0.5 * torch.sum(1 + lv - mu ** 2 - lv.exp(), dim=-1))


def test_reparameterize():
    assert E.check_reparameterize(lambda mu, lv, eps: mu + torch.exp(0.5 * lv) * eps)
    r = E.check_reparameterize(lambda mu, lv, eps: (mu + torch.exp(0.5 * lv) * eps).detach())
    assert not r and "no gradient" in r.message
    assert not E.check_reparameterize(lambda mu, lv, eps: mu + torch.exp(lv) * eps)  # logvar is not log std
    assert not E.check_reparameterize(lambda mu, lv, eps: mu + torch.exp(0.5 * lv.detach()) * eps)
    assert "stub" in E.check_reparameterize(lambda mu, lv, eps: (_ for _ in ()).throw(NotImplementedError)).message


def test_score_function():
    def ok(f, mu, sigma, z):
        fz = f(z)
        d_mu = fz * (z - mu) / sigma ** 2
        d_sigma = fz * ((z - mu) ** 2 - sigma ** 2) / sigma ** 3
        return torch.stack([d_mu.mean(), d_sigma.mean()])

    assert E.check_score_function(ok)
    assert not E.check_score_function(lambda f, mu, sigma, z: ok(f, mu, sigma, z) * 2)
    r = E.check_score_function(lambda f, mu, sigma, z: torch.stack([(f(z) * (z - mu)).mean(), torch.tensor(0.0)]))
    assert not r and "Hint:" in r.message
