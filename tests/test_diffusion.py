"""Notebook 14's package code: the diffusion model as a hierarchical VAE with a fixed encoder
(vae_course.models.diffusion) and its cached recipes (vae_course.training.diffusion)."""
import math

import pytest
import torch

from vae_course.models import (Diffusion, alpha_bar, betas_from_alpha_bar, bits_to_signs, elbo_terms,
                               forward_marginal, gaussian_kl_pair, logsnr_schedule, prior_term, q_posterior,
                               step_kl, strata)
from vae_course.objectives import gaussian_kl
from vae_course.training import (DiffusionELBO, DiffusionRecipe, LatentRecipe, cached_diffusion_elbo,
                                 diffusion_recipe, latent_recipe, load_or_train_diffusion,
                                 load_or_train_latent_diffusion)

F64 = torch.float64


def small_model(data="binary", n=12, steps=20):
    torch.manual_seed(0)
    model = Diffusion(n, 16, 2, 8, steps, data=data).double()
    for p in model.out.parameters():  # the output layer starts at zero; random weights make the checks telling
        torch.nn.init.normal_(p, std=0.3)
    return model


def binary_images(n=6, pixels=12, seed=0):
    return torch.bernoulli(torch.full((n, pixels), 0.4, dtype=F64), generator=torch.Generator().manual_seed(seed))


def test_schedule_is_monotone_and_betas_rebuild_alpha_bar():
    lam = logsnr_schedule(50, 6.0, -10.0)
    assert lam.shape == (50,) and lam[0] == 6.0 and lam[-1] == -10.0 and (lam.diff() < 0).all()
    abar = alpha_bar(lam)
    betas = betas_from_alpha_bar(abar)
    assert ((betas > 0) & (betas < 1)).all()
    assert torch.allclose(torch.cumprod(1 - betas, 0), abar, rtol=1e-12)


def test_forward_marginal_matches_iterating_the_chain():
    alphas = 1 - torch.linspace(0.02, 0.3, 10, dtype=F64)  # the per-step factors alpha_t
    x0 = torch.tensor([[1.0, -1.0, 0.5]], dtype=F64)
    gen = torch.Generator().manual_seed(0)
    n = 200_000
    x = x0.expand(n, 3).clone()
    for a in alphas:  # the chain, step by step
        x = a.sqrt() * x + (1 - a).sqrt() * torch.randn(x.shape, generator=gen, dtype=F64)
    mean, std = forward_marginal(x0, alphas, torch.tensor([10]))
    se_mean = std / math.sqrt(n)
    assert ((x.mean(0) - mean[0]).abs() < 4 * se_mean[0]).all()
    assert ((x.std(0) - std[0]).abs() < 4 * std[0] / math.sqrt(2 * n)).all()


def test_posterior_is_bayes_rule_for_one_coordinate():
    """q(x_{t-1}|x_t, x_0) from its formula equals the product q(x_t|x_{t-1}) q(x_{t-1}|x_0), normalized."""
    abar_prev, abar_t = torch.tensor([0.8], dtype=F64), torch.tensor([0.6], dtype=F64)
    beta = 1 - abar_t / abar_prev
    x0, xt = torch.tensor([[0.7]], dtype=F64), torch.tensor([[-0.2]], dtype=F64)
    grid = torch.linspace(-6, 6, 20001, dtype=F64)
    log_joint = (torch.distributions.Normal((1 - beta).sqrt() * grid, beta.sqrt()).log_prob(xt[0])
                 + torch.distributions.Normal(abar_prev.sqrt() * x0[0], (1 - abar_prev).sqrt()).log_prob(grid))
    w = torch.softmax(log_joint, 0)
    mean_num = (w * grid).sum()
    var_num = (w * (grid - mean_num) ** 2).sum()
    mean, var = q_posterior(x0, xt, abar_t, abar_prev)
    assert abs(float(mean) - float(mean_num)) < 1e-8 and abs(float(var) - float(var_num)) < 1e-7


