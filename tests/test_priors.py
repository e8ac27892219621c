"""vae_course.objectives.priors and vae_course.evaluation.surgery: the priors of notebook 11 and the ELBO-surgery estimator."""
import math

import pytest
import torch

from vae_course.objectives import priors

from vae_course.evaluation import surgery
from vae_course.models import VAE
from vae_course.objectives import gaussian_kl


def grid_integral(prior, half_width=8.0, n=401):
    """The integral of exp(log_prob) over [-w, w]^2 by the trapezoid-free midpoint rule (fine enough here)."""
    xs = torch.linspace(-half_width, half_width, n)
    h = (xs[1] - xs[0]).item()
    zz = torch.cartesian_prod(xs, xs)  # (n*n, 2)
    with torch.no_grad():
        return (prior.log_prob(zz).exp().sum() * h * h).item()


def vae2(seed=0):
    torch.manual_seed(seed)
    return VAE(hidden_dim=16, latent_dim=2)


@pytest.mark.parametrize("make", [
    lambda: priors.StandardNormalPrior(2),
    lambda: priors.MixtureOfGaussiansPrior(2, num_components=5, seed=3),
    lambda: priors.VampPrior(vae2(), num_components=7, seed=1),
])
def test_log_prob_integrates_to_one_in_2d(make):
    prior = make()
    if isinstance(prior, priors.MixtureOfGaussiansPrior):  # move it away from the initial blur
        with torch.no_grad():
            prior.logvars.uniform_(-2.0, 0.5)
            prior.logits.normal_()
    assert grid_integral(prior) == pytest.approx(1.0, abs=2e-3)


def test_a_one_component_mixture_at_the_origin_is_the_standard_normal():
    mog = priors.MixtureOfGaussiansPrior(3, num_components=1)
    with torch.no_grad():
        mog.means.zero_()
    z = torch.randn(50, 3)
    torch.testing.assert_close(mog.log_prob(z), priors.StandardNormalPrior(3).log_prob(z))
    torch.testing.assert_close(priors.StandardNormalPrior(3).log_prob(z),
                               torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1))


def test_the_standard_prior_gives_the_closed_form_kl():
    gen = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(6, 4, generator=gen), torch.randn(6, 4, generator=gen) * 0.5
    std = priors.StandardNormalPrior(4)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(6, 4, generator=gen)
    torch.testing.assert_close(priors.prior_kl(mu, logvar, z, std), gaussian_kl(mu, logvar))
    # the Monte-Carlo route (a mixture equal to N(0, I)) agrees with the closed form within its standard error
    mog = priors.MixtureOfGaussiansPrior(4, num_components=1)
    with torch.no_grad():
        mog.means.zero_()
    s = 20000
    zs = mu + torch.exp(0.5 * logvar) * torch.randn(s, 6, 4, generator=gen)  # (S, B, D)
    mc = torch.stack([priors.prior_kl(mu, logvar, zs[i], mog) for i in range(s)])  # (S, B)
    se = mc.std(0) / math.sqrt(s)
    assert ((mc.mean(0) - gaussian_kl(mu, logvar)).abs() < 4 * se).all()


def test_samples_follow_the_mixture():
    mog = priors.MixtureOfGaussiansPrior(2, num_components=2)
    with torch.no_grad():
        mog.means.copy_(torch.tensor([[-3.0, 0.0], [3.0, 0.0]]))
        mog.logvars.fill_(math.log(0.25))
        mog.logits.copy_(torch.tensor([0.0, math.log(3.0)]))  # weights 1/4, 3/4
    z = mog.sample(40000, generator=torch.Generator().manual_seed(0))
    assert (z[:, 0] > 0).float().mean().item() == pytest.approx(0.75, abs=0.01)
    assert z[:, 0].mean().item() == pytest.approx(0.25 * -3 + 0.75 * 3, abs=0.05)
    vamp = priors.VampPrior(vae2(), num_components=3)
    assert vamp.sample(5).shape == (5, 2) and vamp.pseudo_inputs().shape == (3, 784)
    assert 0 < vamp.pseudo_inputs().min() and vamp.pseudo_inputs().max() < 1


