"""vae_course.training.vq: the training loop logs the codebook's use, restarts revive dead codes, the bound adds up."""
import math

import pytest
import torch

from vae_course.models import CodePrior
from vae_course.models import VQVAE
from vae_course.training import (encode_indices, init_codebook, load_or_train_vqvae, restart_dead_codes, train_vqvae,
                                 vq_bound)


def binary_images(n, seed=0):
    return torch.bernoulli(torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) * 0.3)


def test_restarting_dead_codes_moves_exactly_the_unused_ones():
    torch.manual_seed(0)
    model = VQVAE(codebook_size=6, code_dim=3, channels=4)
    before = model.codebook.detach().clone()
    z = torch.randn(10, 3)
    moved = restart_dead_codes(model, z, torch.tensor([3, 0, 1, 0, 0, 2]), torch.Generator().manual_seed(0))
    assert moved == 3
    assert torch.equal(model.codebook[[0, 2, 5]], before[[0, 2, 5]])
    for k in (1, 3, 4):
        assert any(torch.equal(model.codebook[k], row) for row in z)


def test_training_logs_use_and_restarts_revive_a_collapsed_codebook():
    x = binary_images(256)
    runs = {}
    for restart in (False, True):
        torch.manual_seed(0)
        model = VQVAE(codebook_size=16, code_dim=4, channels=8)
        init_codebook(model, "normal", scale=3.0)  # far from the encoder's outputs: few codes are ever nearest
        hist = train_vqvae(model, x, epochs=2, batch_size=64, log_every=2, restart_dead=restart)
        assert len(hist.step) == len(hist.perplexity) == len(hist.dead) == 4
        runs[restart] = (hist, encode_indices(model, x))
    assert sum(runs[False][0].restarted) == 0 and sum(runs[True][0].restarted) > 0
    used = {r: int(torch.unique(idx).numel()) for r, (_, idx) in runs.items()}
    assert used[True] > used[False]


def test_training_refuses_grey_images():
    with pytest.raises(ValueError, match="binary"):
        train_vqvae(VQVAE(8, 2, 4), torch.rand(8, 784), epochs=1)


def test_data_initialisation_uses_encoder_outputs():
    torch.manual_seed(0)
    model = VQVAE(codebook_size=8, code_dim=3, channels=4)
    x = binary_images(4)
    init_codebook(model, "data", x)
    with torch.no_grad():
        z = model.encode(x).reshape(-1, 3)
    assert all(any(torch.equal(code, row) for row in z) for code in model.codebook)


def test_the_bound_is_recon_plus_minus_log_prior():
    torch.manual_seed(0)
    model = VQVAE(codebook_size=16, code_dim=4, channels=8)
    x = binary_images(20, seed=1)
    uniform = vq_bound(model, x, CodePrior.uniform(16))
    assert uniform["kl"] == pytest.approx(49 * math.log(16), rel=1e-12)
    assert uniform["loss"] == pytest.approx(uniform["recon"] + uniform["kl"], rel=1e-12)
    fitted = vq_bound(model, x, CodePrior.fit(encode_indices(model, x), 16))
    assert fitted["recon"] == pytest.approx(uniform["recon"]) and fitted["kl"] < uniform["kl"]


def test_a_vq_run_is_cached_with_its_codes_and_per_image_reconstructions(tmp_path):
    gen = torch.Generator().manual_seed(0)
    train_b = torch.bernoulli(torch.full((300, 1, 28, 28), 0.2), generator=gen)
    test_b = torch.bernoulli(torch.full((40, 1, 28, 28), 0.2), generator=gen)
    run = load_or_train_vqvae("vq_s0", train_b, test_b, epochs=1, restart_dead=True, log_every=2, folder=tmp_path)
    again = load_or_train_vqvae("vq_s0", train_b, test_b, epochs=1, restart_dead=True, log_every=2, folder=tmp_path)
    other = load_or_train_vqvae("vq_s0", train_b, test_b, epochs=1, restart_dead=False, log_every=2, folder=tmp_path)
    assert run.trained and not again.trained and other.trained  # restarts change the key: trained again
    assert again.history.steps == math.ceil(300 / 128) and again.history.step == [2]  # 3 steps, one full window
    assert again.scores["train_codes"].shape == (300, 7, 7) and again.scores["train_codes"].dtype == torch.uint8
    assert torch.equal(again.scores["test_codes"].long(), encode_indices(again.model, test_b))
    bound = vq_bound(again.model, test_b, CodePrior.uniform(64))
    assert math.isclose(bound["recon"], again.scores["recon"].mean().item(), rel_tol=1e-6)
    with pytest.raises(ValueError, match="init"):
        load_or_train_vqvae("vq_s0", train_b, test_b, epochs=1, init="kmeans", folder=tmp_path)