def test_step_kl_is_the_gaussian_kl_and_agrees_with_monte_carlo():
    model = small_model()
    b = binary_images()
    x0 = bits_to_signs(b)
    lam = model.schedule()
    t = torch.full((len(x0),), 7)
    kl = step_kl(model, x0, t, lam, generator=torch.Generator().manual_seed(3))
    # the same x_t, drawn again, and the KL of notebook 03 between the two Gaussians (diagonal, equal variances)
    gen = torch.Generator().manual_seed(3)
    abar = alpha_bar(lam)
    xt = abar[6].sqrt() * x0 + (1 - abar[6]).sqrt() * torch.randn(x0.shape, generator=gen, dtype=F64)
    a_t, a_p = abar[6].expand(len(x0)), abar[5].expand(len(x0))
    mq, vq = q_posterior(x0, xt, a_t, a_p)
    mp, vp = q_posterior(model.xhat0(xt, lam[6].expand(len(x0))), xt, a_t, a_p)
    closed = gaussian_kl_pair(mq, vq.log().expand_as(mq), mp, vp.log().expand_as(mp))
    assert torch.allclose(kl, closed, rtol=1e-10)
    # Monte Carlo: E_q[log q - log p] with 100,000 draws of x_{t-1}, within 4 standard errors
    s = torch.randn(100_000, *mq.shape, generator=gen, dtype=F64) * vq.sqrt() + mq
    log_ratio = (torch.distributions.Normal(mq, vq.sqrt()).log_prob(s)
                 - torch.distributions.Normal(mp, vp.sqrt()).log_prob(s)).sum(-1)  # (S, B)
    assert ((log_ratio.mean(0) - closed).abs() < 4 * log_ratio.std(0) / math.sqrt(len(s))).all()


def test_prior_term_is_the_closed_form_kl():
    x0 = bits_to_signs(binary_images())
    abar_T = float(alpha_bar(torch.tensor(-10.0, dtype=F64)))
    mu, logvar = math.sqrt(abar_T) * x0, torch.full_like(x0, math.log1p(-abar_T))
    assert torch.allclose(prior_term(x0, abar_T), gaussian_kl(mu, logvar), rtol=1e-10)
    expected = 0.5 * x0.shape[1] * math.log1p(math.exp(-10.0))  # -n/2 log(1 - abar_T) = n/2 softplus(lambda_T)
    assert torch.allclose(prior_term(x0, abar_T), torch.full((len(x0),), expected, dtype=F64), rtol=1e-9)


def test_elbo_terms_add_up_and_strata_are_unbiased():
    model = small_model()
    b = binary_images(200, seed=1)
    every = elbo_terms(model, b, seed=0)
    assert every["kl"].shape == (19, 200) and every["t"].shape == (19, 200)
    assert torch.equal(every["t"][:, 0], torch.arange(2, 21)) and (every["size"] == 1).all()
    assert torch.allclose(every["total"], every["prior"] + every["decoder"] + every["kl"].sum(0))
    assert (every["total"] > 0).all()  # -log of a probability of binary images
    few = elbo_terms(model, b, terms=4, seed=1)
    assert few["kl"].shape == (4, 200) and int(few["size"].sum()) == 19
    diff = few["total"] - every["total"]
    assert abs(float(diff.mean())) < 4 * float(diff.std()) / math.sqrt(200)
    assert [len(g) for g in strata(20, 4)] == [5, 5, 5, 4]


