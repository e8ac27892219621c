import pytest
import torch

from vae_course.views import interpolation_explorer


def test_interpolation_explorer_endpoints(model, data):
    images, labels = data
    it = interpolation_explorer(model, images, labels, start=2, end=7)
    mu = model.encode(images)[0].detach()
    assert torch.equal(it.z, it.z0) and torch.allclose(it.z0, mu[2])
    before = it.image.value
    it.t.value = 1.0
    assert torch.equal(it.z, it.z1) and torch.allclose(it.z1, mu[7]) and it.image.value != before
    it.end.value = 9
    assert torch.allclose(it.z, mu[9])


# --- issue 13: a NaN slider value snaps back to the last finite one --------------------------------------------------
def test_a_nan_t_snaps_back_to_the_last_finite_one(model):
    inter = interpolation_explorer(model, torch.rand(4, 1, 28, 28))
    inter.t.value = 0.5
    shown = inter.image.value
    inter.t.value = float("nan")
    assert inter.t.value == 0.5 and inter.image.value == shown