def test_the_vamp_prior_is_the_encoders_mixture_at_its_pseudo_inputs():
    model = vae2()
    init = torch.rand(4, 784) * 0.9 + 0.05
    vamp = priors.VampPrior(model, num_components=4, init=init)
    torch.testing.assert_close(vamp.pseudo_inputs(), init, atol=1e-6, rtol=1e-5)
    z = torch.randn(9, 2)
    mu, logvar = model.encode(init)
    by_hand = torch.logsumexp(torch.stack([torch.distributions.Normal(mu[k], torch.exp(0.5 * logvar[k]))
                                           .log_prob(z).sum(1) for k in range(4)]), 0) - math.log(4)
    torch.testing.assert_close(vamp.log_prob(z), by_hand)
    assert [name for name, _ in vamp.named_parameters()] == ["pseudo_logits"]  # the encoder stays the model's


def test_prior_objective_reaches_the_prior_and_the_model():
    model = vae2()
    for prior in (priors.MixtureOfGaussiansPrior(2, 3), priors.VampPrior(model, 3)):
        x = torch.rand(8, 784)
        terms = priors.prior_objective(prior)(model, x)
        assert terms.total.shape == (8,)
        torch.testing.assert_close(terms.total, terms.recon + terms.kl)
        terms.total.sum().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in prior.parameters())
        assert model.fc_mu.weight.grad is not None
        model.zero_grad()


@pytest.mark.parametrize("bad, needle", [
    (lambda: priors.MixtureOfGaussiansPrior(2, 0), "num_components=0"),
    (lambda: priors.StandardNormalPrior(2).log_prob(torch.zeros(3, 5)), "(N, 2)"),
    (lambda: priors.VampPrior(torch.nn.Linear(2, 2), 3), "course VAE"),
    (lambda: priors.VampPrior(vae2(), 3, init=torch.rand(2, 784)), "3 images"),
    (lambda: priors.prior_objective("normal"), "prior must be"),
])
def test_bad_input_is_one_sentence(bad, needle):
    with pytest.raises((ValueError, TypeError)) as err:
        bad()
    assert needle in str(err.value) and "\n" not in str(err.value)


class FixedEncoder(torch.nn.Module):
    """A stand-in model whose posteriors are given: q(z|x_i) = N(mu_i, diag(exp(logvar_i)))."""

    def __init__(self, mu, logvar):
        super().__init__()
        self.mu, self.logvar = mu, logvar
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.config = type("C", (), {"latent_dim": mu.shape[1], "input_dim": 784})()

    def encode(self, x):
        return self.mu[: len(x)], self.logvar[: len(x)]


def test_the_surgery_terms_add_up_on_a_trained_like_model():
    model = vae2(1)
    x = torch.rand(300, 784)
    for prior in (None, priors.MixtureOfGaussiansPrior(2, 4, seed=2)):
        s = surgery.elbo_surgery(model, x, prior, samples_per_image=20)
        assert abs(s.gap) < 4 * s.gap_se + 1e-6
        assert -4 * s.mutual_information_se <= s.mutual_information <= s.max_mutual_information
    s = surgery.elbo_surgery(model, x, None, samples_per_image=5)
    with torch.no_grad():
        assert s.average_kl == pytest.approx(gaussian_kl(*model.encode(x)).mean().item(), rel=1e-6)


