"""Bad inputs to the package's models, priors, bounds, checkpoints, VQ-VAE and views: one clear sentence each (issue
27, section 3).

Each row of ``CASES`` does one bad thing through the public API and names the exception type it must raise and the
words its message must contain; the checks are those of :mod:`tests.test_bad_inputs` (one sentence, no torch or
Python internals, raised inside ``vae_course``). Every row failed (silently accepted, or torch's or Python's own
text) before the fix it tests.
"""
from __future__ import annotations

import pytest
import torch

from tests.test_bad_inputs import check_message, raised_in_vae_course
from vae_course.config import get_device
from vae_course.evaluation import iwae
from vae_course.models import VAE
from vae_course.models.vqvae import VQVAE, CodePrior
from vae_course.objectives import (ELBO, IWAE, MixtureOfGaussiansPrior, StandardNormalPrior, VampPrior)
from vae_course.training import fit, load_checkpoint, save_checkpoint
from vae_course.training.vq import train_vqvae, vq_bound
from vae_course.views import training_monitor
from vae_course.views.png import digit_png

NAN = float("nan")


def model() -> VAE:
    torch.manual_seed(0)
    return VAE()


def images(n: int = 8) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def binary(n: int = 8) -> torch.Tensor:
    return images(n).round()


def with_nan(x: torch.Tensor) -> torch.Tensor:
    x = x.clone()
    x.view(-1)[3] = NAN
    return x


def vq() -> VQVAE:
    torch.manual_seed(0)
    return VQVAE()


def fit_with(objective, m=None):
    m = m or model()
    return fit(m, images(8), None, objective=objective, epochs=1, batch_size=8, device="cpu")


CASES = []


def row(case_id: str, expected, names, fn):
    CASES.append(pytest.param(fn, expected, tuple(names), id=case_id))


# -------------------------------------------------------------------------------------------- models (silent NaN)
row("image-shape-3-channels", ValueError, ["image_shape", "input_dim"], lambda tmp: VAE(image_shape=(3, 28, 28)))
row("image-shape-string", ValueError, ["image_shape"], lambda tmp: VAE(image_shape="abc"))
row("encode-3-channel-batch-not-batch-hint", ValueError, ["784 pixels"],
    lambda tmp: model().encode(torch.rand(2, 3, 28, 28)))
row("device-meta", ValueError, ["device", "meta"], lambda tmp: get_device("meta"))
row("fit-device-meta", ValueError, ["device", "meta"],
    lambda tmp: fit(model(), images(8), None, epochs=1, batch_size=8, device="meta"))

# ------------------------------------------------------------------------------------------------------ pictures
row("digit-png-nan", ValueError, ["digit_png", "NaN"], lambda tmp: digit_png(torch.full((28, 28), NAN)))
row("digit-png-huge", ValueError, ["digit_png", "4096"], lambda tmp: digit_png(torch.rand(2000, 2000), scale=32))
row("monitor-nan-images", ValueError, ["test_images", "NaN"], lambda tmp: training_monitor(with_nan(images(20))))
row("monitor-0-255-images", ValueError, ["test_images", "255"], lambda tmp: training_monitor(images(20) * 255))
row("monitor-uint8-images", TypeError, ["test_images", "uint8"],
    lambda tmp: training_monitor((images(20) * 255).to(torch.uint8)))

# --------------------------------------------------------------------------------------------------------- priors
row("fit-vampprior-of-another-model", ValueError, ["VampPrior", "another model"],
    lambda tmp: fit_with(ELBO(prior=VampPrior(VAE(), 4))))
row("fit-standard-normal-5d-on-2d", ValueError, ["StandardNormalPrior", "latent_dim"],
    lambda tmp: fit_with(ELBO(prior=StandardNormalPrior(5))))
row("fit-mixture-3d-on-2d", ValueError, ["MixtureOfGaussiansPrior", "latent_dim"],
    lambda tmp: fit_with(ELBO(prior=MixtureOfGaussiansPrior(3, 4))))
row("fit-iwae-mixture-3d-on-2d", ValueError, ["MixtureOfGaussiansPrior", "latent_dim"],
    lambda tmp: fit_with(IWAE(2, prior=MixtureOfGaussiansPrior(3, 4))))
row("vampprior-init-0-255", ValueError, ["init", "255"], lambda tmp: VampPrior(model(), 4, init=images(4) * 255))
row("vampprior-init-uint8", TypeError, ["init", "uint8"],
    lambda tmp: VampPrior(model(), 4, init=(images(4) * 255).to(torch.uint8)))
row("vampprior-init-nan", ValueError, ["init", "NaN"], lambda tmp: VampPrior(model(), 4, init=with_nan(images(4))))
row("mixture-seed-negative", ValueError, ["seed"], lambda tmp: MixtureOfGaussiansPrior(2, 4, seed=-1))
row("mixture-seed-string", ValueError, ["seed"], lambda tmp: MixtureOfGaussiansPrior(2, 4, seed="a"))
row("vampprior-seed-string", ValueError, ["seed"], lambda tmp: VampPrior(model(), 4, seed="a"))

