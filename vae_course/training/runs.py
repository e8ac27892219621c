"""Trained runs cached with their per-image test scores, so that a comparison over training seeds is paid for once.

Used by notebooks 09 (the beta sweep, the collapse runs and their remedies, over seeds), 10 (the ConvVAE against
the MLPs, over seeds; the CVAE) and 12 (the VQ-VAE's codebook runs and the Gaussian VAE beside them), through
:mod:`vae_course.training.sweeps` and directly, and by ``benchmarks/beta_sweep.py``.

A claim that one trained model beats another needs the spread over training seeds (at least 3) next to the
test-image standard error, and a *paired* difference when both models are scored on the same test images
(:func:`vae_course.evaluation.paired_difference`). Both need every run's per-image scores, and a seed spread
multiplies the cost of training, so each run is trained once: :func:`load_or_train_run` stores the model, its
history and its scores as ``<checkpoint_dir>/<name>.pt``, together with the *key* that decides them (model class and
config, objective, epochs, optimizer settings, seed, fingerprints of the training and test images). A later call
with the same key loads them instead of training; any other key (another seed, other data, other epochs) trains
anew and replaces the file. :func:`run_key` builds the usual key.

:func:`per_image_elbo` gives the per-image scores: the negative ELBO, reconstruction and KL term of each image with
seeded noise, the figures whose means :func:`vae_course.evaluation.evaluate` returns for the same seed.

    >>> run = load_or_train_run("nb10_conv_s0", key, train=lambda: ..., score=lambda m: ...)   # doctest: +SKIP
    >>> run.scores["loss"].shape, run.trained                                                 # doctest: +SKIP
"""
from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable

import torch

from ..config import check_seed, isolated_rng
from ..objectives.checks import _check_scoring_inputs
from ..objectives.losses import images_checked, model_elbo
from .checkpoints import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from .pretrained import data_fingerprint

RUN_FORMAT = 1  # bump when what a run stores changes: every older file is then trained again
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+-]*$")


@torch.no_grad()
def per_image_elbo(model, images: torch.Tensor, labels: torch.Tensor | None = None, *, seed: int = 0,
                   batch_size: int = 1000) -> dict[str, torch.Tensor]:
    """Per-image ``loss`` (the negative ELBO, recon + KL), ``recon`` and ``kl`` in nats, each ``(N,)`` float64.

    One reparameterized draw per image from a generator seeded with ``seed`` (the global one is restored), batches
    of ``batch_size`` in order: the same draws as :func:`vae_course.evaluation.evaluate` with the same seed and batch
    size, so the means are its figures. Scores of two models on the same images can be paired image by image.
    """
    check_seed(seed)
    _check_scoring_inputs(model, images, labels)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    recon, kl = [], []
    try:
        with isolated_rng(seed, device), images_checked():
            for i in range(0, images.shape[0], batch_size):
                xb = images[i:i + batch_size].reshape(-1, 784).to(device)  # (b, 784)
                yb = None if labels is None else labels[i:i + batch_size].to(device)
                terms = model_elbo(model, xb, yb)
                recon.append(terms.recon.double().cpu())  # (b,)
                kl.append(terms.kl.double().cpu())  # (b,)
    finally:
        model.train(was_training)
    recon, kl = torch.cat(recon), torch.cat(kl)  # (N,) each
    return {"loss": recon + kl, "recon": recon, "kl": kl}


def objective_settings(objective=None) -> dict:
    """What decides an ELBO-style training ``objective``, as plain data for a cache key: ``beta``,
    ``warmup_epochs``, ``free_bits``, ``likelihood`` and ``sigma`` (``None`` is the plain negative ELBO).

    An objective with a learned ``prior`` is refused: its parameters train too, and are not part of the model.
    """
    if objective is not None and getattr(objective, "prior", None) is not None:
        raise ValueError("a cached run here uses the standard normal prior: pass an ELBO without prior= (notebook "
                         "11's learned priors are cached by load_or_train_with_prior).")
    if objective is not None and not hasattr(objective, "beta"):
        raise TypeError(f"objective must be an ELBO (it has beta, warmup_epochs, free_bits, ...) to be cached, "
                        f"got {type(objective).__name__}: train your own objective with fit instead.")
    sigma = getattr(objective, "sigma", 1.0)
    settings = {"beta": float(getattr(objective, "beta", 1.0)),
                "warmup_epochs": float(getattr(objective, "warmup_epochs", 0.0)),
                "free_bits": float(getattr(objective, "free_bits", 0.0)),
                "likelihood": str(getattr(objective, "likelihood", "bernoulli")),
                "sigma": float(sigma) if isinstance(sigma, (int, float)) else repr(sigma)}
    for name in ("binarize", "precision"):  # recorded only when set, so that a plain ELBO keeps its key
        value = getattr(objective, name, None)
        if value is not None and not (name == "precision" and value == "auto"):
            settings[name] = str(value)
    return settings


