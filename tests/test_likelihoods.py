import math

import pytest
import torch

from vae_course.evaluation import likelihoods as lk
from vae_course.models import VAE
from vae_course.objectives import losses
from vae_course.training import sweeps

LAMS = torch.tensor([0.001, 0.05, 0.3, 0.49, 0.4995, 0.5, 0.5004, 0.51, 0.8, 0.999], dtype=torch.float64)


def _grid(n=200_001):
    return torch.linspace(0, 1, n, dtype=torch.float64)


def test_bernoulli_pmf_does_not_integrate_to_one_on_grey_levels():
    x = _grid()
    f = LAMS[:, None] ** x * (1 - LAMS[:, None]) ** (1 - x)  # (L, n)
    numeric = torch.trapezoid(f, x, dim=1)
    closed = lk.bernoulli_pmf_integral(LAMS)
    assert torch.allclose(numeric, closed, atol=1e-9)
    assert torch.all(closed <= 0.5 + 1e-12) and closed[LAMS == 0.5].item() == pytest.approx(0.5)
    # ... while on binary x it sums to one
    assert torch.allclose(LAMS + (1 - LAMS), torch.ones_like(LAMS))


def test_continuous_bernoulli_normalizer_matches_torch_and_integrates_to_one():
    cb = torch.distributions.ContinuousBernoulli(probs=LAMS)
    assert torch.allclose(lk.cb_log_normalizer(LAMS), cb._cont_bern_log_norm(), atol=1e-10)
    assert torch.allclose(lk.cb_log_normalizer(LAMS), -torch.log(lk.bernoulli_pmf_integral(LAMS)), atol=1e-12)
    x = _grid()
    density = torch.exp(cb.log_prob(x[:, None].expand(-1, len(LAMS))))  # (n, L)
    assert torch.allclose(torch.trapezoid(density, x, dim=0), torch.ones_like(LAMS), atol=1e-6)


def test_continuous_bernoulli_mean_is_not_lambda():
    cb = torch.distributions.ContinuousBernoulli(probs=LAMS)
    assert torch.allclose(lk.cb_mean(LAMS), cb.mean, atol=1e-9)
    x = _grid()
    f = LAMS[:, None] ** x * (1 - LAMS[:, None]) ** (1 - x)
    numeric = torch.trapezoid(x * f, x, dim=1) / torch.trapezoid(f, x, dim=1)
    assert torch.allclose(lk.cb_mean(LAMS), numeric, atol=1e-8)
    assert lk.cb_mean(torch.tensor(0.1)).item() == pytest.approx(0.3301, abs=1e-4)  # far from 0.1


def test_closed_forms_are_smooth_in_float32_near_one_half():
    lam = torch.linspace(0.48, 0.52, 401)
    for fn in (lk.bernoulli_pmf_integral, lk.cb_log_normalizer, lk.cb_mean):
        y = fn(lam)
        assert torch.isfinite(y).all()
        assert (y[1:] - y[:-1]).abs().max() < 1e-3


def test_probability_checks():
    for bad in (0.0, 1.0, -0.2, 1.5):
        with pytest.raises(ValueError, match="strictly between"):
            lk.cb_log_normalizer(torch.tensor([bad]))


def test_optimal_sigma_minimizes_the_gaussian_nll(seeded):
    mean, x = torch.rand(3, 784, dtype=torch.float64), torch.rand(3, 784, dtype=torch.float64)
    best = lk.optimal_gaussian_sigma(mean, x)  # (3,)
    for factor in (0.9, 1.1):
        for i in range(3):
            at_best = losses.gaussian_nll(mean[i:i + 1], x[i:i + 1], best[i])
            nearby = losses.gaussian_nll(mean[i:i + 1], x[i:i + 1], best[i] * factor)
            assert at_best < nearby
    with pytest.raises(ValueError, match="same batch"):
        lk.optimal_gaussian_sigma(mean, x[:2])


def test_decoder_distribution_matches_losses(seeded):
    logits, grey = torch.randn(4, 784), torch.rand(4, 784)
    binary = torch.bernoulli(grey)
    bern = lk.decoder_distribution(logits, "bernoulli")
    assert bern.batch_shape == (4,) and bern.event_shape == (784,)
    assert torch.allclose(-bern.log_prob(binary), losses.bernoulli_nll(logits, binary), atol=1e-3)
    cb = lk.decoder_distribution(logits, "continuous_bernoulli")
    assert torch.allclose(-cb.log_prob(grey), losses.continuous_bernoulli_nll(logits, grey), atol=1e-3)
    gauss = lk.decoder_distribution(logits, "gaussian", 0.2)
    assert torch.allclose(-gauss.log_prob(grey), losses.gaussian_nll(torch.sigmoid(logits), grey, 0.2), atol=1e-3)
    with pytest.raises(ValueError, match="not known"):
        lk.decoder_distribution(logits, "poisson")


def test_learned_sigma_gaussian_is_a_loss_fn(seeded):
    model = VAE(hidden_dim=32, latent_dim=2)
    x = torch.rand(8, 784)
    for per_pixel, shape in ((False, (1,)), (True, (784,))):
        lik = lk.LearnedSigmaGaussian(per_pixel=per_pixel, init_sigma=0.5, sigma_min=0.01)
        assert lik.sigma().shape == shape and torch.allclose(lik.sigma(), torch.full(shape, 0.5))
        terms = lik(model, x)
        assert terms.total.shape == (8,)
        terms.total.mean().backward()
        assert lik.raw.grad is not None and torch.isfinite(lik.raw.grad).all()
    with pytest.raises(ValueError, match="init_sigma"):
        lk.LearnedSigmaGaussian(init_sigma=0.01, sigma_min=0.01)