def test_shapes_and_sampling():
    model = small_model()
    x = torch.randn(5, 12, dtype=F64)
    lam = torch.full((5,), 1.0, dtype=F64)
    assert model.logits(x, lam).shape == (5, 12) and model.xhat0(x, lam).shape == (5, 12)
    assert ((model.xhat0(x, lam).abs() < 1)).all()
    samples = model.sample(7, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (7, 12) and ((samples >= 0) & (samples <= 1)).all()
    cont = small_model("continuous", n=4)
    assert cont.sample(3, steps=10, generator=torch.Generator().manual_seed(0)).shape == (3, 4)


def test_an_untrained_denoiser_knows_each_pixel_alone():
    """With a zero output layer the logits are the single-pixel answer: at a high SNR, the sign of x_t."""
    torch.manual_seed(0)
    model = Diffusion(12, 16, 2, 8, 20).double()
    x0 = bits_to_signs(binary_images())
    lam = torch.full((len(x0),), 8.0, dtype=F64)
    abar = alpha_bar(lam)[:, None]
    xt = abar.sqrt() * x0 + (1 - abar).sqrt() * 0.1 * torch.randn(x0.shape, dtype=F64)
    assert torch.equal(model.xhat0(xt, lam).sign(), x0)


def test_diffusion_elbo_objective_and_quick_training(tmp_path, monkeypatch, mnist_small):
    monkeypatch.setenv("VAE_COURSE_CHECKPOINTS", str(tmp_path))
    recipe = DiffusionRecipe(hidden_dim=16, depth=1, steps=10, epochs=1, train_limit=256)
    run = load_or_train_diffusion(recipe)
    assert run.trained and run.scores["parameters"] == run.model.num_parameters()
    assert len(run.history.train_loss) == 1 and math.isfinite(run.history.train_loss[0])
    again = load_or_train_diffusion(recipe)
    assert not again.trained
    test_bin = torch.bernoulli(mnist_small[2][:20], generator=torch.Generator().manual_seed(1))
    terms, how = cached_diffusion_elbo(again, test_bin, terms=3)
    assert not how["loaded"] and terms["total"].shape == (20,)
    terms2, how2 = cached_diffusion_elbo(again, test_bin, terms=3)
    assert how2["loaded"] and torch.equal(terms["total"], terms2["total"])
    assert diffusion_recipe(quick=True).epochs == 1 and diffusion_recipe(quick=False).train_limit is None


def test_latent_diffusion_trains_on_codes(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_COURSE_CHECKPOINTS", str(tmp_path))
    recipe = latent_recipe(quick=True)
    codes = 50 * torch.randn(300, recipe.latent_dim, generator=torch.Generator().manual_seed(0))
    run = load_or_train_latent_diffusion(recipe, codes, "nb14_test_latent")
    assert abs(run.scores["scale"] - float(codes.std())) < 1e-6 and len(run.scores["losses"]) == 1
    assert run.model.sample(4, generator=torch.Generator().manual_seed(0)).shape == (4, recipe.latent_dim)


@pytest.mark.parametrize("call, match", [
    (lambda: bits_to_signs(torch.full((2, 4), 0.5)), "binary images"),
    (lambda: logsnr_schedule(1), "steps=1 must be a whole number >= 2"),
    (lambda: logsnr_schedule(10, -1.0, 2.0), "must be finite and larger"),
    (lambda: Diffusion(data="gray"), "data='gray' is not known"),
    (lambda: Diffusion(time_dim=7), "time_dim=7 must be even"),
    (lambda: elbo_terms(small_model("continuous"), binary_images()), "binary images"),
    (lambda: strata(10, 0), "terms=0 must be a positive whole number"),
    (lambda: DiffusionRecipe(epochs=0), "epochs=0 must be a positive whole number"),
    (lambda: LatentRecipe(beta=-1.0), "beta=-1.0 must be a number >= 0"),
    (lambda: DiffusionELBO(binarize="static"), "binarize='static'"),
    (lambda: load_or_train_diffusion("full"), "recipe must be a DiffusionRecipe"),
    (lambda: load_or_train_latent_diffusion(LatentRecipe(), torch.zeros(5, 3), "x"), r"codes must be a \(N, 16\)"),
    (lambda: small_model().net(torch.zeros(2, 5, dtype=F64), torch.zeros(2, dtype=F64)), r"takes \(B, 12\)"),
])
def test_bad_input_gets_one_sentence(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_diffusion_elbo_refuses_another_model():
    from vae_course.models import VAE

    with pytest.raises(TypeError, match="DiffusionELBO trains a Diffusion model"):
        DiffusionELBO()(VAE(784, 8, 2), torch.zeros(2, 784))
