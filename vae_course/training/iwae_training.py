"""Notebook 08's cached results: VAEs trained with the importance-weighted bound (k = 1, 5, 50) over several seeds,
and the gap splits.

Used by notebook 08 (section 8, "Training with the bound"; section 7, the amortization gap).

Training with ``k = 50`` costs about 50 decoder passes per image per step (about 50 s per epoch of 60,000 images on 2
CPU cores), and scoring each model's test NLL costs more. Both are done **once**: :func:`load_or_train_iwae` trains
the model of an :class:`IWAERecipe` with ``fit(model, ..., objective=IWAE(k))`` (:func:`train_iwae`), scores it
(:func:`evaluate_model`, per-image scores included, so that two models can be compared image by image) and saves
model, history, scores and their cost as ``<checkpoint_dir>/iwae_<hidden>_z<latent>_k<k>_<epochs>ep_s<seed>.pt``; a
later call with the same recipe and the same training images loads it. :func:`cached_gap_split` does the same for
:func:`vae_course.evaluation.gap_split` (a few hundred images of per-image optimisation), keyed by the settings
and by a fingerprint of the model's weights, so another model or other settings are recomputed, never reused.

    >>> run = load_or_train_iwae(iwae_recipe(50, seed=1))  # doctest: +SKIP
    >>> run.scores["nll_k"], run.info["train_seconds"]     # doctest: +SKIP

References:
    Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016 (arXiv:1509.00519).
    Cremer, Li & Duvenaud, "Inference Suboptimality in Variational Autoencoders", ICML 2018 (arXiv:1801.03558).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..evaluation.amortization import GapSplit, gap_split
from ..evaluation.collapse import active_units
from ..evaluation.iwae import iwae_curve
from ..evaluation.scores import evaluate
from ..models import VAE
from ..objectives import IWAE
from .checkpoints import load_checkpoint, read_checkpoint, save_checkpoint
from .fit_loop import fit
from .runs import per_image_elbo


@dataclass(frozen=True)
class IWAERecipe:
    """A 784-hidden-latent VAE trained on dynamically binarized MNIST with the bound ``L_k`` (k = 1: the ELBO).

    ``seed`` makes another training run of the same recipe (initialization, batches, binarizations, noise): notebook
    08 trains three seeds of each ``k`` to measure the spread over training runs. After training the model is scored
    on the fixed binary test set: ``-L_{k_test}`` on the first ``n_test_k`` images, the negative ELBO and the active
    units on the first ``n_test_all`` (None: all 10,000), with the per-image scores kept for paired differences.
    """

    k: int
    hidden_dim: int = 400
    latent_dim: int = 20
    epochs: int = 2
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    train_limit: int | None = None  # None: every training image on disk (all 60,000)
    n_test_k: int | None = 2000  # the first test images scored with -L_{k_test} (None: all 10,000)
    k_test: int = 100
    n_test_all: int | None = None  # test images for the negative ELBO and the active units (None: all 10,000)

    def __post_init__(self):
        for name in ("k", "hidden_dim", "latent_dim", "epochs", "batch_size", "n_test_k", "n_test_all", "k_test"):
            value = getattr(self, name)
            if value is None and name in ("n_test_k", "n_test_all"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}={value!r} must be a positive whole number"
                                 f"{' or None (every test image)' if name.startswith('n_test') else ''}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed={self.seed!r} must be a whole number >= 0.")

    def describe(self) -> str:
        return (f"784-{self.hidden_dim}-{self.latent_dim}, trained with L_{self.k} for {self.epochs} "
                f"epoch{'s' if self.epochs != 1 else ''} (seed {self.seed})")


def iwae_recipe(k: int, quick: bool | None = None, *, seed: int = 0) -> IWAERecipe:
    """The recipe notebook 08 trains for ``k`` and ``seed``: 2 epochs (938 steps) on all 60,000 training images,
    scored with ``-L_100`` on the first 2,000 test images and the negative ELBO on all 10,000; or 1 epoch on 1,024
    images, scored on a few test images with small ``k`` (quick)."""
    from ..config import is_quick

    if is_quick() if quick is None else quick:
        return IWAERecipe(k, epochs=1, seed=seed, train_limit=1024, n_test_k=50, k_test=10, n_test_all=200)
    return IWAERecipe(k, seed=seed)


def iwae_checkpoint_path(recipe: IWAERecipe) -> Path:
    """``<checkpoint_dir>/iwae_<hidden>_z<latent>_k<k>_<epochs>ep_s<seed>.pt``."""
    from ..config import checkpoint_dir

    return checkpoint_dir() / (f"iwae_{recipe.hidden_dim}_z{recipe.latent_dim}_k{recipe.k}_{recipe.epochs}ep_"
                               f"s{recipe.seed}.pt")


def _mean_se(values: torch.Tensor) -> tuple[float, float]:
    v = values.double()
    return float(v.mean()), float(v.std() / math.sqrt(v.numel()))


def evaluate_model(model, recipe: IWAERecipe, test_bin: torch.Tensor) -> dict:
    """Scores on the binary test images: ``nll_k`` = ``-L_{k_test}`` on the first ``n_test_k`` (``n_k`` of them),
    ``(mean, s.e.)``, and ``nll_per_image``, its ``(n_k,)`` per-image values; on the first ``n_test_all`` (``n_all``):
    ``elbo`` (the analytic-KL negative ELBO, mean), ``elbo_per_image`` ``(n_all,)``, ``recon``, ``kl`` and
    ``active_units`` (Burda et al.'s criterion); ``eval_seconds`` and ``k_seconds`` (the ``-L_{k_test}`` column
    alone). The per-image scores let two models be compared on the same images (paired differences)."""
    start = time.perf_counter()
    n_k = test_bin.shape[0] if recipe.n_test_k is None else min(recipe.n_test_k, test_bin.shape[0])
    n_all = test_bin.shape[0] if recipe.n_test_all is None else min(recipe.n_test_all, test_bin.shape[0])
    nll = -iwae_curve(model, test_bin[:n_k], ks=(recipe.k_test,), seed=0)[recipe.k_test].double()  # (n_k,)
    k_seconds = time.perf_counter() - start
    elbo_images = per_image_elbo(model, test_bin[:n_all], seed=0)["loss"]  # (n_all,) float64
    elbo = evaluate(model, test_bin[:n_all], seed=0)
    return {"nll_k": _mean_se(nll), "n_k": int(n_k), "nll_per_image": nll, "n_all": int(n_all),
            "elbo": elbo["loss"], "elbo_per_image": elbo_images, "recon": elbo["recon"], "kl": elbo["kl"],
            "active_units": active_units(model, test_bin[:n_all]),
            "eval_seconds": time.perf_counter() - start, "k_seconds": k_seconds}


@dataclass
class IWAERun:
    """A trained model (eval mode), its history dict, its scores and how it came (``info``)."""

    model: VAE
    history: dict
    scores: dict
    recipe: IWAERecipe
    info: dict


SCORE_KEYS = ("nll_k", "n_k", "nll_per_image", "n_all", "elbo", "elbo_per_image", "recon", "kl", "active_units",
              "eval_seconds", "k_seconds")


def train_iwae(recipe: IWAERecipe, train_images: torch.Tensor, *, progress: bool = False):
    """Train the recipe's VAE on ``train_images`` (grey levels, binarized afresh every batch) with the bound
    ``L_k``: ``fit(model, train_images, objective=IWAE(k), ...)``. Returns ``(model, history, seconds)``."""
    torch.manual_seed(recipe.seed)
    model = VAE(784, recipe.hidden_dim, recipe.latent_dim)
    start = time.perf_counter()
    hist = fit(model, train_images, objective=IWAE(recipe.k, binarize="dynamic"), epochs=recipe.epochs,
               batch_size=recipe.batch_size, lr=recipe.lr, seed=recipe.seed, device="cpu", progress=progress)
    return model.cpu().eval(), hist, time.perf_counter() - start


def load_or_train_iwae(recipe: IWAERecipe, *, progress: bool = False, verbose: bool = True) -> IWAERun:
    """Load the recipe's checkpoint (same recipe, same number of training images, every score of
    :func:`evaluate_model`), else train (:func:`train_iwae`), score and save it. A checkpoint saved by an older
    version of the course, with fewer scores, is made again."""
    from ..data import load_mnist

    train_x, _ = load_mnist("train", limit=recipe.train_limit)  # grey levels; fit binarizes every batch
    test_bin, _ = load_mnist("test", binarize="static", seed=1)  # the notebook's fixed binary test set
    path = iwae_checkpoint_path(recipe)
    if path.is_file():
        extra = read_checkpoint(path).get("extra") or {}
        if extra.get("recipe") == asdict(recipe) and extra.get("train_images") == int(train_x.shape[0]) \
                and set(SCORE_KEYS) <= set(extra.get("scores") or {}):
            model, history = load_checkpoint(path, with_history=True)
            info = {"loaded": True, "path": path.name, **extra["info"]}
            return IWAERun(model.eval(), history or {}, extra["scores"], recipe, info)
    if verbose:
        print(f"Training VAE {recipe.describe()} on {train_x.shape[0]:,} images (no matching checkpoint yet); it is "
              f"saved as {path.name} and reused next time ...", flush=True)
    model, hist, train_seconds = train_iwae(recipe, train_x, progress=progress)
    if hist.interrupted:
        raise RuntimeError(f"training stopped after {hist.epochs} of {recipe.epochs} epochs; nothing was saved.")
    scores = evaluate_model(model, recipe, test_bin)
    info = {"train_seconds": train_seconds, "threads": torch.get_num_threads(), "precision": hist.precision,
            "steps": recipe.epochs * math.ceil(train_x.shape[0] / recipe.batch_size)}
    save_checkpoint(model, path, hist, extra={"recipe": asdict(recipe), "train_images": int(train_x.shape[0]),
                                              "scores": scores, "info": info})
    return IWAERun(model, hist.as_dict(), scores, recipe, {"loaded": False, "path": path.name, **info})


def weights_fingerprint(model) -> float:
    """A number that changes with any weight: the float64 sum of ``|w| * (1 + position / P)`` over all entries."""
    flat = torch.cat([p.detach().double().reshape(-1) for p in model.parameters()])
    return float((flat.abs() * (1 + torch.arange(flat.numel(), dtype=torch.float64) / flat.numel())).sum())


def cached_gap_split(model, x: torch.Tensor, tag: str, **settings) -> tuple[GapSplit, dict]:
    """:func:`~vae_course.evaluation.gap_split` ``(model, x, **settings)``, stored as ``gaps_<tag>.pt`` in the
    checkpoint folder and reused when the model's weights, the images and the settings are the same.

    Returns the split and ``{"loaded": bool, "seconds": the one-time cost}``.
    """
    from ..config import checkpoint_dir

    key = {"settings": dict(sorted(settings.items())), "weights": weights_fingerprint(model),
           "images": float(x.double().sum()), "n": int(x.shape[0])}
    path = checkpoint_dir() / f"gaps_{tag}.pt"
    if path.is_file():
        try:
            stored = torch.load(path, weights_only=True)
            fields = ("log_px", "elbo_encoder", "elbo_optimised", "k", "seconds")
            if not (isinstance(stored, dict) and all(f in stored for f in fields)):
                raise TypeError
        except Exception:  # noqa: BLE001 - damaged, cut short or not a gap cache: it is only a cache, so compute again
            import warnings

            warnings.warn(f"{path} is not a readable gap cache (damaged or written by something else), so the gaps "
                          f"are computed again and it is replaced.", stacklevel=2)
            stored = {}
        if stored.get("key") == key:
            split = GapSplit(stored["log_px"], stored["elbo_encoder"], stored["elbo_optimised"], stored["k"])
            return split, {"loaded": True, "seconds": stored["seconds"]}
    start = time.perf_counter()
    split = gap_split(model, x, **settings)
    seconds = time.perf_counter() - start
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:  # atomically: an interrupted save never leaves a damaged cache
        torch.save({"key": key, "log_px": split.log_px, "elbo_encoder": split.elbo_encoder,
                    "elbo_optimised": split.elbo_optimised, "k": split.k, "seconds": seconds}, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return split, {"loaded": False, "seconds": seconds}