# ---------------------------------------------------------------------------------------------------- checkpoints
row("load-checkpoint-none", TypeError, ["path", "NoneType"], lambda tmp: load_checkpoint(None))
row("load-checkpoint-nul-byte", ValueError, ["NUL"], lambda tmp: load_checkpoint(str(tmp / "a\x00b.pt")))
row("save-checkpoint-nul-byte", ValueError, ["NUL"], lambda tmp: save_checkpoint(model(), str(tmp / "a\x00b.pt")))
row("save-checkpoint-extra-lambda", TypeError, ["extra['f']", "nothing was saved"],
    lambda tmp: save_checkpoint(model(), tmp / "m.pt", extra={"f": lambda: 0}))

# --------------------------------------------------------------------------------------------------------- bounds
row("iwae-bound-labels-on-plain-vae", ValueError, ["labels", "VAE"],
    lambda tmp: iwae.iwae_bound(model(), binary(4), 2, labels=torch.zeros(4, dtype=torch.long)))
row("iwae-bound-huge-chunk", ValueError, ["iwae_bound", "GiB"],
    lambda tmp: iwae.iwae_bound(model(), binary(4), 10**6, chunk=10**6))
row("fit-iwae-huge-k", ValueError, ["k=10000000", "GiB"], lambda tmp: fit_with(IWAE(10**7)))

# --------------------------------------------------------------------------------------------------------- VQ-VAE
row("train-vqvae-beta-negative", ValueError, ["beta"], lambda tmp: train_vqvae(vq(), binary(8), epochs=1, beta=-1))
row("train-vqvae-lr-negative", ValueError, ["lr"], lambda tmp: train_vqvae(vq(), binary(8), epochs=1, lr=-1))
row("train-vqvae-lr-nan", ValueError, ["lr"], lambda tmp: train_vqvae(vq(), binary(8), epochs=1, lr=NAN))
row("train-vqvae-empty", ValueError, ["images", "non-empty"],
    lambda tmp: train_vqvae(vq(), torch.zeros(0, 1, 28, 28), epochs=1))
row("train-vqvae-3-channels", ValueError, ["images", "(2, 3, 28, 28)"],
    lambda tmp: train_vqvae(vq(), torch.zeros(2, 3, 28, 28), epochs=1))
row("vqvae-forward-3-channels", ValueError, ["784 pixels"], lambda tmp: vq()(torch.zeros(2, 3, 28, 28)))
row("code-prior-uniform-0", ValueError, ["codebook_size"], lambda tmp: CodePrior.uniform(0))
row("code-prior-index-out-of-range", ValueError, ["code indices", "0..7"],
    lambda tmp: CodePrior.uniform(8).log_prob(torch.full((1, 7, 7), 9)))
row("code-prior-negative-index", ValueError, ["code indices"],
    lambda tmp: CodePrior.uniform(8).log_prob(torch.full((1, 7, 7), -1)))
row("vq-bound-wrong-k", ValueError, ["prior", "CodePrior"],
    lambda tmp: vq_bound(vq(), binary(4), CodePrior.uniform(vq().config.codebook_size + 1)))


# --------------------------------------------------------------------------------------------------- the monitor
def _monitor_gif_into_missing_folder(tmp):
    from vae_course.views.monitor import TrainingMonitor

    mon = training_monitor(images(20), n_points=10)
    mon.gif_bytes = lambda *a, **k: b"GIF89a"  # no frames needed: the folder is checked before writing
    assert isinstance(mon, TrainingMonitor)
    return mon.save_gif(tmp / "missing" / "run.gif")


row("save-gif-missing-folder", ValueError, ["missing"], _monitor_gif_into_missing_folder)


@pytest.mark.parametrize("action, expected, names", CASES)
def test_bad_package_input_gets_one_clear_sentence(action, expected, names, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    with pytest.raises(Exception) as info:
        action(tmp_path)
    exc = info.value
    assert isinstance(exc, expected), f"{type(exc).__name__} ({exc}), expected {expected.__name__}"
    assert raised_in_vae_course(exc), f"{type(exc).__name__} came from outside vae_course: {exc}"
    check_message(str(exc), names)


def test_good_inputs_still_work():
    """The checks refuse only what is wrong: the defaults, a flat image shape and finite data pass."""
    assert VAE(input_dim=100).config.image_shape == (100,)
    assert VAE(input_dim=784, image_shape=(784,)).config.image_shape == (784,)
    m = model()
    assert m(images(2))[0].shape == (2, 1, 28, 28)
    assert m.decode(torch.zeros(2)).shape == (1, 1, 28, 28)
    assert digit_png(images(1)[0]).startswith(b"\x89PNG")
    assert CodePrior.uniform(8).log_prob(torch.zeros(3, 7, 7, dtype=torch.long)).shape == (3,)
    VampPrior(m, 4, init=images(4))
    MixtureOfGaussiansPrior(2, 4, seed=3)
