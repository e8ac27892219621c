"""The learned prior over a VQ-VAE's codes (notebook 12, section 6): causal, normalized, samples in range, cached."""
from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from vae_course.models import AutoregressiveCodePrior, CodePrior
from vae_course.training import codes_fingerprint, load_or_train_code_prior, train_code_prior, vq_bound


def tiny(k=3, h=2, w=2, seed=0):
    torch.manual_seed(seed)
    return AutoregressiveCodePrior(k, h, w, d_model=16, n_layers=2, n_heads=2).eval()


@pytest.mark.parametrize("seed", [0, 1])
def test_output_i_depends_only_on_earlier_positions(seed):
    """d logits_i / d input_j is 0 for every j >= i (itself and later) and not 0 for some j < i, for every i."""
    prior = tiny(k=4, h=3, w=3, seed=seed)
    with torch.no_grad():  # break the zero-init start vector so that no gradient vanishes by accident
        prior.start.normal_()
    p = prior.config.positions
    codes = torch.randint(0, 4, (2, p), generator=torch.Generator().manual_seed(seed))
    onehot = F.one_hot(codes, 4).double().requires_grad_()
    prior.double()
    for i in range(p):
        (g,) = torch.autograd.grad(prior.logits_from_onehot(onehot)[:, i].pow(2).sum(), onehot)  # (2, P, K)
        per_position = g.abs().sum(dim=(0, 2))  # (P,)
        assert torch.all(per_position[i:] == 0), f"output {i} depends on position {int(per_position[i:].argmax()) + i}"
        if i > 0:
            assert torch.all(per_position[:i] > 0), f"output {i} ignores an earlier position"


def test_a_non_causal_model_fails_the_gradient_check():
    """The check above can fail: an unshifted input (output i sees code i) is caught."""
    prior = tiny(k=4, h=2, w=2).double()
    onehot = F.one_hot(torch.tensor([[0, 1, 2, 3]]), 4).double().requires_grad_()
    x = prior.embed(onehot) + prior.position  # no shift: position i's input is its own code
    for block in prior.blocks:
        x = block(x)
    (g,) = torch.autograd.grad(prior.head(prior.ln(x))[:, 1].sum(), onehot)
    assert g[0, 1].abs().sum() > 0  # output 1 depends on code 1


@pytest.mark.parametrize("k,h,w", [(3, 2, 2), (2, 2, 3)])
def test_log_prob_is_normalized_by_enumeration(k, h, w):
    prior = tiny(k, h, w)
    with torch.no_grad():
        for prm in prior.parameters():
            prm.add_(0.5 * torch.randn_like(prm))  # far from the near-uniform start
    grids = torch.tensor(list(itertools.product(range(k), repeat=h * w))).reshape(-1, h, w)  # all k^(h w) grids
    with torch.no_grad():
        logp = prior.log_prob(grids, batch_size=7)  # batches of 7: the batching must not change anything
    assert logp.dtype == torch.float64 and logp.shape == (k ** (h * w),)
    assert abs(torch.logsumexp(logp, 0).item()) < 1e-5
    assert logp.std() > 0.05  # not the uniform distribution by accident


def test_the_index_path_equals_the_one_hot_path():
    prior = tiny(4, 2, 3)
    codes = torch.randint(0, 4, (5, 6), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(prior.logits_from_indices(codes), prior.logits_from_onehot(F.one_hot(codes, 4)),
                              atol=1e-6)


def test_log_prob_equals_the_sum_of_the_conditionals():
    prior = tiny(4, 2, 3)
    codes = torch.randint(0, 4, (5, 2, 3), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        logits = prior(codes).double()  # (5, 6, 4)
        by_hand = sum(F.log_softmax(logits[:, i], -1)[torch.arange(5), codes.reshape(5, -1)[:, i]] for i in range(6))
        assert torch.allclose(prior.log_prob(codes), by_hand, atol=1e-9)


def test_samples_have_the_grid_shape_and_range_and_follow_the_seed():
    prior = tiny(5, 3, 2)
    a = prior.sample(40, generator=torch.Generator().manual_seed(0))
    b = prior.sample(40, generator=torch.Generator().manual_seed(0))
    assert a.shape == (40, 3, 2) and a.dtype == torch.int64
    assert int(a.min()) >= 0 and int(a.max()) < 5 and len(torch.unique(a)) > 1
    assert torch.equal(a, b)


def test_ancestral_samples_follow_the_model():
    """The frequency of each grid among many samples matches exp(log_prob) (k = 2, 2 x 1 grid: 4 grids)."""
    prior = tiny(2, 2, 1)
    with torch.no_grad():
        for prm in prior.parameters():
            prm.add_(0.7 * torch.randn_like(prm))
        grids = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]]).reshape(4, 2, 1)
        p = prior.log_prob(grids).exp()
    draws = prior.sample(20000, generator=torch.Generator().manual_seed(1)).reshape(-1, 2)
    freq = torch.stack([((draws[:, 0] == g[0, 0]) & (draws[:, 1] == g[1, 0])).double().mean() for g in grids])
    assert torch.all((freq - p).abs() < 4 * (p * (1 - p) / 20000).sqrt() + 1e-3)


