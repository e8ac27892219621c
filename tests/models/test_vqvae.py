"""vae_course.models.vqvae: the quantiser, the straight-through copy, the losses, the codebook measures, the prior."""
import math

import pytest
import torch

from vae_course.models import (CodePrior, codebook_perplexity, dead_codes, ema_codebook, nearest_code, straight_through,
                               vq_terms)
from vae_course.models import MODEL_CLASSES, VQVAE
from vae_course.training import load_checkpoint, save_checkpoint


def test_the_quantiser_picks_the_nearest_code():
    gen = torch.Generator().manual_seed(0)
    codebook = torch.randn(10, 3, generator=gen) * torch.linspace(0.2, 3, 10)[:, None]  # codes of many lengths
    z = torch.randn(2, 7, 7, 3, generator=gen)
    idx = nearest_code(z, codebook)
    assert idx.shape == (2, 7, 7) and idx.dtype == torch.int64
    brute = ((z[..., None, :] - codebook) ** 2).sum(-1).argmin(-1)  # (2, 7, 7): every distance, by hand
    assert torch.equal(idx, brute)
    # a vector on a code is quantised to that code, even next to a longer code in the same direction
    assert nearest_code(torch.tensor([[1.0, 0.0]]), torch.tensor([[3.0, 0.0], [1.0, 0.0]])).tolist() == [1]
    with pytest.raises(ValueError, match="same last size"):
        nearest_code(z, torch.randn(10, 4))


def test_the_straight_through_gradient_is_the_identity():
    gen = torch.Generator().manual_seed(1)
    z_e = torch.randn(4, 5, generator=gen, requires_grad=True)
    z_q = torch.randn(4, 5, generator=gen)
    out = straight_through(z_e, z_q)
    assert torch.equal(out, z_q)  # its value is the quantised vector, to the last bit
    upstream = torch.randn(4, 5, generator=gen)
    (grad,) = torch.autograd.grad((out * upstream).sum(), z_e)
    assert torch.equal(grad, upstream)  # d out / d z_e = I: the upstream gradient, unchanged


def test_the_model_sends_the_decoders_gradient_at_z_q_to_the_encoder():
    torch.manual_seed(0)
    model = VQVAE(codebook_size=8, code_dim=4, channels=8)
    x = torch.bernoulli(torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(2)))
    out = model(x)
    out.z_e.retain_grad()
    vq_terms(out.logits, x, out.z_e, out.z_q).recon.sum().backward()
    leaf = out.z_q.detach().requires_grad_()
    recon = torch.nn.functional.binary_cross_entropy_with_logits(model.decode_logits(leaf), x.reshape(3, 784),
                                                                 reduction="sum")
    (at_z_q,) = torch.autograd.grad(recon, leaf)
    assert torch.equal(out.z_e.grad, at_z_q)
    assert model.codebook.grad is None or not model.codebook.grad.any()  # recon never moves the codebook


def test_commitment_moves_only_the_encoder_and_the_codebook_term_only_the_codebook():
    torch.manual_seed(0)
    model = VQVAE(codebook_size=8, code_dim=4, channels=8)
    x = torch.bernoulli(torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(3)))
    for term, moves in (("commitment", "encoder"), ("codebook", "codebook")):
        model.zero_grad(set_to_none=True)
        out = model(x)
        getattr(vq_terms(out.logits, x, out.z_e, out.z_q), term).sum().backward()
        enc = any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.enc.parameters())
        book = model.codebook.grad is not None and model.codebook.grad.abs().sum() > 0
        dec = any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.dec.parameters())
        assert (enc, book, dec) == (moves == "encoder", moves == "codebook", False), term


def test_perplexity_is_the_codebook_size_for_uniform_use_and_1_for_one_code():
    k = 16
    uniform = torch.arange(k).repeat(5)
    assert codebook_perplexity(uniform, k) == pytest.approx(k, abs=1e-9)
    assert codebook_perplexity(torch.full((40,), 3), k) == pytest.approx(1.0, abs=1e-12)
    assert codebook_perplexity(torch.tensor([0, 0, 1, 1]), k) == pytest.approx(2.0)  # two codes, equally used
    assert dead_codes(uniform, k) == 0 and dead_codes(torch.tensor([0, 0, 1, 1]), k) == 14


