"""The checkers of notebooks 05 (vae_loss) and 06 (interpolation_path): they pass the solution and catch mistakes."""
import torch
import torch.nn.functional as F

from vae_course.exercises import check_interpolation_path, check_vae_loss


def _kl(mu, logvar, dim=None):
    terms = 1 + logvar - mu.pow(2) - logvar.exp()
    return -0.5 * (terms.sum() if dim is None else terms.sum(dim))


def solution(logits, x, mu, logvar):
    x = x.reshape(x.shape[0], -1)
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") + _kl(mu, logvar)


def test_vae_loss_passes_the_solution_and_per_image_variant():
    assert check_vae_loss(solution)

    def per_image(logits, x, mu, logvar):
        x = x.reshape(x.shape[0], -1)
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1) + _kl(mu, logvar, 1)

    assert check_vae_loss(per_image, reduction="none")
    r = check_vae_loss(per_image)
    assert not r and "expected ()" in r.message and "one number for the whole batch" in r.message


def test_vae_loss_catches_sign_and_saturation_mistakes():
    def wrong_sign(logits, x, mu, logvar):
        return solution(logits, x, mu, logvar) - 2 * _kl(mu, logvar)

    assert not check_vae_loss(wrong_sign)

    def through_probabilities(logits, x, mu, logvar):  # the reference script's way: saturates for large logits
        x = x.reshape(x.shape[0], -1)
        return F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") + _kl(mu, logvar)

    r = check_vae_loss(through_probabilities)
    assert not r and "confident logits" in r.message and "binary_cross_entropy_with_logits" in r.message

    def no_flatten(logits, x, mu, logvar):
        return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") + _kl(mu, logvar)

    assert "raised" in check_vae_loss(no_flatten).message


def test_interpolation_path_checker():
    assert check_interpolation_path(lambda z0, z1, s: z0 + torch.linspace(0, 1, s)[:, None] * (z1 - z0))
    assert not check_interpolation_path(lambda z0, z1, s: z0 + torch.linspace(0, 1, s + 1)[:-1, None] * (z1 - z0))
    assert not check_interpolation_path(lambda z0, z1, s: torch.stack([z0, z1]))
