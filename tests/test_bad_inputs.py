"""Bad inputs and faults, as a careless learner or a hostile file would bring them: each gets ONE clear sentence.

Every row of ``CASES`` does one bad thing through the public API (``vae_course.training.fit_loop``, ``.data``, ``.losses``,
``.iwae``, ``.checkpoints``, ``.widgets``), a damaged data folder, a damaged checkpoint or the CLI
(``vae_course.__main__.main(argv)``, in-process). For each row the test asserts

* the exception type (API) or the exit status (CLI);
* that the message is one sentence (:func:`one_sentence_problem`, which is tested to fail on what is not);
* that it names the argument or file it is about (``names``);
* that no torch-internal text leaks (``LEAKS``) and, for API errors, that the exception was raised inside
  ``vae_course`` (not passed through from torch or Python).

Nothing here downloads: ``torchvision``'s download is replaced by one that fails as it does offline.
"""
from __future__ import annotations

import builtins
import contextlib
import gzip
import io
import math
import os
import re
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vae_course import views
import vae_course
from vae_course.data import DataNotFoundError, load_dataset, load_fashion_mnist, load_mnist
from vae_course.evaluation import LearnedSigmaGaussian, evaluate, iwae
from vae_course.models import VAE, ConvVAE
from vae_course.objectives import ELBO, IWAE, MixtureOfGaussiansPrior, losses, model_elbo
from vae_course.training import (CheckpointError, TrainingDivergedError, fit, load_checkpoint, read_checkpoint,
                                 save_checkpoint)

PACKAGE = Path(vae_course.__file__).resolve().parent
RAW = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# Text that only shows up when an error from torch, C++ or Python's internals reaches the learner unchanged.
LEAKS = ("Traceback", "torch/", "aten::", "RuntimeError:", "c10", "site-packages", "File \"", ".cpp", ".py\"",
         "Could this error message be improved", "enforce fail", "Error(s) in loading state_dict", "_C.",
         "AssertionError", "Expected parameter", "unpacking long long", "Error downloading")

_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "approx.", "no.")


# ------------------------------------------------------------------------------------------------ the sentence check
def one_sentence_problem(message: str, *, final_stop: bool = True) -> str | None:
    """``None`` if ``message`` is exactly one sentence, else why not.

    One sentence: one line, not empty, ends with a full stop (unless ``final_stop=False``, for argparse's lines), at
    most 700 characters, and no full stop, ``?`` or ``!`` followed by a space inside it. Quoted text ('...', "...",
    `...`), paths, numbers and the abbreviations e.g./i.e./etc. are not sentence ends.
    """
    if not isinstance(message, str) or not message.strip():
        return "it is empty"
    text = message.strip()
    if "\n" in text:
        return "it has several lines"
    if len(text) > 700:
        return f"it is {len(text)} characters long"
    if final_stop and not text.endswith((".", "?", "!")):
        return "it does not end with a full stop"
    body = re.sub(r"'[^']*'|\"[^\"]*\"|`[^`]*`", "Q", text)  # quoted values
    for abbreviation in _ABBREVIATIONS:
        body = body.replace(abbreviation, "abbr")
    inner = body[:-1] if body.endswith((".", "?", "!")) else body
    found = re.search(r"[.!?]\s+\S", inner)
    if found:
        return f"it has more than one sentence (a sentence ends at {found.group(0)!r})"
    return None


@pytest.mark.parametrize("message", [
    "lr=0 must be a positive number, e.g. 1e-3.",
    "the folder /tmp/x/MNIST/raw holds 't10k. images' in quotes: fine.",
    "k=0 must be a positive whole number of importance samples (k=1 is the ELBO).",
])
def test_one_sentence_accepts_one_sentence(message):
    assert one_sentence_problem(message) is None


@pytest.mark.parametrize("message", [
    "",
    "   ",
    "First sentence. Second sentence.",
    "the loss became nan: training stopped. Lower the learning rate (lr=0.001).",
    "no full stop at the end",
    "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: bad.",
    "Is this one? And this one.",
    "x" * 800 + ".",
])
def test_one_sentence_refuses_what_is_not(message):
    assert one_sentence_problem(message) is not None


def test_one_sentence_without_final_stop_for_argparse_lines():
    assert one_sentence_problem("argument --lr: 'abc' is not a number", final_stop=False) is None
    assert one_sentence_problem("argument --lr: bad. Really bad", final_stop=False) is not None


# ------------------------------------------------------------------------------------------------------ fake MNIST
def idx_images(n: int = 10, rows: int = 28, cols: int = 28, magic: int = 2051) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, n * rows * cols, dtype=np.uint8).tobytes()
    return struct.pack(">IIII", magic, n, rows, cols) + pixels


def idx_labels(n: int = 10, magic: int = 2049, values=None) -> bytes:
    values = np.arange(n) % 10 if values is None else np.asarray(values)
    return struct.pack(">II", magic, n) + values.astype(np.uint8).tobytes()


def write_fake_mnist(root: Path, n: int = 10, name: str = "MNIST") -> Path:
    """The four raw MNIST files, ``n`` images each, in torchvision's layout ``root/MNIST/raw``; returns that folder."""
    raw = root / name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(idx_images(n))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_labels(n))
    return raw


def test_fake_mnist_loads(tmp_path):
    """The fake folder itself is good, so every failure below comes from the damage done to it."""
    write_fake_mnist(tmp_path, n=12)
    images, labels = load_mnist("test", root=tmp_path, download=False)
    assert images.shape == (12, 1, 28, 28) and labels.tolist()[:3] == [0, 1, 2]
    assert 0 <= float(images.min()) and float(images.max()) <= 1


