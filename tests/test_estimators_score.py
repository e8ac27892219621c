"""The score-function estimators of a VAE's encoder gradient, and the per-image (code-level) variance (notebook 04)."""
import pytest
import torch

from vae_course.models import VAE
from vae_course.theory import (decoder_parameters, encoder_parameters, vae_code_gradient_variance, vae_elbo_estimate,
                               vae_gradient_variance)

F64 = torch.float64


def small_model(seed=0, latent_dim=1):
    torch.manual_seed(seed)
    return VAE(input_dim=6, hidden_dim=5, latent_dim=latent_dim).double()


@pytest.mark.parametrize("name", ["score_function", "score_function_baseline"])
def test_same_value_and_decoder_gradient_as_the_training_loss(name):
    model = small_model(1, latent_dim=2)
    x = torch.rand(4, 6, dtype=F64)
    eps = torch.randn(4, 2, dtype=F64)
    pathwise = vae_elbo_estimate(model, x, eps, "analytic_kl")
    score = vae_elbo_estimate(model, x, eps, name)
    assert torch.allclose(score, pathwise, rtol=0, atol=1e-12)
    dec = decoder_parameters(model)
    for a, b in zip(torch.autograd.grad(pathwise.sum(), dec), torch.autograd.grad(score.sum(), dec)):
        assert torch.allclose(a, b, atol=1e-12)
    enc = encoder_parameters(model)
    diff = [torch.autograd.grad(e.sum(), enc) for e in (vae_elbo_estimate(model, x, eps, "analytic_kl"),
                                                         vae_elbo_estimate(model, x, eps, name))]
    assert max(float((a - b).abs().max()) for a, b in zip(*diff)) > 1e-3  # the encoder's gradients differ per draw


@pytest.mark.parametrize("name", ["score_function", "score_function_baseline"])
def test_score_function_is_unbiased_for_the_encoder(name):
    """Average the encoder gradient over 40 batches of 5,000 draws (one image repeated): the score-function and the
    pathwise means agree within 4 standard errors of their difference, entry by entry."""
    model = small_model(2)
    x = torch.rand(1, 6, dtype=F64).expand(5000, 6)
    enc = encoder_parameters(model)
    gen = torch.Generator().manual_seed(3)
    diffs = []
    for _ in range(40):
        eps = torch.randn(5000, 1, generator=gen, dtype=F64)
        g_pw = torch.autograd.grad(vae_elbo_estimate(model, x, eps, "analytic_kl").mean(), enc)
        g_sf = torch.autograd.grad(vae_elbo_estimate(model, x, eps, name).mean(), enc)
        diffs.append(torch.cat([(a - b).reshape(-1) for a, b in zip(g_sf, g_pw)]))
    d = torch.stack(diffs)  # (40, P)
    se = d.std(0) / 40 ** 0.5
    live = se > 0  # dead ReLU units give exactly 0
    z = d.mean(0)[live] / se[live]
    assert live.sum() > 10 and float(z.abs().max()) < 4.5


def test_code_level_variance_is_per_image():
    """Image b's variance from a batch equals the one computed for image b alone with the same draws."""
    model = small_model(4, latent_dim=2)
    x = torch.rand(3, 6, dtype=F64)
    res = vae_code_gradient_variance(model, x, ("analytic_kl", "score_function"), repeats=30, seed=5)
    assert set(res) == {"analytic_kl", "score_function"} and res["score_function"].shape == (3,)
    with torch.no_grad():
        mu0, lv0 = model.encode(x[1:2])
    from vae_course.theory.estimators import _estimate_from_codes

    gen = torch.Generator().manual_seed(5)
    grads = []
    for _ in range(30):
        eps = torch.randn(3, 2, generator=gen).to(F64)[1:2]
        mu, lv = mu0.clone().requires_grad_(True), lv0.clone().requires_grad_(True)
        g = torch.autograd.grad(_estimate_from_codes(model, x[1:2], mu, lv, eps, "score_function").sum(), (mu, lv))
        grads.append(torch.cat(g, -1).reshape(-1))
    brute = torch.stack(grads).var(0).sum()
    assert torch.allclose(res["score_function"][1], brute, rtol=1e-9)
    assert bool((res["score_function"] > res["analytic_kl"]).all())


def test_the_encoder_level_measure_accepts_the_new_names_and_rejects_others():
    model = small_model(6, latent_dim=2)
    x = torch.rand(4, 6, dtype=F64)
    res = vae_gradient_variance(model, x, ("analytic_kl", "score_function", "score_function_baseline"), repeats=10)
    assert all(v["total_variance"] > 0 for v in res.values())
    with pytest.raises(ValueError, match="estimator"):
        vae_code_gradient_variance(model, x, ("nonsense",), repeats=5)
    with pytest.raises(ValueError, match="repeats"):
        vae_code_gradient_variance(model, x, ("analytic_kl",), repeats=1)