def run_key(model: torch.nn.Module, train_images: torch.Tensor, test_images: torch.Tensor | None = None, *,
            objective=None, epochs: int, lr: float = 1e-3, batch_size: int = 128, seed: int = 0, **more) -> dict:
    """What decides a trained run, as plain data: the untrained ``model``'s class and config, the objective's
    settings (:func:`objective_settings`), the training settings and the identity (count and fingerprint) of the
    training and test images; ``more`` adds settings of your own (e.g. ``binarize="dynamic"``), which must be
    numbers, strings, booleans, None, lists or dicts."""
    described = model.describe() if hasattr(model, "describe") else {"model_class": type(model).__name__}
    key = {"model_class": described.get("model_class"), "config": described.get("config"),
           "objective": objective_settings(objective), "epochs": epochs, "lr": lr, "batch_size": batch_size,
           "seed": seed, "n_train": int(train_images.shape[0]), "train_fingerprint": data_fingerprint(train_images)}
    if test_images is not None:
        key.update(n_test=int(test_images.shape[0]), test_fingerprint=data_fingerprint(test_images))
    key.update(more)
    return key


def _plain_key(key: dict) -> dict:
    if not isinstance(key, dict):
        raise TypeError(f"key must be a dict of plain settings (see run_key), got {type(key).__name__}.")
    try:
        return json.loads(json.dumps({"format": RUN_FORMAT, **key}, sort_keys=True))
    except (TypeError, ValueError):
        raise TypeError("key must hold only numbers, strings, booleans, None, lists and dicts (see run_key), so "
                        "that it can be stored with the checkpoint and compared later.") from None


@dataclass
class CachedRun:
    """What :func:`load_or_train_run` returns: the model (eval mode, CPU), its history, its scores and how it came."""

    name: str
    model: torch.nn.Module
    history: Any  # the History (or VQHistory) of training, rebuilt from the checkpoint when loaded
    scores: dict  # what ``score(model)`` returned: per-image tensors and summary numbers
    key: dict
    path: Path
    trained: bool  # True: trained by this call; False: loaded from ``path``
    train_seconds: float  # how long training took when it was trained

    def __repr__(self) -> str:
        how = "trained now and saved as" if self.trained else "loaded from"
        return f"CachedRun({self.name}: {how} {self.path.name}; trained in {self.train_seconds:.0f} s)"


def _rebuild_history(history_type, stored):
    if history_type is None or not isinstance(stored, dict):
        return stored
    names = {f.name for f in fields(history_type)}
    return history_type(**{k: v for k, v in stored.items() if k in names})