# ------------------------------------------------------------------------------------------------------ the context
class Ctx:
    """What a row needs: a temp folder, a small model and data, fake MNIST, and ways to fake faults."""

    def __init__(self, tmp_path: Path, monkeypatch):
        self.tmp, self.mp = tmp_path, monkeypatch
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(32, 1, 28, 28, generator=g)  # grey levels in [0, 1]
        self.model = VAE()
        self._offline()

    def _offline(self):
        """torchvision's download fails the way it does without a network (after making the raw folder)."""
        import torchvision.datasets as tvd

        def fail(ds):
            os.makedirs(ds.raw_folder, exist_ok=True)
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://ossci-datasets.s3."
                               "amazonaws.com/mnist/, got:\n<urlopen error [Errno -3] Temporary failure in name "
                               "resolution>\n")

        self.mp.setattr(tvd.MNIST, "download", fail)

    def fake(self, n: int = 10, name: str = "MNIST") -> Path:
        return write_fake_mnist(self.tmp / "data", n, name)

    @property
    def root(self) -> Path:
        return self.tmp / "data"

    def deny_reading(self, path: Path):
        """Opening ``path`` raises PermissionError, as for a file without read permission (we may run as root)."""
        real = builtins.open

        def guarded(file, *args, **kwargs):
            if str(file) == str(path):
                raise PermissionError(13, "Permission denied", str(file))
            return real(file, *args, **kwargs)

        self.mp.setattr(builtins, "open", guarded)

    def checkpoint(self, model=None, name: str = "m.pt") -> Path:
        return save_checkpoint(model or VAE(), self.tmp / name)

    def payload(self, model=None) -> dict:
        torch.manual_seed(0)  # the same weights every call, so that their stored checksums agree
        return torch.load(self.checkpoint(model, "src.pt"), weights_only=True)

    def write_payload(self, payload, name: str = "bad.pt") -> Path:
        path = self.tmp / name
        torch.save(payload, path)
        return path

    def cli(self, *argv: str) -> tuple[int, str]:
        """Run ``python -m vae_course`` in-process; returns (exit status, stderr)."""
        from vae_course.__main__ import main

        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                status = main(list(argv))
            except SystemExit as exc:  # argparse
                status = exc.code
        return status, err.getvalue()

    def train_cli(self, *argv: str) -> tuple[int, str]:
        return self.cli("train", "--epochs", "1", "--no-progress", "--device", "cpu", "--batch-size", "16", *argv)


def nan_gradient_model() -> VAE:
    model = VAE()
    model.fc1.weight.register_hook(lambda g: g * float("nan"))  # finite loss, NaN gradient
    return model


def nan_weight_model() -> VAE:
    model = VAE()
    with torch.no_grad():
        model.fc4.bias.fill_(float("nan"))
    return model


def with_pixel(x: torch.Tensor, value: float) -> torch.Tensor:
    y = x.clone()
    y.view(-1)[5] = value
    return y


def gz(path: Path) -> None:
    path.write_bytes(gzip.compress(path.read_bytes()))


