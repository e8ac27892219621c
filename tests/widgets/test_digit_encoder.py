import pytest
import torch

from vae_course.views import digit_encoder


def test_digit_encoder_position_matches_encode(model, data):
    images, labels = data
    enc = digit_encoder(model, images, labels, index=3)
    mu, logvar = model.encode(images[3:4])
    assert torch.allclose(enc.mu, mu[0].detach()) and torch.allclose(enc.logvar, logvar[0].detach())
    assert torch.allclose(enc.position, mu[0].detach())
    before = (enc.original.value, enc.reconstruction.value, enc.scatter.value)
    enc.index.value = 10
    assert torch.allclose(enc.mu, model.encode(images[10:11])[0][0].detach())
    assert all(a != b for a, b in zip(before, (enc.original.value, enc.reconstruction.value, enc.scatter.value)))
    assert f"digit <b>{int(labels[10])}</b>" in enc.info.value
