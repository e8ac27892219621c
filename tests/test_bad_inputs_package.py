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
from vae_course.data import load_mnist
from vae_course.evaluation import aggregate_posterior_grid, iwae
from vae_course.models import CVAE, VAE
from vae_course.models.vqvae import VQVAE, CodePrior
from vae_course.objectives import (ELBO, IWAE, MixtureOfGaussiansPrior, StandardNormalPrior, VampPrior)
from vae_course.training import TrainingDivergedError, fit, load_checkpoint, save_checkpoint
from vae_course.training.vq import train_vqvae, vq_bound
from vae_course.views import (cvae_explorer, digit_encoder, draw_aggregate, interpolation_explorer, latent_explorer,
                              latent_scatter, training_monitor)
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


# --------------------------------------------------------------------------- the rest of §3 (NaN, views, arguments)
def _cvae() -> CVAE:
    torch.manual_seed(0)
    return CVAE()


def _explorer():
    return latent_explorer(model(), live=False)


def _set(widget, value):
    widget.value = value


def _with_bias(m: VAE, layer: str, value: float, which: str = "bias") -> VAE:
    with torch.no_grad():
        getattr(getattr(m, layer), which).view(-1)[:3] = value
    return m


def _aggregate_with_limit(limit):
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    fig, ax = plt.subplots()
    try:
        draw_aggregate(ax, aggregate_posterior_grid(torch.zeros(4, 2), torch.zeros(4, 2), 3.0, n=11), limit)
    finally:
        plt.close(fig)


def _scatter_with_limit(limit):
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    fig, ax = plt.subplots()
    try:
        latent_scatter(torch.zeros(3, 2), ax=ax, limit=limit)
    finally:
        plt.close(fig)


row("forward-nan-pixel", ValueError, ["images x", "NaN"], lambda tmp: model()(with_nan(images(2))))
row("forward-inf-pixel", ValueError, ["images x", "inf"],
    lambda tmp: model()(images(2).masked_fill(images(2) > 0.99, float("inf"))))
row("decode-nan-code", ValueError, ["latent codes z", "decode"], lambda tmp: model().decode(torch.tensor([[NAN, 0.0]])))
row("decode-inf-code", ValueError, ["latent codes z", "inf"],
    lambda tmp: model().decode(torch.tensor([[float("inf"), 0.0]])))
row("explorer-show-image-nan", ValueError, ["show_image", "NaN"],
    lambda tmp: _explorer().show_image(torch.full((1, 28, 28), NAN)))
row("explorer-show-image-wrong-size", ValueError, ["show_image", "784"],
    lambda tmp: _explorer().show_image(torch.rand(3, 28, 28)))
row("latent-scatter-limit-inf", ValueError, ["limit=inf"], lambda tmp: _scatter_with_limit(float("inf")))
row("draw-aggregate-limit-inf", ValueError, ["limit=inf"], lambda tmp: _aggregate_with_limit(float("inf")))
row("cvae-explorer-limit-inf", ValueError, ["limit=inf"],
    lambda tmp: cvae_explorer(_cvae(), limit=float("inf"), live=False))
row("cvae-explorer-label-12", ValueError, ["label=12", "0 to 9"],
    lambda tmp: cvae_explorer(_cvae(), label=12, live=False))
row("cvae-explorer-label-set-12", TypeError, ["'digit'", "got 12"],
    lambda tmp: _set(cvae_explorer(_cvae(), live=False).label, 12))
row("cvae-explorer-slider-abc", TypeError, ["'style z1'", "'abc'"],
    lambda tmp: _set(cvae_explorer(_cvae(), live=False).sliders[0], "abc"))
row("explorer-slider-abc", TypeError, ["'z1'", "'abc'", "a number from -3 to 3"],
    lambda tmp: _set(_explorer().sliders[0], "abc"))
row("explorer-slider-none", TypeError, ["'z1'", "None"], lambda tmp: _set(_explorer().sliders[0], None))
row("digit-encoder-index-abc", TypeError, ["'test image'", "whole number"],
    lambda tmp: _set(digit_encoder(model(), images(4)).index, "abc"))
row("interpolation-start-none", TypeError, ["'image A'", "whole number"],
    lambda tmp: _set(interpolation_explorer(model(), images(4)).start, None))
row("data-root-int", TypeError, ["root=123", "folder"], lambda tmp: load_mnist("test", root=123, download=False))
row("fit-logvar-bias-200", TrainingDivergedError, ["logvar", "200", "before training"],
    lambda tmp: fit(_with_bias(model(), "fc_logvar", 200.0), images(8), epochs=1, batch_size=8, device="cpu",
                    progress=False))