def cut(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def interrupt_fit_after_first_epoch(c: Ctx) -> None:
    """Make the CLI's fit see Ctrl-C at the end of its first epoch (fit turns that into an interrupted History)."""
    import vae_course.training as training

    real = training.fit

    def fit_then_ctrl_c(*args, callbacks=(), **kwargs):
        def stop(epoch, hist):
            for report in callbacks:
                report(epoch, hist)
            raise KeyboardInterrupt

        return real(*args, callbacks=[stop], **kwargs)

    c.mp.setattr(training, "fit", fit_then_ctrl_c)


def deny_writing_in(c: Ctx, folder: Path) -> None:
    import tempfile

    real = tempfile.NamedTemporaryFile

    def guarded(*args, dir=None, **kwargs):  # noqa: A002 - tempfile's own name
        if dir is not None and Path(dir).resolve() == folder.resolve():
            raise PermissionError(13, "Permission denied", str(folder))
        return real(*args, dir=dir, **kwargs)

    c.mp.setattr(tempfile, "NamedTemporaryFile", guarded)


# ----------------------------------------------------------------------------------------------------------- cases
CASES: list[tuple[str, object, object, tuple[str, ...]]] = []


def case(case_id: str, expected, names=(), *, cond: bool = True):
    """Register ``fn(ctx)`` as a row: ``expected`` is an exception class or a CLI exit status."""
    def register(fn):
        if cond:
            CASES.append((case_id, fn, expected, tuple(names)))
        return fn
    return register


def row(case_id: str, expected, names, fn, cond: bool = True):
    if cond:
        CASES.append((case_id, fn, expected, tuple(names)))


V, T = ValueError, TypeError

# --- fit: the model, the images and every argument ----------------------------------------------------------------
row("fit/model-str", T, ("model",), lambda c: fit("vae", c.x, epochs=1, progress=False))
row("fit/model-linear", T, ("model",), lambda c: fit(torch.nn.Linear(784, 2), c.x, epochs=1, progress=False))
row("fit/images-list", T, ("train_images",), lambda c: fit(c.model, c.x.tolist(), epochs=1, progress=False))
row("fit/images-numpy", T, ("train_images",), lambda c: fit(c.model, c.x.numpy(), epochs=1, progress=False))
row("fit/images-uint8", T, ("train_images",),
    lambda c: fit(c.model, (c.x * 255).to(torch.uint8), epochs=1, progress=False))
row("fit/images-shape", V, ("train_images",), lambda c: fit(c.model, torch.rand(8, 10), epochs=1, progress=False))
row("fit/images-empty", V, ("train_images",), lambda c: fit(c.model, c.x[:0], epochs=1, progress=False))
row("fit/test-empty", V, ("test_images",), lambda c: fit(c.model, c.x, c.x[:0], epochs=1, progress=False))
row("fit/images-0-255", V, ("train_images", "[0, 1]", "255"), lambda c: fit(c.model, c.x * 255, epochs=1,
                                                                            progress=False))
row("fit/images-minus1-1", V, ("train_images", "[0, 1]", "Normalize"),
    lambda c: fit(c.model, c.x * 2 - 1, epochs=1, progress=False))
row("fit/test-0-255", V, ("test_images", "[0, 1]"), lambda c: fit(c.model, c.x, c.x * 255, epochs=1, progress=False))
row("fit/train-nan-pixel", V, ("train_images", "NaN"),
    lambda c: fit(c.model, with_pixel(c.x, math.nan), epochs=1, progress=False))
row("fit/test-nan-pixel", V, ("test_images", "NaN"),
    lambda c: fit(c.model, c.x, with_pixel(c.x, math.nan), epochs=1, progress=False))
row("fit/train-inf-pixel", V, ("train_images", "[0, 1]"),
    lambda c: fit(c.model, with_pixel(c.x, math.inf), epochs=1, progress=False))
row("fit/dynamic-0-255", V, ("train_images", "[0, 1]"),
    lambda c: fit(c.model, c.x * 255, epochs=1, progress=False, objective=ELBO(binarize="dynamic")))
for value in (0, -1, 1.5, True, "3"):
    row(f"fit/epochs={value!r}", V, ("epochs",), lambda c, v=value: fit(c.model, c.x, epochs=v, progress=False))
for value in (0, -8, 2.5):
    row(f"fit/batch_size={value!r}", V, ("batch_size",),
        lambda c, v=value: fit(c.model, c.x, epochs=1, batch_size=v, progress=False))
for value in (0, -1e-3, math.nan, math.inf, "1e-3", True):
    row(f"fit/lr={value!r}", V, ("lr",), lambda c, v=value: fit(c.model, c.x, epochs=1, lr=v, progress=False))
row("fit/lr-schedule-0", V, ("lr(1)",), lambda c: fit(c.model, c.x, epochs=1, lr=lambda epoch: 0.0, progress=False))
for value in (-1, math.nan, "1"):
    row(f"ELBO/beta={value!r}", V, ("beta",), lambda c, v=value: fit(c.model, c.x, epochs=1, objective=ELBO(beta=v),
                                                                      progress=False))
for value in (2**70, -1, 1.5, "0", True):
    row(f"fit/seed={value!r}", V, ("seed",), lambda c, v=value: fit(c.model, c.x, epochs=1, seed=v, progress=False))
row("ELBO/sigma-str", T, ("sigma",), lambda c: ELBO(sigma="1"))
row("ELBO/sigma-0-gaussian", V, ("sigma",), lambda c: ELBO(sigma=0.0, likelihood="gaussian"))
row("ELBO/sigma-nan", V, ("sigma",), lambda c: ELBO(sigma=math.nan))
for value in ("2", -1, math.nan):
    row(f"ELBO/warmup_epochs={value!r}", V, ("warmup_epochs",), lambda c, v=value: ELBO(warmup_epochs=v))
for value in (math.nan, math.inf, -0.5, "0.5"):
    row(f"ELBO/free_bits={value!r}", V, ("free_bits",), lambda c, v=value: ELBO(free_bits=v))
row("ELBO/likelihood", V, ("likelihood",), lambda c: ELBO(likelihood="poisson"))
row("ELBO/binarize-static", V, ("binarize",), lambda c: ELBO(binarize="static"))
row("ELBO/precision", V, ("precision",), lambda c: ELBO(precision="fp16"))
row("ELBO/prior-str", T, ("prior",), lambda c: ELBO(prior="mixture"))
row("ELBO/free-bits-learned-prior", V, ("free_bits", "prior"),
    lambda c: ELBO(free_bits=0.5, prior=MixtureOfGaussiansPrior(2)))
for value in (0, 2.5, True):
    row(f"IWAE/k={value!r}", V, ("k",), lambda c, v=value: IWAE(v))
row("IWAE/analytic_kl-str", T, ("analytic_kl",), lambda c: IWAE(5, analytic_kl="yes"))
row("IWAE/likelihood", V, ("likelihood",), lambda c: IWAE(5, likelihood="poisson"))
row("fit/device-tpu", V, ("device",), lambda c: fit(c.model, c.x, epochs=1, device="tpu", progress=False))
row("fit/device-cuda-missing", V, ("cuda",), lambda c: fit(c.model, c.x, epochs=1, device="cuda", progress=False),
    cond=not torch.cuda.is_available())
row("fit/objective-str", T, ("objective",), lambda c: fit(c.model, c.x, epochs=1, objective="elbo", progress=False))
row("fit/objective-returns-tensor", T, ("objective", "ELBOTerms"),
    lambda c: fit(c.model, c.x, epochs=1, progress=False, objective=lambda m, x, y: model_elbo(m, x).total))
row("fit/callbacks-int", T, ("callbacks",), lambda c: fit(c.model, c.x, epochs=1, callbacks=3, progress=False))
row("fit/callbacks-list-of-int", T, ("callback",), lambda c: fit(c.model, c.x, epochs=1, callbacks=[3],
                                                                 progress=False))
row("fit/labels-length", V, ("labels",),
    lambda c: fit(c.model, c.x, epochs=1, labels=(torch.zeros(3, dtype=torch.long), None), progress=False))
row("fit/labels-not-a-pair", T, ("labels", "pair"),
    lambda c: fit(c.model, c.x, epochs=1, labels=torch.zeros(len(c.x), dtype=torch.long), progress=False))
row("fit/objective-lr-0", V, ("lr",),
    lambda c: fit(c.model, c.x, epochs=1, objective=LearnedSigmaGaussian(lr=0.0), progress=False))
row("fit/fault-nan-gradient", TrainingDivergedError, ("gradient", "before applying"),
    lambda c: fit(nan_gradient_model(), c.x, epochs=1, progress=False))
row("fit/fault-nan-weights", TrainingDivergedError, ("weight fc4.bias", "before training", "fresh model"),
    lambda c: fit(nan_weight_model(), c.x, epochs=1, progress=False))


@case("fit/fault-diverges-lr-schedule", TrainingDivergedError, ("learning rates",))
def _(c):
    fit(nan_gradient_model(), c.x, epochs=1, progress=False, lr=lambda epoch: 0.1)


# --- evaluate ------------------------------------------------------------------------------------------------------
row("evaluate/model-str", T, ("model",), lambda c: evaluate("vae", c.x))
row("evaluate/images-0-255", V, ("images", "[0, 1]"), lambda c: evaluate(c.model, c.x * 255))
row("evaluate/images-nan", V, ("images", "NaN"), lambda c: evaluate(c.model, with_pixel(c.x, math.nan)))
row("evaluate/images-empty", V, ("images",), lambda c: evaluate(c.model, c.x[:0]))
row("evaluate/batch_size-0", V, ("batch_size",), lambda c: evaluate(c.model, c.x, batch_size=0))
row("evaluate/seed-negative", V, ("seed",), lambda c: evaluate(c.model, c.x, seed=-3))
row("evaluate/objective-str", T, ("objective",), lambda c: evaluate(c.model, c.x, objective="elbo"))
row("evaluate/labels-length", V, ("labels",), lambda c: evaluate(c.model, c.x, torch.zeros(2, dtype=torch.long)))

# --- losses --------------------------------------------------------------------------------------------------------
row("losses/bernoulli-0-255", V, ("[0, 1]", "Normalize"), lambda c: losses.bernoulli_nll(torch.zeros(4, 784),
                                                                                          c.x[:4] * 255))
row("losses/bernoulli-minus1-1", V, ("[0, 1]",), lambda c: losses.bernoulli_nll(torch.zeros(4, 784), c.x[:4] - 1))
row("losses/bernoulli-nan", V, ("NaN",), lambda c: losses.bernoulli_nll(torch.zeros(4, 784),
                                                                       with_pixel(c.x[:4], math.nan)))
row("losses/cb-0-255", V, ("[0, 1]",), lambda c: losses.continuous_bernoulli_nll(torch.zeros(4, 784), c.x[:4] * 255))
row("losses/bernoulli-shape", V, ("images",), lambda c: losses.bernoulli_nll(torch.zeros(4, 784), c.x[:3]))
row("losses/bernoulli-list", T, ("tensors",), lambda c: losses.bernoulli_nll([0.0] * 784, c.x[:1]))
row("losses/bernoulli-uint8", T, ("dtype",), lambda c: losses.bernoulli_nll(torch.zeros(4, 784),
                                                                           (c.x[:4] * 255).to(torch.uint8)))
row("losses/gaussian-sigma-0", V, ("sigma",), lambda c: losses.gaussian_nll(torch.zeros(4, 784), c.x[:4], 0.0))
row("losses/gaussian-sigma-str", T, ("sigma",), lambda c: losses.gaussian_nll(torch.zeros(4, 784), c.x[:4], "1"))
row("losses/gaussian-sigma-nan", V, ("sigma",), lambda c: losses.gaussian_nll(torch.zeros(4, 784), c.x[:4],
                                                                             math.nan))
row("losses/kl-shapes", V, ("mu", "logvar"), lambda c: losses.gaussian_kl(torch.zeros(4, 2), torch.zeros(4, 3)))
row("losses/kl-list", T, ("mu", "logvar"), lambda c: losses.gaussian_kl([0.0, 0.0], [0.0, 0.0]))
row("losses/kl-scalar", V, ("mu", "logvar"), lambda c: losses.gaussian_kl(torch.tensor(0.0), torch.tensor(0.0)))
row("losses/likelihood", V, ("likelihood",),
    lambda c: losses.reconstruction_nll(torch.zeros(4, 784), c.x[:4], likelihood="poisson"))
row("losses/elbo-batch", V, ("batch",), lambda c: losses.elbo(torch.zeros(4, 784), c.x[:4], torch.zeros(3, 2),
                                                              torch.zeros(3, 2)))

# --- iwae ----------------------------------------------------------------------------------------------------------
for value in (0, -2, 1.5, True):
    row(f"iwae/k={value!r}", V, ("k=",), lambda c, v=value: iwae.iwae_bound(c.model, c.x[:4], k=v))
for value in (0, -2, 2.5):
    row(f"iwae/chunk={value!r}", V, ("chunk",), lambda c, v=value: iwae.iwae_bound(c.model, c.x[:4], k=4, chunk=v))
row("iwae/generic-chunk-0", V, ("chunk",), lambda c: iwae.importance_weighted_bound(
    lambda x, z: torch.zeros(z.shape[:2]), iwae.vae_proposal(c.model), c.x[:2], k=4, chunk=0))
row("iwae/x-0-255", V, ("x", "[0, 1]"), lambda c: iwae.iwae_bound(c.model, c.x[:4] * 255, k=2))
row("iwae/x-nan", V, ("x", "NaN"), lambda c: iwae.iwae_bound(c.model, torch.full((2, 784), math.nan), k=2))
row("iwae/x-empty", V, ("x",), lambda c: iwae.iwae_bound(c.model, c.x[:0], k=2))
row("iwae/x-uint8", V, ("x",), lambda c: iwae.iwae_bound(c.model, (c.x[:2] * 255).to(torch.uint8), k=2))
row("iwae/batch_size-0", V, ("batch_size",), lambda c: iwae.iwae_bound(c.model, c.x[:2], k=2, batch_size=0))
row("iwae/labels-list", V, ("labels",), lambda c: iwae.iwae_bound(c.model, c.x[:2], k=2, labels=[1, 2]))
row("iwae/model-str", T, ("model",), lambda c: iwae.iwae_bound("vae", c.x[:2], k=2))
row("iwae/log_joint-shape", V, ("log_joint",), lambda c: iwae.importance_weighted_bound(
    lambda x, z: torch.zeros(3), iwae.vae_proposal(c.model), c.x[:2], k=4))
row("iwae/log_mean_exp-scalar", V, ("log_w",), lambda c: iwae.log_mean_exp(torch.tensor(1.0)))
row("iwae/from_log_weights-1d", V, ("log_w",), lambda c: iwae.iwae_from_log_weights(torch.zeros(5)))
row("iwae/groups-do-not-divide", V, ("k=3",), lambda c: iwae.bounds_from_log_weights(torch.zeros(10, 2), (3,)))
row("iwae/curve-no-ks", V, ("ks",), lambda c: iwae.iwae_curve(c.model, c.x[:2], ks=()))
row("iwae/curve-k-0", V, ("k=0",), lambda c: iwae.iwae_curve(c.model, c.x[:2], ks=(0, 1)))
row("iwae/curve-0-255", V, ("images", "[0, 1]"), lambda c: iwae.iwae_curve(c.model, c.x[:2] * 255, ks=(1,)))
row("iwae/curve-seed", V, ("seed",), lambda c: iwae.iwae_curve(c.model, c.x[:2], ks=(1,), seed=2**64))
row("iwae/estimate-k", V, ("k=",), lambda c: iwae.estimate_log_likelihood(c.model, c.x[:2], k=-1))
row("iwae/estimate-nan", V, ("NaN",), lambda c: iwae.estimate_log_likelihood(c.model, with_pixel(c.x[:2], math.nan),
                                                                           k=2))

# --- data: arguments and damaged folders ---------------------------------------------------------------------------
row("data/split", V, ("split",), lambda c: load_mnist("valid", root=c.fake(), download=False))
row("data/binarize", V, ("binarize",), lambda c: load_mnist("test", root=c.fake(), binarize="yes", download=False))
for value in (0, -1, 2.5, True):
    row(f"data/limit={value!r}", V, ("limit",), lambda c, v=value: load_mnist("test", root=c.fake(), limit=v,
                                                                              download=False))
row("data/seed", V, ("seed",), lambda c: load_mnist("test", root=c.fake(), binarize="static", seed=2**70,
                                                    download=False))
row("data/dataset-name", V, ("cifar",), lambda c: load_dataset("cifar"))
row("data/no-folder-offline", DataNotFoundError, ("MNIST/raw", "t10k-images-idx3-ubyte"),
    lambda c: load_mnist("test", root=c.tmp / "nothing", download=False))
row("data/no-folder-download-fails", DataNotFoundError, ("MNIST/raw", "download failed"),
    lambda c: load_mnist("test", root=c.tmp / "nothing"))


@case("data/labels-missing-offline", DataNotFoundError, ("t10k-labels-idx1-ubyte", "missing"))
def _(c):
    (c.fake() / "t10k-labels-idx1-ubyte").unlink()
    load_mnist("test", root=c.root, download=False)


@case("data/labels-missing-download-fails", DataNotFoundError, ("t10k-labels-idx1-ubyte", "download failed"))
def _(c):
    (c.fake() / "t10k-labels-idx1-ubyte").unlink()
    load_mnist("test", root=c.root)


@case("data/train-images-missing", DataNotFoundError, ("train-images-idx3-ubyte",))
def _(c):
    (c.fake() / "train-images-idx3-ubyte").unlink()
    load_mnist("train", root=c.root, download=False)


@case("data/images-gzip", DataNotFoundError, ("t10k-images-idx3-ubyte", "gzip", "gunzip"))
def _(c):
    gz(c.fake() / "t10k-images-idx3-ubyte")
    load_mnist("test", root=c.root, download=False)


@case("data/labels-gzip", DataNotFoundError, ("train-labels-idx1-ubyte", "gunzip"))
def _(c):
    gz(c.fake() / "train-labels-idx1-ubyte")
    load_mnist("train", root=c.root, download=False)


@case("data/images-bad-magic", DataNotFoundError, ("t10k-images-idx3-ubyte",))
def _(c):
    (c.fake() / "t10k-images-idx3-ubyte").write_bytes(idx_images(magic=0x12345678))
    load_mnist("test", root=c.root, download=False)


@case("data/labels-bad-magic", DataNotFoundError, ("t10k-labels-idx1-ubyte",))
def _(c):
    (c.fake() / "t10k-labels-idx1-ubyte").write_bytes(idx_labels(magic=0x0000FFFF))
    load_mnist("test", root=c.root, download=False)


@case("data/images-and-labels-swapped", DataNotFoundError, ("t10k-images-idx3-ubyte", "swapped"))
def _(c):
    raw = c.fake()
    a, b = raw / "t10k-images-idx3-ubyte", raw / "t10k-labels-idx1-ubyte"
    blob = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(blob)
    load_mnist("test", root=c.root, download=False)


@case("data/images-truncated", DataNotFoundError, ("t10k-images-idx3-ubyte", "truncated"))
def _(c):
    path = c.fake() / "t10k-images-idx3-ubyte"
    cut(path, 16 + 5 * 784)
    load_mnist("test", root=c.root, download=False)


@case("data/labels-truncated", DataNotFoundError, ("t10k-labels-idx1-ubyte", "truncated"))
def _(c):
    cut(c.fake() / "t10k-labels-idx1-ubyte", 12)
    load_mnist("test", root=c.root, download=False)


@case("data/images-header-cut", DataNotFoundError, ("train-images-idx3-ubyte",))
def _(c):
    cut(c.fake() / "train-images-idx3-ubyte", 3)
    load_mnist("train", root=c.root, download=False)


@case("data/images-empty-file", DataNotFoundError, ("t10k-images-idx3-ubyte", "empty"))
def _(c):
    (c.fake() / "t10k-images-idx3-ubyte").write_bytes(b"")
    load_mnist("test", root=c.root, download=False)


@case("data/images-extra-bytes", DataNotFoundError, ("t10k-images-idx3-ubyte",))
def _(c):
    path = c.fake() / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes() + b"\0" * 100)
    load_mnist("test", root=c.root, download=False)