def load_or_train_run(name: str, key: dict, train: Callable[[], tuple], score: Callable[[torch.nn.Module], dict], *,
                      history_type: type | None = None, folder: str | os.PathLike | None = None,
                      retrain: bool = False) -> CachedRun:
    """Load the run ``name`` from ``<folder>/<name>.pt`` when it was stored with the same ``key``; otherwise call
    ``train()`` (which returns ``(model, history)``), score the model with ``score(model)`` (a dict of tensors and
    numbers, e.g. :func:`per_image_elbo`'s) and save all three with the key.

    ``folder`` defaults to :func:`vae_course.config.checkpoint_dir` (quick mode has its own). ``history_type``
    (e.g. ``History``) rebuilds the stored history as that dataclass when the run is loaded.
    """
    from ..config import checkpoint_dir

    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"name={name!r} must be a file stem of letters, digits and _ . = + - (e.g. 'nb10_conv_s0').")
    if not callable(train) or not callable(score):
        raise TypeError("train and score must be callables: train() -> (model, history), score(model) -> dict.")
    key = _plain_key(key)
    path = Path(folder if folder is not None else checkpoint_dir()) / f"{name}.pt"
    if not retrain and path.is_file():
        try:
            extra = read_checkpoint(path).get("extra") or {}
            if extra.get("key") == key and isinstance(extra.get("scores"), dict):
                model, stored = load_checkpoint(path, with_history=True)
                return CachedRun(name, model.eval(), _rebuild_history(history_type, stored), extra["scores"], key,
                                 path, False, float(extra.get("train_seconds", math.nan)))
        except CheckpointError:
            pass  # unreadable or from another version of the course: train anew below
    start = time.perf_counter()
    model, history = train()
    seconds = time.perf_counter() - start
    if getattr(history, "interrupted", False):
        raise RuntimeError(f"training of {name} was interrupted; nothing was saved.")
    model = model.cpu().eval()
    scores = score(model)
    if not isinstance(scores, dict):
        raise TypeError(f"score(model) must return a dict of tensors and numbers, got {type(scores).__name__}.")
    save_checkpoint(model, path, history, extra={"key": key, "scores": scores, "train_seconds": seconds})
    return CachedRun(name, model, history, scores, key, path, True, seconds)


def load_or_fit(name: str, make_model: Callable[[], torch.nn.Module], train_images: torch.Tensor,
                test_images: torch.Tensor, *, epochs: int, objective=None, lr: float = 1e-3, batch_size: int = 128,
                seed: int = 0, labels: tuple | None = None, folder: str | os.PathLike | None = None,
                progress: bool = False, retrain: bool = False) -> CachedRun:
    """Train ``make_model()`` with :func:`~vae_course.training.fit` and score it on ``test_images``
    (:func:`per_image_elbo`, evaluation seed 0), or load all of it from ``<folder>/<name>.pt`` when the key matches.

    The model is built after ``seed_everything(seed)`` and trained with ``seed=seed``, so each seed gives other
    initial weights, batches and noise. ``labels`` is ``(train_labels, test_labels)`` for a conditional model; the
    scores then condition on the test labels. The returned run's ``scores`` hold ``loss``, ``recon`` and ``kl``, each
    ``(N,)`` over the test images, in the order of ``test_images``: pair them with another model's scores.
    """
    from ..config import seed_everything
    from .fit_loop import History

    if labels is not None and (not isinstance(labels, tuple) or len(labels) != 2):
        raise ValueError("labels must be (train_labels, test_labels) for a conditional model, or None.")
    test_labels = None if labels is None else labels[1]

    def build():
        seed_everything(seed)
        return make_model()

    key = run_key(build(), train_images, test_images, objective=objective, epochs=epochs, lr=lr,
                  batch_size=batch_size, seed=seed, conditional=labels is not None)

    def train():
        model = build()
        history = call_fit(model, train_images, test_images, objective=objective, epochs=epochs,
                           batch_size=batch_size, lr=lr, seed=seed, labels=labels, progress=progress)
        return model, history

    return load_or_train_run(name, key, train, lambda model: per_image_elbo(model, test_images, test_labels, seed=0),
                             history_type=History, folder=folder, retrain=retrain)


def call_fit(model, train_images, test_images, *, objective=None, binarize=None, **settings):
    """``fit(model, train_images, test_images, objective=objective, **settings)``, with ``binarize="dynamic"`` put into
    the ELBO objective (a fresh binary draw of every training batch), as the sweeps and collapse runs ask for it."""
    from ..objectives import ELBO
    from .fit_loop import fit

    if binarize is not None and getattr(objective, "binarize", None) != binarize:
        o = objective_settings(objective)
        objective = ELBO(likelihood=o["likelihood"], sigma=getattr(objective, "sigma", 1.0), beta=o["beta"],
                         warmup_epochs=o["warmup_epochs"], free_bits=o["free_bits"], binarize=binarize)
    return fit(model, train_images, test_images, objective=objective, **settings)