def test_training_lowers_the_nll_below_the_per_position_prior_on_dependent_codes(tmp_path):
    """Grids whose second half copies the first: an autoregressive prior learns it, a per-position prior cannot."""
    gen = torch.Generator().manual_seed(0)
    first = torch.randint(0, 4, (600, 2), generator=gen)
    codes = torch.cat([first, first], 1).reshape(600, 2, 2)
    train, test = codes[:500], codes[500:]
    run = load_or_train_code_prior("toy_prior", train, test, epochs=30, codebook_size=4, d_model=32, n_layers=1,
                                   n_heads=2, batch_size=50, lr=5e-3, seed=0, folder=tmp_path)
    assert run.trained and run.history.nll[-1] < run.history.nll[0]
    ar = -run.scores["log_prob"].mean().item()
    per_position = -CodePrior.fit(train, 4).log_prob(test).mean().item()
    assert per_position > 4 * math.log(4) - 0.2  # independent positions: about log 4 nats each
    assert ar < 2 * math.log(4) + 0.3  # only the first two codes cost anything
    again = load_or_train_code_prior("toy_prior", train, test, epochs=30, codebook_size=4, d_model=32, n_layers=1,
                                     n_heads=2, batch_size=50, lr=5e-3, seed=0, folder=tmp_path)
    assert not again.trained and torch.equal(again.scores["log_prob"], run.scores["log_prob"])
    other = load_or_train_code_prior("toy_prior", train, test.flip(0), epochs=1, codebook_size=4, d_model=32,
                                     n_layers=1, n_heads=2, batch_size=50, seed=0, folder=tmp_path)
    assert other.trained  # other test codes: another key, trained anew


def test_vq_bound_accepts_the_learned_prior():
    from vae_course.models import VQVAE

    torch.manual_seed(0)
    model = VQVAE(codebook_size=8, code_dim=4).eval()
    x = (torch.rand(6, 784) < 0.3).float()
    prior = AutoregressiveCodePrior(8, d_model=16, n_layers=1, n_heads=2).eval()
    b = vq_bound(model, x, prior)
    codes = model.quantize(model.encode(x))[0]
    with torch.no_grad():
        assert abs(b["kl"] + prior.log_prob(codes).mean().item()) < 1e-6


@pytest.mark.parametrize("codes,match", [
    (torch.zeros(2, 7, 7), "integer tensor"),
    (torch.zeros(2, 7, 6, dtype=torch.int64), r"shape \(2, 7, 6\)"),
    (torch.full((1, 7, 7), 64), "0..63"),
    (torch.full((1, 7, 7), -1), "0..63"),
])
def test_bad_codes_get_one_clear_sentence(codes, match):
    prior = AutoregressiveCodePrior(64, d_model=16, n_layers=1, n_heads=2)
    with pytest.raises((TypeError, ValueError), match=match):
        prior.log_prob(codes)


def test_bad_sizes_and_counts_are_refused():
    with pytest.raises(ValueError, match="multiple of n_heads"):
        AutoregressiveCodePrior(8, d_model=10, n_heads=4)
    with pytest.raises(ValueError, match="positive whole number"):
        AutoregressiveCodePrior(0)
    with pytest.raises(ValueError, match="positive whole number"):
        tiny().sample(0)
    with pytest.raises(ValueError, match="epochs"):
        train_code_prior(tiny(), torch.zeros(4, 2, 2, dtype=torch.int64), epochs=0)
    with pytest.raises(TypeError, match="integer tensor"):
        codes_fingerprint(torch.zeros(3, 7, 7))


def test_one_thread_restores_the_thread_count_even_after_an_error():
    from vae_course.models.code_prior import one_thread

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with one_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError, match="inside"):
            with one_thread():
                raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