@case("data/images-zero-count", DataNotFoundError, ("t10k-images-idx3-ubyte",))
def _(c):
    raw = c.fake()
    (raw / "t10k-images-idx3-ubyte").write_bytes(idx_images(0))
    (raw / "t10k-labels-idx1-ubyte").write_bytes(idx_labels(0))
    load_mnist("test", root=c.root, download=False)


@case("data/count-mismatch", DataNotFoundError, ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
def _(c):
    (c.fake() / "t10k-labels-idx1-ubyte").write_bytes(idx_labels(9))
    load_mnist("test", root=c.root, download=False)


@case("data/images-32x32", DataNotFoundError, ("t10k-images-idx3-ubyte", "28x28"))
def _(c):
    (c.fake() / "t10k-images-idx3-ubyte").write_bytes(idx_images(10, 32, 32))
    load_mnist("test", root=c.root, download=False)


@case("data/labels-out-of-range", DataNotFoundError, ("t10k-labels-idx1-ubyte", "0-9"))
def _(c):
    (c.fake() / "t10k-labels-idx1-ubyte").write_bytes(idx_labels(10, values=[200] * 10))
    load_mnist("test", root=c.root, download=False)


@case("data/random-bytes", DataNotFoundError, ("t10k-images-idx3-ubyte",))
def _(c):
    (c.fake() / "t10k-images-idx3-ubyte").write_bytes(np.random.default_rng(1).bytes(3000))
    load_mnist("test", root=c.root, download=False)


@case("data/file-is-a-folder", DataNotFoundError, ("t10k-images-idx3-ubyte", "folder"))
def _(c):
    path = c.fake() / "t10k-images-idx3-ubyte"
    path.unlink()
    path.mkdir()
    load_mnist("test", root=c.root, download=False)


@case("data/permission-denied", DataNotFoundError, ("t10k-images-idx3-ubyte", "permission denied"))
def _(c):
    raw = c.fake()
    c.deny_reading(raw / "t10k-images-idx3-ubyte")
    load_mnist("test", root=c.root, download=False)


@case("data/root-is-a-file", DataNotFoundError, ("afile",))
def _(c):
    (c.tmp / "afile").write_text("not a folder")
    load_mnist("test", root=c.tmp / "afile", download=False)


row("data/env-folder-missing", DataNotFoundError, ("MNIST/raw",),
    lambda c: (c.mp.setenv("VAE_COURSE_DATA", str(c.tmp / "nowhere")), load_mnist("test", download=False)))
row("data/fashion-missing", DataNotFoundError, ("FashionMNIST",),
    lambda c: load_fashion_mnist("test", root=c.tmp / "nothing", download=False))

# --- checkpoints ---------------------------------------------------------------------------------------------------
row("ckpt/missing-file", CheckpointError, ("nope.pt",), lambda c: load_checkpoint(c.tmp / "nope.pt"))
row("ckpt/path-is-folder", CheckpointError, ("folder",), lambda c: load_checkpoint(c.tmp))
row("ckpt/empty-file", CheckpointError, ("empty.pt",),
    lambda c: ((c.tmp / "empty.pt").write_bytes(b""), load_checkpoint(c.tmp / "empty.pt")))
row("ckpt/random-bytes", CheckpointError, ("junk.pt",),
    lambda c: ((c.tmp / "junk.pt").write_bytes(np.random.default_rng(0).bytes(5000)),
               load_checkpoint(c.tmp / "junk.pt")))
row("ckpt/text-file", CheckpointError, ("notes.pt",),
    lambda c: ((c.tmp / "notes.pt").write_text("hello"), load_checkpoint(c.tmp / "notes.pt")))


@case("ckpt/truncated", CheckpointError, ("cut.pt",))
def _(c):
    blob = c.checkpoint().read_bytes()
    (c.tmp / "cut.pt").write_bytes(blob[: len(blob) // 2])
    load_checkpoint(c.tmp / "cut.pt")


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@case("ckpt/malicious-pickle", CheckpointError, ("evil.pt",))
def _(c):
    path = c.tmp / "evil.pt"
    torch.save({"format_version": 1, "payload": _Evil()}, path)
    try:
        load_checkpoint(path)
    finally:
        assert not (Path.cwd() / "pwned").exists() and not (c.tmp / "pwned").exists()


row("ckpt/not-a-dict", CheckpointError, ("list.pt",), lambda c: load_checkpoint(c.write_payload([1, 2], "list.pt")))
row("ckpt/format-version", CheckpointError, ("bad.pt", "format"),
    lambda c: load_checkpoint(c.write_payload({**c.payload(), "format_version": 2})))
row("ckpt/unknown-class", CheckpointError, ("GAN",),
    lambda c: load_checkpoint(c.write_payload({**c.payload(), "model_class": "GAN"})))
row("ckpt/config-not-dict", CheckpointError, ("bad.pt", "config"),
    lambda c: load_checkpoint(c.write_payload({**c.payload(), "config": "784-400-2"})))
row("ckpt/config-bad-size", CheckpointError, ("hidden_dim",),
    lambda c: load_checkpoint(c.write_payload({**c.payload(), "config": {**c.payload()["config"], "hidden_dim": -5}})))
row("ckpt/config-hostile-20000", CheckpointError, ("bad.pt",),
    lambda c: load_checkpoint(c.write_payload({**c.payload(), "config": {**c.payload()["config"], "hidden_dim": 20000,
                                                                            "latent_dim": 20000}})))
row("ckpt/config-hostile-1e7", CheckpointError, ("absurd",),
    lambda c: load_checkpoint(c.write_payload({**c.payload(), "config": {**c.payload()["config"], "hidden_dim": 10**7,
                                                                            "latent_dim": 10**7}})))
row("ckpt/config-hostile-1e19", CheckpointError, ("absurd",),
    lambda c: load_checkpoint(c.write_payload({**c.payload(), "config": {**c.payload()["config"],
                                                                            "hidden_dim": 10**19}})))
row("ckpt/state-dict-missing-key", CheckpointError, ("fc4.bias",),
    lambda c: load_checkpoint(c.write_payload({**c.payload(), "state_dict": {
        k: v for k, v in c.payload()["state_dict"].items() if k != "fc4.bias"}})))
row("ckpt/state-dict-wrong-shape", CheckpointError, ("fc1.weight",),
    lambda c: load_checkpoint(c.write_payload({**c.payload(), "state_dict": {
        **c.payload()["state_dict"], "fc1.weight": torch.zeros(3, 3)}})))
row("ckpt/state-dict-not-tensors", CheckpointError, ("state_dict",),
    lambda c: load_checkpoint(c.write_payload({**c.payload(), "state_dict": {"fc1.weight": "x"}})))
row("ckpt/conv-weights-named-vae", CheckpointError, ("ConvVAE", "VAE"),
    lambda c: load_checkpoint(c.write_payload({**c.payload(ConvVAE()), "model_class": "VAE",
                                               "config": {"latent_dim": 2}})))
row("ckpt/conv-file-expected-vae", CheckpointError, ("ConvVAE", "VAE"),
    lambda c: load_checkpoint(c.checkpoint(ConvVAE()), expected_config=VAE()))
row("ckpt/expected-latent", CheckpointError, ("latent_dim",),
    lambda c: load_checkpoint(c.checkpoint(), expected_config={"latent_dim": 20}))
row("ckpt/expected-config-int", T, ("expected_config",), lambda c: load_checkpoint(c.checkpoint(), expected_config=5))
row("ckpt/map-location", V, ("map_location",), lambda c: load_checkpoint(c.checkpoint(), map_location="tpu"))


@case("ckpt/permission-denied", CheckpointError, ("m.pt", "permission denied"))
def _(c):
    path = c.checkpoint()
    c.deny_reading(path)
    load_checkpoint(path)


row("ckpt/save-extra-object", T, ("extra", "thing"),
    lambda c: save_checkpoint(VAE(), c.tmp / "x.pt", extra={"thing": object()}))
row("ckpt/save-extra-array", T, ("extra", "arr"),
    lambda c: save_checkpoint(VAE(), c.tmp / "x.pt", extra={"arr": np.zeros(3)}))
row("ckpt/save-extra-path", T, ("extra", "where"),
    lambda c: save_checkpoint(VAE(), c.tmp / "x.pt", extra={"where": Path("/tmp")}))
row("ckpt/save-extra-not-dict", T, ("extra",), lambda c: save_checkpoint(VAE(), c.tmp / "x.pt", extra=[1, 2]))
row("ckpt/save-history-dict", T, ("history",), lambda c: save_checkpoint(VAE(), c.tmp / "x.pt", history={}))
row("ckpt/save-model-str", T, ("model",), lambda c: save_checkpoint("vae", c.tmp / "x.pt"))
row("ckpt/save-to-folder", CheckpointError, ("folder",), lambda c: save_checkpoint(VAE(), c.tmp))
row("ckpt/save-under-a-file", CheckpointError, ("afile",),
    lambda c: ((c.tmp / "afile").write_text("x"), save_checkpoint(VAE(), c.tmp / "afile" / "m.pt")))
row("ckpt/read-missing", CheckpointError, ("gone.pt",), lambda c: read_checkpoint(c.tmp / "gone.pt"))

# --- widgets -------------------------------------------------------------------------------------------------------
for value in (0, -1, 2.5, "7", True, 10**6):
    row(f"widgets/digit_png-scale={value!r}", V, ("scale",),
        lambda c, v=value: views.digit_png(torch.rand(28, 28), v))
row("widgets/digit_png-batch", V, ("ONE image",), lambda c: views.digit_png(torch.rand(4, 1, 28, 28)))
row("widgets/digit_png-list", V, ("ONE image",), lambda c: views.digit_png([0.5] * 784))
row("widgets/explorer-model-str", T, ("course VAE",), lambda c: views.latent_explorer("vae"))
row("widgets/explorer-limit-0", V, ("limit",), lambda c: views.latent_explorer(c.model, limit=0))
row("widgets/explorer-limit-nan", V, ("limit",), lambda c: views.latent_explorer(c.model, limit=math.nan))
row("widgets/explorer-step-0", V, ("step",), lambda c: views.latent_explorer(c.model, step=0))
row("widgets/explorer-step-too-big", V, ("step",), lambda c: views.latent_explorer(c.model, step=10.0))
row("widgets/explorer-scale", V, ("scale",), lambda c: views.latent_explorer(c.model, scale=0))
row("widgets/explorer-labels-length", V, ("labels",),
    lambda c: views.latent_explorer(c.model, c.x, torch.zeros(3, dtype=torch.long)))
row("widgets/explorer-names", V, ("names",), lambda c: views.latent_explorer(c.model, names=["a"]))
row("widgets/explorer-plane-type", T, ("plane",), lambda c: views.latent_explorer(c.model, plane="pca"))
row("widgets/set_coords-count", V, ("coordinates",), lambda c: views.latent_explorer(c.model).set_coords([1.0]))
row("widgets/set_coords-nan", V, ("finite",), lambda c: views.latent_explorer(c.model).set_coords([math.nan, 0]))
row("widgets/set_z-size", V, ("z",), lambda c: views.latent_explorer(c.model).set_z(torch.zeros(5)))
row("widgets/interpolation-no-images", V, ("images",), lambda c: views.interpolation_explorer(c.model, None))
row("widgets/interpolation-start", V, ("start",), lambda c: views.interpolation_explorer(c.model, c.x, start=-1))
row("widgets/interpolation-end", V, ("end",), lambda c: views.interpolation_explorer(c.model, c.x, end=10**6))
row("widgets/digit_encoder-images", V, ("images",),
    lambda c: views.digit_encoder(c.model, torch.rand(4, 10)))

# --- the CLI (exit status 2: argparse; 1: a clear error; 130: Ctrl-C) ----------------------------------------------
for argv, names in [
    (("--epochs", "0"), ("--epochs",)),
    (("--epochs", "ten"), ("--epochs",)),
    (("--latent-dim", "0"), ("--latent-dim",)),
    (("--latent-dim", "1000000"), ("--latent-dim",)),
    (("--hidden-dim", "-1"), ("--hidden-dim",)),
    (("--hidden-dim", "10000000000"), ("--hidden-dim",)),
    (("--batch-size", "1.5"), ("--batch-size",)),
    (("--lr", "0"), ("--lr",)),
    (("--lr", "nan"), ("--lr",)),
    (("--lr", "abc"), ("--lr",)),
    (("--seed", "-1"), ("--seed",)),
    (("--seed", str(2**70)), ("--seed",)),
    (("--seed", "1e3"), ("--seed",)),
    (("--device", "tpu"), ("--device",)),
    (("--precision", "fp16"), ("--precision",)),
    (("--frobnicate",), ("--frobnicate",)),
]:
    row(f"cli/{' '.join(argv)}", 2, names, lambda c, a=argv: c.cli("train", *a))
row("cli/no-command", 2, ("command",), lambda c: c.cli())
row("cli/device-cuda-missing", 2, ("--device", "cuda"), lambda c: c.cli("train", "--device", "cuda"),
    cond=not torch.cuda.is_available())
row("cli/data-dir-missing", 1, ("--data-dir", "MNIST/raw"),
    lambda c: c.train_cli("--data-dir", str(c.tmp / "DIR"), "--out", str(c.tmp / "out")))


@case("cli/data-dir-gzip-file", 1, ("t10k-images-idx3-ubyte", "gunzip"))
def _(c):
    gz(c.fake() / "t10k-images-idx3-ubyte")
    return c.train_cli("--data-dir", str(c.root), "--out", str(c.tmp / "out"))


@case("cli/out-is-a-file", 1, ("--out",))
def _(c):
    (c.tmp / "afile").write_text("x")
    return c.train_cli("--data-dir", str(c.tmp / "no-data"), "--out", str(c.tmp / "afile"))


@case("cli/out-under-a-file", 1, ("--out",))
def _(c):
    (c.tmp / "afile").write_text("x")
    return c.train_cli("--data-dir", str(c.tmp / "no-data"), "--out", str(c.tmp / "afile" / "run"))


@case("cli/out-read-only", 1, ("--out", "Permission denied"))
def _(c):
    deny_writing_in(c, c.tmp / "ro")
    # no data there: if the CLI loaded data (or trained) before checking --out, the error would be about the data
    return c.train_cli("--data-dir", str(c.tmp / "no-data"), "--out", str(c.tmp / "ro"))


@case("cli/fault-ctrl-c-mid-run", 130, ("interrupted", "vae.pt"))
def _(c):
    c.fake(n=64)
    interrupt_fit_after_first_epoch(c)
    status, err = c.train_cli("--epochs", "3", "--data-dir", str(c.root), "--out", str(c.tmp / "out"))
    assert (c.tmp / "out" / "vae.pt").is_file()
    return status, err


# ----------------------------------------------------------------------------------------------------------- tests
def raised_in_vae_course(exc: BaseException) -> bool:
    """True if the innermost frame of ``exc``'s traceback is in the vae_course package (the error is its own)."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(PACKAGE)


def check_message(message: str, names: tuple[str, ...], *, final_stop: bool = True) -> None:
    problem = one_sentence_problem(message, final_stop=final_stop)
    assert problem is None, f"not one sentence ({problem}): {message!r}"
    for leak in LEAKS:
        assert leak not in message, f"torch/Python internals ({leak!r}) in: {message!r}"
    for name in names:
        assert name.lower() in message.lower(), f"the message does not name {name!r}: {message!r}"


def cli_error_line(stderr: str) -> tuple[str, bool]:
    """The last line of the CLI's stderr without its ``prog: error:`` prefix, and whether it came from argparse."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert lines, "the CLI said nothing on stderr"
    last = lines[-1]
    argparse_line = ": error: " in last
    return (last.split("error: ", 1)[1] if "error: " in last else last), argparse_line


@pytest.mark.parametrize("case_id, action, expected, names", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_clear_sentence(case_id, action, expected, names, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    ctx = Ctx(tmp_path, monkeypatch)
    if isinstance(expected, int):  # the CLI: an exit status and one line on stderr
        result = action(ctx)
        status, stderr = result
        assert "Traceback" not in stderr, stderr
        assert status == expected, f"exit status {status}, expected {expected}; stderr:\n{stderr}"
        line, from_argparse = cli_error_line(stderr)
        check_message(line, names, final_stop=not from_argparse)
        return
    with pytest.raises(Exception) as info:
        action(ctx)
    exc = info.value
    assert isinstance(exc, expected), f"{type(exc).__name__} ({exc}), expected {expected.__name__}"
    assert raised_in_vae_course(exc), f"{type(exc).__name__} came from outside vae_course: {exc}"
    check_message(str(exc), names)


def test_the_table_is_large():
    assert len(CASES) >= 100, len(CASES)
    assert len({c[0] for c in CASES}) == len(CASES), "case ids must be unique"


def test_a_failed_load_leaves_no_empty_folders(tmp_path, monkeypatch):
    Ctx(tmp_path, monkeypatch)  # offline
    with pytest.raises(DataNotFoundError):
        load_mnist("test", root=tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()