def test_learned_sigma_moves_towards_the_reconstruction_error(mnist_small):
    from vae_course.training import fit

    train_x = mnist_small[0]
    torch.manual_seed(0)
    model = VAE(hidden_dim=64, latent_dim=4)
    lik = lk.LearnedSigmaGaussian(init_sigma=1.0, lr=0.05)  # an objective: fit trains its sigma at its own lr
    fit(model, train_x, objective=lik, epochs=3, batch_size=64, progress=False)
    assert lik.sigma().item() < 0.6  # from 1.0 towards the RMS error (~0.2-0.3 on MNIST)


def test_format_table():
    rows = [sweeps.LikelihoodRow("Bernoulli", "binary (static)", "{0,1}^784", True, -100.0, 75.0, 25.0),
            sweeps.LikelihoodRow("Gaussian, learned sigma", "grey levels", "R^784", True, 900.0, -950.0, 50.0, 0.1)]
    md = sweeps.format_table(rows)
    assert md.splitlines()[0].startswith("| likelihood") and md.count("\n") == 3 and "| 0.1 |" in md
    plain = sweeps.format_table(rows, markdown=False)
    assert not plain.startswith("|") and "---|" not in plain and "-100.0" in plain
    assert len(sweeps.TABLE_SETUPS) == 7 and math.isfinite(rows[0].test_elbo)
    assert md.splitlines()[0].startswith("| likelihood p(x\\|z) |")  # the pipe is escaped, so 7 columns stay 7
    assert [line.count(" | ") for line in md.splitlines() if not line.startswith("|-")] == [6, 6, 6]


def test_each_row_says_what_its_elbo_bounds():
    def row(data, likelihood, space="[0,1]^784"):
        return sweeps.LikelihoodRow("x", data, space, True, likelihood=likelihood)

    assert row("binary (static)", "bernoulli").bounds == "log p(b), b in {0,1}^784"
    assert row("binary (dynamic)", "bernoulli").bounds == "log p(b), b in {0,1}^784"
    assert row("grey levels", "bernoulli").bounds == "E_b[log p(b)], b ~ Bernoulli(g)"  # BCE on grey levels
    assert row("grey levels", "continuous_bernoulli").bounds == "log-density on [0,1]^784"
    assert row("grey levels", "gaussian", "R^784").bounds == "log-density on R^784"
    plain = sweeps.format_table([row("grey levels", "bernoulli")], markdown=False)
    assert "test ELBO bounds" in plain.splitlines()[0] and "E_b[log p(b)]" in plain


def test_likelihood_table_smoke(mnist_small):
    rows = sweeps.likelihood_table(1, train_limit=256, test_limit=64, hidden_dim=32, latent_dim=2)
    assert [r.name for r in rows] == [s[0] for s in sweeps.TABLE_SETUPS]
    binary = [r for r in rows if r.data.startswith("binary")]
    assert all(r.test_elbo < 0 for r in binary)  # a pmf: log-probabilities are negative
    assert all(math.isclose(r.test_elbo, -(r.test_recon + r.test_kl), rel_tol=1e-9) for r in rows)
    learned = [r for r in rows if r.sigma is not None and r.name.startswith("Gaussian, learned")]
    assert len(learned) == 2 and all(r.sigma < 1.0 for r in learned)  # sigma moved down from 1
    assert rows[-1].decoder_sigma.shape == (784,) and rows[0].model is not None


def test_likelihood_table_caches_rows_and_picks_setups(mnist_small, tmp_path):
    kw = dict(train_limit=256, test_limit=64, hidden_dim=32, latent_dim=2, cache=True, folder=tmp_path)
    two = ["Bernoulli / binary (static)", "BCE (reference script)"]
    first = sweeps.likelihood_table(1, setups=two, **kw)
    assert [(r.name, r.data) for r in first] == [("Bernoulli", "binary (static)"), ("BCE (reference script)", "grey levels")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["likelihood_seed0_0.pt", "likelihood_seed0_2.pt"]
    assert first[0].test_scores.shape == (64,) and first[0].n_train == 256
    assert math.isclose(-first[0].test_scores.mean().item(), first[0].test_elbo, rel_tol=1e-12)
    again = sweeps.likelihood_table(1, setups=two, **kw)  # loaded, not trained: the same models and scores
    for a, b in zip(first, again):
        assert a.test_elbo == b.test_elbo and torch.equal(a.test_scores, b.test_scores) and a.seconds == b.seconds
        assert torch.equal(a.model.fc4.weight, b.model.fc4.weight)
    other = sweeps.likelihood_table(1, setups=two[:1], **{**kw, "seed": 1})
    assert other[0].test_elbo != first[0].test_elbo and (tmp_path / "likelihood_seed1_0.pt").is_file()
    longer = sweeps.likelihood_table(2, setups=two[:1], **kw)  # another recipe is trained again
    assert longer[0].test_elbo != first[0].test_elbo
    with pytest.raises(ValueError, match="not a row"):
        sweeps.likelihood_table(1, setups=["Bernoulli"], **kw)  # static or dynamic?