row("fit-nan-weight", TrainingDivergedError, ["fc1.weight", "before training"],
    lambda tmp: fit(_with_bias(model(), "fc1", NAN, "weight"), images(8), epochs=1, batch_size=8, device="cpu",
                    progress=False))
row("code-prior-alpha-negative", ValueError, ["alpha=-1", ">= 0"],
    lambda tmp: CodePrior.fit(torch.zeros(2, 7, 7, dtype=torch.long), 4, alpha=-1))
row("code-prior-alpha-nan", ValueError, ["alpha=nan"],
    lambda tmp: CodePrior.fit(torch.zeros(2, 7, 7, dtype=torch.long), 4, alpha=NAN))


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


def test_the_first_failed_step_blames_the_model_not_the_learning_rate():
    """A model broken before training is named as such; "lower the learning rate" stays for a real divergence."""
    for broken in (_with_bias(model(), "fc_logvar", 200.0), _with_bias(model(), "fc1", NAN, "weight")):
        with pytest.raises(TrainingDivergedError) as info:
            fit(broken, images(8), epochs=1, batch_size=8, device="cpu", progress=False)
        assert "learning rate" not in str(info.value).replace("no learning rate can fix", "")
    healthy = model()
    healthy.fc1.weight.register_hook(lambda g: g * NAN)  # the weights are fine; a gradient is not
    with pytest.raises(TrainingDivergedError, match="lower the learning rate"):
        fit(healthy, images(8), epochs=1, batch_size=8, device="cpu", progress=False)


def test_forward_inside_fit_adds_no_host_sync(monkeypatch):
    """forward's NaN check is skipped while fit trains: an objective that calls model(x) costs no extra sync."""
    from vae_course.objectives import model_elbo

    def through_forward(m, x, y=None):
        m(x)  # what a learner's objective may do
        return model_elbo(m, x, y)

    counts = []
    for objective in (model_elbo, through_forward):
        syncs = {"n": 0}
        with monkeypatch.context() as mp:
            for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
                real = getattr(torch.Tensor, name)

                def counted(self, *args, _real=real, **kwargs):
                    syncs["n"] += 1
                    return _real(self, *args, **kwargs)

                mp.setattr(torch.Tensor, name, counted)
            fit(model(), images(32), epochs=1, batch_size=8, device="cpu", progress=False, objective=objective)
        counts.append(syncs["n"])
    assert counts[0] == counts[1], counts


def test_a_long_iwae_bound_warns_before_it_starts():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the warning becomes an error: nothing after it runs
        with pytest.raises(UserWarning) as info:
            iwae.iwae_bound(model(), binary(4), 10**9)
        iwae.iwae_bound(model(), binary(4), 10)  # a usual bound says nothing
    check_message(str(info.value), ("iwae_bound", "k=1,000,000,000", "4,000,000,000", "days", "lower k"))


class _JsonComm:
    """A live kernel's comm, as far as a widget sees it: every message goes through JSON without NaN, as
    jupyter_client's packer does (``allow_nan=False``)."""

    kernel = object()

    def __init__(self, comm_id: str):
        self.comm_id, self.sent = comm_id, []

    def on_msg(self, callback):
        pass

    def send(self, data=None, metadata=None, buffers=None):
        import json

        self.sent.append(json.dumps(data, allow_nan=False))

    def close(self, *args, **kwargs):
        pass


@pytest.mark.parametrize("view", ["latent", "cvae", "interpolation"])
def test_a_nan_slider_value_never_reaches_a_live_page(view):
    ex = {"latent": lambda: latent_explorer(model(), live=False),
          "cvae": lambda: cvae_explorer(_cvae(), live=False),
          "interpolation": lambda: interpolation_explorer(model(), images(4), live=False)}[view]()
    slider = ex.t if view == "interpolation" else ex.sliders[0]
    slider.value = 0.5
    slider.comm = _JsonComm(f"test-{view}")
    try:
        slider.value = NAN  # in a live kernel: jupyter_client's "Out of range float values are not JSON compliant"
        slider.value = float("inf")
        assert slider.value == 0.5
        slider.value = 0.25  # a number still goes through
        assert slider.value == 0.25 and slider.comm.sent
    finally:
        slider.comm = None


def test_controls_still_take_numbers():
    import numpy as np

    ex = _explorer()
    for value in (1, 0.5, np.float32(0.25), torch.tensor(-0.5)):
        ex.sliders[0].value = value
        assert ex.sliders[0].value == pytest.approx(float(value))
    cv = cvae_explorer(_cvae(), live=False, label=3)
    cv.label.value = 7
    assert cv.label.value == 7
    enc = digit_encoder(model(), images(4))
    enc.index.value = 2
    assert enc.index.value == 2
