"""The KL warm-up schedule and free bits (vae_course.objectives.warmup)."""
import pytest
import torch

from vae_course.models import VAE
from vae_course.objectives import ELBO, kl_weight, model_elbo
from vae_course.objectives.warmup import _free_bits_terms
from vae_course.training import fit


def test_kl_weight_is_a_linear_ramp_to_beta():
    assert [kl_weight(s, 4) for s in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert kl_weight(5, 10, beta=4.0) == pytest.approx(2.0)
    assert kl_weight(1000, 10, beta=4.0) == 4.0
    assert kl_weight(0, 0, beta=2.5) == 2.5  # no warm-up: the full weight from the first step
    assert kl_weight(3, 7.5, beta=1.0) == pytest.approx(0.4)  # fractional warm-up lengths (epochs * batches)


@pytest.mark.parametrize("args", [(-1, 4, 1.0), (0, -4, 1.0), (0, 4, -1.0), (0, float("nan"), 1.0)])
def test_kl_weight_rejects_bad_input(args):
    with pytest.raises((ValueError, TypeError)):
        kl_weight(*args)
    with pytest.raises(TypeError):
        kl_weight(True, 4)


def test_fit_follows_kl_weight(mnist_small):
    """fit's per-epoch mean KL weight is the mean of kl_weight over that epoch's steps."""
    train_x = mnist_small[0][:384]  # 3 batches of 128 per epoch
    torch.manual_seed(0)
    hist = fit(VAE(latent_dim=2), train_x, epochs=3, batch_size=128, progress=False,
               objective=ELBO(warmup_epochs=1.5, beta=2.0))
    warm = 1.5 * 3
    want = [sum(kl_weight(s, warm, 2.0) for s in range(3 * e, 3 * e + 3)) / 3 for e in range(3)]
    assert hist.beta == pytest.approx(want)
    assert hist.beta[-1] == pytest.approx(2.0)


def test_free_bits_objective_clamps_each_dimension_s_batch_mean_kl(seeded):
    model = VAE(latent_dim=3)
    x = torch.rand(16, 784)
    torch.manual_seed(1)
    plain = model_elbo(model, x, beta=2.0)
    torch.manual_seed(1)
    off = _free_bits_terms(model, x, None, "bernoulli", 1.0, 2.0, 0.0)
    # with no floor the clamp does nothing: same terms, and the same batch-mean objective
    assert torch.allclose(off.recon, plain.recon) and torch.allclose(off.kl, plain.kl)
    assert torch.allclose(off.total.mean(), plain.total.mean(), atol=1e-5)
    torch.manual_seed(1)
    floor = _free_bits_terms(model, x, None, "bernoulli", 1.0, 2.0, 1e3)
    # a floor above every dimension's KL: the KL part is beta * D * floor, and the reported KL is untouched
    assert torch.allclose(floor.total, floor.recon + 2.0 * 3 * 1e3)
    assert torch.allclose(floor.kl, plain.kl)
