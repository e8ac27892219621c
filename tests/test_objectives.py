"""The objectives as objects (issue 26 §2): ELBO and IWAE train exactly what the old fit options trained, compose
(IWAE with a learned prior), and a learner's plain function is an objective too.

``fixtures/old_fit_runs.json`` holds the results of the old ``fit(beta=4, free_bits=0.25)``, ``fit(kl_warmup_epochs=1,
binarize="dynamic")``, ``fit(iwae_k=3)`` and ``fit(prior=...)`` on a tiny seeded run, recorded with
``fixtures/record_old_fit.py`` at the commit named in the file (the last commit with the old ``fit``); the new
objectives must give the same parameters and figures, bit for bit, on the same machine type.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from vae_course.evaluation import LearnedSigmaGaussian, evaluate
from vae_course.models import VAE
from vae_course.objectives import ELBO, IWAE, ELBOTerms, MixtureOfGaussiansPrior, gaussian_kl
from vae_course.training import fit

OLD = json.loads((Path(__file__).parent / "fixtures" / "old_fit_runs.json").read_text())


def _data():
    g = torch.Generator().manual_seed(123)
    return torch.rand(300, 784, generator=g), torch.rand(64, 784, generator=g)


def _digest(*modules) -> str:
    parts = []
    for module in modules:
        flat = torch.cat([p.detach().reshape(-1) for p in module.parameters()]).contiguous()
        parts.append(hashlib.sha256(flat.numpy().tobytes()).hexdigest())
    return ":".join(parts)


NEW = {
    "beta4_freebits0.25": lambda: ELBO(beta=4, free_bits=0.25, precision="fp32"),
    "warmup1_dynamic": lambda: ELBO(warmup_epochs=1, binarize="dynamic", precision="fp32"),
    "iwae_k3": lambda: IWAE(3, precision="fp32"),
    "mog_prior": lambda: ELBO(prior=MixtureOfGaussiansPrior(4, num_components=3, seed=0), precision="fp32"),
}


@pytest.mark.parametrize("name", sorted(NEW))
def test_the_objects_train_what_the_old_fit_options_trained_bit_for_bit(name):
    old = OLD["runs"][name]
    train, test = _data()
    torch.manual_seed(0)
    model = VAE(hidden_dim=32, latent_dim=4)
    objective = NEW[name]()
    hist = fit(model, train, test, objective=objective, epochs=2, batch_size=64, seed=0, progress=False)
    modules = (model, objective.prior) if objective.prior is not None else (model,)
    for key in ("train_loss", "train_recon", "train_kl", "test_loss", "test_recon", "test_kl", "beta"):
        assert getattr(hist, key) == old[key], f"{name}: {key} differs from the old fit's"
    assert _digest(*modules) == old["parameters_sha256"], f"{name}: the trained parameters differ from the old fit's"


def _free_bits_by_hand(model, x, y=None):
    """beta = 4 and 0.25 free bits, written from the math: recon + 4 * sum_d max(0.25, mean_batch KL_d)."""
    mu, logvar = model.encode(x)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    logits = model.decode_logits(z)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)  # (B,) = -log p(x|z)
    kl_d = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)  # (B, D)
    total = recon + 4 * kl_d.mean(0).clamp(min=0.25).sum()
    return ELBOTerms(recon, kl_d.sum(1), total)


_free_bits_by_hand.precision = "fp32"  # optional: a plain function gets fit's "auto" precision otherwise


def test_a_plain_function_is_an_objective_and_matches_the_object():
    """The math written out trains the same model as ELBO(beta=4, free_bits=0.25), up to float rounding (the two
    compute the same numbers in a different order; the bit-for-bit test against the old fit is above)."""
    train, test = _data()
    runs = []
    for objective in (_free_bits_by_hand, ELBO(beta=4, free_bits=0.25, precision="fp32")):
        torch.manual_seed(0)
        model = VAE(hidden_dim=32, latent_dim=4)
        hist = fit(model, train, test, objective=objective, epochs=2, batch_size=64, seed=0, progress=False)
        runs.append((model, hist))
    (m1, h1), (m2, h2) = runs
    assert h1.train_loss == pytest.approx(h2.train_loss, rel=1e-5)
    assert h1.test_loss == pytest.approx(h2.test_loss, rel=1e-5)
    assert all(torch.allclose(a, b, rtol=1e-3, atol=1e-5) for a, b in zip(m1.parameters(), m2.parameters()))
    assert h1.beta == [1.0, 1.0] and h2.beta == [4.0, 4.0]  # a plain function schedules nothing


def test_iwae_with_a_learned_prior_is_the_log_joint_written_out():
    torch.manual_seed(0)
    model = VAE(hidden_dim=32, latent_dim=3).eval()
    prior = MixtureOfGaussiansPrior(3, num_components=4, seed=1)
    x = torch.bernoulli(torch.rand(5, 784, generator=torch.Generator().manual_seed(2)))
    k = 7
    torch.manual_seed(3)
    terms = IWAE(k, prior=prior)(model, x)
    # by hand: the same k draws z_j = mu + sigma * eps_j per image, in the order (k, B)
    torch.manual_seed(3)
    mu, logvar = model.encode(x)
    std = torch.exp(0.5 * logvar)
    eps = torch.randn(k * 5, 3).reshape(k, 5, 3)
    z = mu + std * eps  # (k, B, D)
    log_px_z = -F.binary_cross_entropy_with_logits(model.decode_logits(z.reshape(-1, 3)), x.repeat(k, 1),
                                                   reduction="none").sum(1).reshape(k, 5)
    comp = torch.distributions.Independent(torch.distributions.Normal(prior.means, torch.exp(0.5 * prior.logvars)), 1)
    log_pz = torch.logsumexp(comp.log_prob(z.unsqueeze(-2)) + torch.log_softmax(prior.logits, 0), dim=-1)  # (k, B)
    log_qz = torch.distributions.Normal(mu, std).log_prob(z).sum(-1)  # (k, B)
    log_w = log_px_z + log_pz - log_qz
    bound = torch.logsumexp(log_w, 0) - math.log(k)  # L_k per image
    assert torch.allclose(-terms.total, bound, atol=1e-4)
    assert torch.allclose(terms.recon, -log_px_z.mean(0), atol=1e-4)
    assert torch.allclose(terms.kl, (log_qz - log_pz).mean(0), atol=1e-4)
    assert (bound >= (log_w.mean(0)) - 1e-4).all()  # L_k is above the ELBO estimate of the same draws


def test_iwae_with_a_learned_prior_trains_the_prior():
    train, test = _data()
    train = torch.bernoulli(train, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = VAE(hidden_dim=32, latent_dim=2)
    prior = MixtureOfGaussiansPrior(2, num_components=3, seed=0)
    before = [p.detach().clone() for p in prior.parameters()]
    hist = fit(model, train, test, objective=IWAE(4, prior=prior), epochs=2, batch_size=64, progress=False)
    assert all(math.isfinite(v) for v in hist.test_loss) and hist.train_loss[1] < hist.train_loss[0]
    assert any(not torch.equal(a, b) for a, b in zip(before, prior.parameters()))


def test_iwae_k1_is_the_elbo_step_for_step():
    train, test = _data()
    runs = []
    for objective in (ELBO(), IWAE(1)):
        torch.manual_seed(0)
        model = VAE(hidden_dim=32, latent_dim=4)
        runs.append((fit(model, train, test, objective=objective, epochs=1, batch_size=64, progress=False), model))
    assert runs[0][0].train_loss == pytest.approx(runs[1][0].train_loss, rel=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(runs[0][1].parameters(), runs[1][1].parameters()))


def test_warm_up_knows_the_step_through_start_step():
    objective = ELBO(beta=2.0, warmup_epochs=2)
    assert [objective.start_step(s, 4) for s in (0, 2, 4, 8, 100)] == [0.0, 0.5, 1.0, 2.0, 2.0]
    train, _ = _data()
    hist = fit(VAE(hidden_dim=16, latent_dim=2), train, objective=ELBO(warmup_epochs=2), epochs=3, batch_size=100,
               progress=False)
    assert hist.beta[0] < hist.beta[1] < hist.beta[2] == 1.0  # 3 steps an epoch: weights 0, 1/6, 2/6 ... then 1


def test_an_objective_with_its_own_lr_gets_its_own_adam_group():
    train, _ = _data()
    lik = LearnedSigmaGaussian(lr=5e-2)
    start = lik.sigma().item()
    fit(VAE(hidden_dim=16, latent_dim=2), train, objective=lik, epochs=1, batch_size=100, progress=False)
    assert abs(lik.sigma().item() - start) > 0.05  # 3 Adam steps of 5e-2 on log sigma; at 1e-3 it would barely move


def test_lr_can_be_a_schedule_and_callbacks_are_called_in_order():
    train, test = _data()
    calls = []

    class Listener:
        def on_epoch_end(self, model, epoch, history):
            calls.append(("object", epoch, history.epochs))

    runs = []
    for lr in (1e-3, lambda epoch: 1e-3):
        torch.manual_seed(0)
        model = VAE(hidden_dim=16, latent_dim=2)
        runs.append(fit(model, train, test, epochs=2, batch_size=100, lr=lr, progress=False,
                        callbacks=[Listener(), lambda epoch, h: calls.append(("function", epoch, h.epochs))]))
    assert runs[0].train_loss == runs[1].train_loss
    assert calls[:4] == [("object", 1, 1), ("function", 1, 1), ("object", 2, 2), ("function", 2, 2)]
    with pytest.raises(ValueError, match=r"lr\(2\)"):
        fit(VAE(hidden_dim=16, latent_dim=2), train, epochs=2, batch_size=100, progress=False,
            lr=lambda epoch: 1e-3 if epoch == 1 else 0.0)


def test_history_extend_continues_a_history():
    train, test = _data()
    model = VAE(hidden_dim=16, latent_dim=2)
    hist = fit(model, train, test, epochs=1, batch_size=100, progress=False)
    hist.extend(fit(model, train, test, epochs=2, batch_size=100, progress=False))
    assert hist.epochs == 3 and len(hist.test_loss) == len(hist.beta) == 3


def test_evaluate_takes_the_objective():
    torch.manual_seed(0)
    model = VAE(hidden_dim=16, latent_dim=2)
    _, test = _data()
    plain = evaluate(model, test)
    assert evaluate(model, test, objective=ELBO(beta=4, free_bits=1.0)) == plain  # same draws; the figures are -ELBO
    assert evaluate(model, test, objective=ELBO(binarize="dynamic")) == plain  # eval mode: no binarization
    assert plain["kl"] == pytest.approx(gaussian_kl(*model.encode(test)).mean().item(), rel=1e-5)
    gauss = evaluate(model, test, objective=ELBO(likelihood="gaussian"))
    assert gauss["recon"] != plain["recon"]


def test_the_objects_say_what_they_are():
    assert repr(ELBO()) == "ELBO()"
    assert repr(ELBO(beta=4, free_bits=0.25)) == "ELBO(beta=4.0, free_bits=0.25)"
    assert repr(IWAE(5)) == "IWAE(k=5)"