def test_the_gap_se_is_from_the_per_image_gaps():
    # rebuild the per-image parts by hand with the same draws; gap_se must be std/sqrt(N) of avg_i - info_i - marg_i
    gen = torch.Generator().manual_seed(5)
    n, d, s_per = 150, 2, 3
    mu, logvar = torch.randn(n, d, generator=gen, dtype=torch.float64), 0.5 * torch.randn(n, d, generator=gen,
                                                                                           dtype=torch.float64) - 1
    model = FixedEncoder(mu, logvar)
    model.dummy = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    s = surgery.elbo_surgery(model, torch.rand(n, 784), samples_per_image=s_per, seed=9)
    eps = torch.randn(s_per, n, d, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * eps
    log_q_own = priors.diagonal_normal_log_prob(z, mu, logvar)
    log_q_agg = surgery.aggregate_log_prob(z.reshape(-1, d), mu, logvar).reshape(s_per, n)
    log_p = priors.StandardNormalPrior(d).log_prob(z.reshape(-1, d)).reshape(s_per, n).double()
    per_gap = gaussian_kl(mu, logvar) - (log_q_own - log_q_agg).mean(0) - (log_q_agg - log_p).mean(0)
    assert s.gap == pytest.approx(per_gap.mean().item(), abs=1e-9)
    assert s.gap_se == pytest.approx(per_gap.std().item() / math.sqrt(n), rel=1e-6)
    independent = math.sqrt(s.average_kl_se ** 2 + s.mutual_information_se ** 2 + s.marginal_kl_se ** 2)
    assert 0 < s.gap_se < independent  # the shared draws make the parts' errors cancel in part
    # with a learned prior the average KL comes from the same draws, so the split is exact per image
    mix = surgery.elbo_surgery(model, torch.rand(n, 784), priors.MixtureOfGaussiansPrior(2, 4, seed=2).double(),
                               samples_per_image=2)
    assert abs(mix.gap) < 1e-9 and mix.gap_se < 1e-9


def test_the_surgery_extremes():
    n, d = 200, 2
    # an encoder that ignores the image: every posterior is the prior, so I = 0 and KL(q(z) || p(z)) = 0
    same = surgery.elbo_surgery(FixedEncoder(torch.zeros(n, d), torch.zeros(n, d)), torch.rand(n, 784))
    assert same.mutual_information == pytest.approx(0.0, abs=1e-5)
    assert same.marginal_kl == pytest.approx(0.0, abs=1e-5) and same.average_kl == pytest.approx(0.0, abs=1e-6)
    # tiny, far-apart posteriors: the code names the image, so I reaches log N
    apart = FixedEncoder(torch.randn(n, d, generator=torch.Generator().manual_seed(0)) * 3, torch.full((n, d), -16.0))
    s = surgery.elbo_surgery(apart, torch.rand(n, 784), samples_per_image=4)
    assert s.mutual_information == pytest.approx(math.log(n), abs=0.01)
    assert abs(s.gap) < 4 * s.gap_se + 1e-4


def test_aggregate_log_prob_is_the_mixture_and_chunking_does_not_matter():
    gen = torch.Generator().manual_seed(0)
    mu, logvar, z = torch.randn(30, 3, generator=gen), torch.randn(30, 3, generator=gen) * 0.3, torch.randn(17, 3)
    dists = [torch.distributions.Normal(mu[j], torch.exp(0.5 * logvar[j])) for j in range(30)]
    by_hand = torch.logsumexp(torch.stack([q.log_prob(z).sum(1) for q in dists]), 0) - math.log(30)
    torch.testing.assert_close(surgery.aggregate_log_prob(z, mu, logvar, chunk=4), by_hand)
    torch.testing.assert_close(surgery.aggregate_log_prob(z, mu, logvar, chunk=1000), by_hand)


def test_hole_mass_matches_the_latent_space_figure_and_sees_a_filled_prior():
    from vae_course.evaluation import latent_space

    gen = torch.Generator().manual_seed(0)
    mu = torch.cat([torch.randn(150, 2, generator=gen) * 0.3 + 2.0, torch.randn(150, 2, generator=gen) * 0.3 - 2.0])
    logvar = torch.full((300, 2), math.log(0.05))
    std = surgery.hole_mass(mu, logvar, draws=3000, seed=4)
    ref = latent_space.prior_hole_mass(mu, logvar, draws=3000, seed=4)
    assert abs(std.mass - ref.mass) < 4 * math.hypot(std.stderr, ref.stderr)  # other draws, the same quantity
    assert std.mass > 0.5  # two small blobs leave most of N(0, I) empty
    # a prior equal to the aggregate posterior itself has no holes at all: q(z) = p(z) everywhere
    agg = priors.MixtureOfGaussiansPrior(2, num_components=300)
    with torch.no_grad():
        agg.means.copy_(mu)
        agg.logvars.copy_(logvar)
    filled = surgery.hole_mass(mu, logvar, agg, draws=3000, seed=4)
    assert filled.mass == 0.0 and filled.stderr == 0.0
    with pytest.raises(ValueError, match="fraction"):
        surgery.hole_mass(mu, logvar, fraction=0.0)