def test_ema_with_no_memory_is_a_k_means_step():
    gen = torch.Generator().manual_seed(4)
    z = torch.randn(50, 3, generator=gen)
    idx = torch.randint(0, 4, (50,), generator=gen)
    _, _, book = ema_codebook(torch.zeros(4), torch.zeros(4, 3), z, idx, decay=0.0, eps=0.0)
    for k in range(4):
        assert torch.allclose(book[k], z[idx == k].mean(0), atol=1e-6)


def test_ema_does_not_keep_an_unused_code():
    """Only the chosen codes follow k-means: an unused code is 0/0 with eps = 0, the origin with eps > 0 and
    decay 0, and with decay > 0 it decays towards the origin along its own direction."""
    gen = torch.Generator().manual_seed(6)
    z = torch.randn(30, 2, generator=gen, dtype=torch.float64)
    idx = torch.zeros(30, dtype=torch.int64)  # every z chooses code 0; code 1 is never chosen
    start = torch.tensor([[0.0, 0.0], [5.0, 5.0]], dtype=torch.float64)
    _, _, book = ema_codebook(torch.ones(2).double(), start.clone(), z, idx, decay=0.0, eps=0.0)
    assert torch.allclose(book[0], z.mean(0)) and torch.isnan(book[1]).all()
    _, _, book = ema_codebook(torch.ones(2).double(), start.clone(), z, idx, decay=0.0)
    assert torch.equal(book[1], torch.zeros(2).double())
    counts, sums = torch.ones(2).double(), start.clone()
    lengths = []
    for _ in range(2000):
        counts, sums, book = ema_codebook(counts, sums, z, idx, decay=0.99)
        lengths.append(book[1].norm().item())
        assert book[1, 0] == pytest.approx(book[1, 1].item(), rel=1e-12)  # still on the line through (5, 5)
    assert all(b < a for a, b in zip(lengths, lengths[1:]))  # it moves, every step, towards the origin
    assert 0.99 * lengths[0] < lengths[499] < lengths[0] and lengths[-1] < 0.01 * lengths[0]


def test_code_prior_fits_counts_and_samples_from_them():
    idx = torch.zeros(10, 7, 7, dtype=torch.int64)
    idx[:, 0, 0] = torch.tensor([1] * 8 + [2] * 2)
    prior = CodePrior.fit(idx, codebook_size=4, alpha=0.0)
    assert prior.log_probs[0].exp().tolist() == pytest.approx([0.0, 0.8, 0.2, 0.0])
    assert prior.log_probs[1].exp().tolist() == pytest.approx([1.0, 0.0, 0.0, 0.0])
    assert prior.log_prob(idx[:1]).item() == pytest.approx(math.log(0.8))
    draws = prior.sample(2000, generator=torch.Generator().manual_seed(5))
    assert draws.shape == (2000, 7, 7) and (draws[:, 1:, :] == 0).all()
    assert (draws[:, 0, 0] == 1).float().mean().item() == pytest.approx(0.8, abs=0.03)
    uniform = CodePrior.uniform(64)
    assert uniform.log_prob(idx).tolist() == pytest.approx([-49 * math.log(64)] * 10)


def test_vqvae_shapes_registry_and_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = VQVAE(codebook_size=12, code_dim=5, channels=8)
    out = model(torch.zeros(2, 784))
    assert out.logits.shape == (2, 784) and out.z_e.shape == (2, 7, 7, 5) and out.indices.shape == (2, 7, 7)
    assert model.decode_indices(out.indices).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match="lie in 0..11"):
        model.decode_indices(torch.full((1, 7, 7), 12))
    with pytest.raises(ValueError, match="positive whole number"):
        VQVAE(codebook_size=0)
    assert MODEL_CLASSES["VQVAE"] is VQVAE
    back = load_checkpoint(save_checkpoint(model, tmp_path / "vq.pt"))
    assert type(back) is VQVAE and back.config == model.config
    assert torch.equal(back.codebook, model.codebook)
