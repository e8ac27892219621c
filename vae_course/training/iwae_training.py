"""Notebook 08's cached results: VAEs trained with the importance-weighted bound (k = 1, 5, 50) and the gap splits.

Used by notebook 08 (section 8, "Training with the bound"; section 7, the amortization gap).

Training with ``k = 50`` costs about 50 decoder passes per image per step, several minutes on 2 CPU cores, and scoring
each model's test NLL with ``k = 1000`` costs minutes more. Both are done **once**: :func:`load_or_train_iwae` trains
the model of an :class:`IWAERecipe` with ``fit(..., iwae_k=k)``, scores it (:func:`evaluate_model`) and saves model,
history, scores and their cost as ``<checkpoint_dir>/iwae_<hidden>_z<latent>_k<k>_<epochs>ep.pt``; a later call with
the same recipe and the same training images loads it. :func:`cached_gap_split` does the same for
:func:`vae_course.evaluation.gap_split` (a few hundred images of per-image optimisation), keyed by the settings
and by a fingerprint of the model's weights, so another model or other settings are recomputed, never reused.

    >>> run = load_or_train_iwae(iwae_recipe(50))          # doctest: +SKIP
    >>> run.scores["nll_k"], run.info["train_seconds"]     # doctest: +SKIP
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..evaluation.amortization import GapSplit, gap_split
from .checkpoints import load_checkpoint, read_checkpoint, save_checkpoint
from ..evaluation.collapse import active_units
from ..evaluation.iwae import iwae_curve
from ..evaluation.scores import evaluate
from ..models import VAE
from .fit_loop import fit


@dataclass(frozen=True)
class IWAERecipe:
    """A 784-hidden-latent VAE trained on dynamically binarized MNIST with the bound ``L_k`` (k = 1: the ELBO)."""

    k: int
    hidden_dim: int = 400
    latent_dim: int = 20
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    train_limit: int | None = None  # None: every training image on disk (the 22,699-image prefix here)
    n_test_k: int | None = None  # the first test images scored with k_test (None: all 10,000)
    k_test: int = 1000
    n_test_all: int | None = None  # test images scored with k_all (None: all 10,000)
    k_all: int = 100

    def __post_init__(self):
        for name in ("k", "hidden_dim", "latent_dim", "epochs", "batch_size", "n_test_k", "n_test_all", "k_test",
                     "k_all"):
            value = getattr(self, name)
            if value is None and name in ("n_test_k", "n_test_all"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}={value!r} must be a positive whole number"
                                 f"{' or None (every test image)' if name.startswith('n_test') else ''}.")

    def describe(self) -> str:
        return f"784-{self.hidden_dim}-{self.latent_dim}, trained with L_{self.k} for {self.epochs} epochs"


def iwae_recipe(k: int, quick: bool | None = None) -> IWAERecipe:
    """The recipe notebook 08 trains for ``k``: 10 epochs on every training image, scored with ``k = 1000`` on all
    10,000 test images; or 1 epoch on 1,024 images, scored on a few test images with small ``k`` (quick)."""
    from ..config import is_quick

    if is_quick() if quick is None else quick:
        return IWAERecipe(k, epochs=1, train_limit=1024, n_test_k=50, k_test=100, n_test_all=200, k_all=10)
    return IWAERecipe(k)


def iwae_checkpoint_path(recipe: IWAERecipe) -> Path:
    from ..config import checkpoint_dir

    return checkpoint_dir() / f"iwae_{recipe.hidden_dim}_z{recipe.latent_dim}_k{recipe.k}_{recipe.epochs}ep.pt"


def _mean_se(values: torch.Tensor) -> tuple[float, float]:
    v = values.double()
    return float(v.mean()), float(v.std() / math.sqrt(v.numel()))


def evaluate_model(model, recipe: IWAERecipe, test_bin: torch.Tensor) -> dict:
    """Scores on the binary test images: ``nll_k`` = ``-L_{k_test}`` on the first ``n_test_k`` (``n_k`` of them),
    ``nll_all`` = ``-L_{k_all}`` on the first ``n_test_all`` (``n_all``), each ``(mean, s.e.)``; ``elbo`` (the
    analytic-KL negative ELBO) and ``active_units`` (Burda et al.'s criterion) on the same ``n_all`` images;
    ``eval_seconds`` and ``k_seconds`` (the ``-L_{k_test}`` column alone)."""
    start = time.perf_counter()
    n_k = test_bin.shape[0] if recipe.n_test_k is None else min(recipe.n_test_k, test_bin.shape[0])
    n_all = test_bin.shape[0] if recipe.n_test_all is None else min(recipe.n_test_all, test_bin.shape[0])
    curve_k = iwae_curve(model, test_bin[:n_k], ks=(recipe.k_test,), seed=0)[recipe.k_test]
    k_seconds = time.perf_counter() - start
    curve_all = iwae_curve(model, test_bin[:n_all], ks=(recipe.k_all,), seed=1)[recipe.k_all]
    nll_k, nll_all = _mean_se(-curve_k), _mean_se(-curve_all)
    elbo = evaluate(model, test_bin[:n_all], seed=0)
    return {"nll_k": nll_k, "n_k": int(n_k), "nll_all": nll_all, "n_all": int(n_all), "elbo": elbo["loss"],
            "recon": elbo["recon"], "kl": elbo["kl"], "active_units": active_units(model, test_bin[:n_all]),
            "eval_seconds": time.perf_counter() - start, "k_seconds": k_seconds}


@dataclass
class IWAERun:
    """A trained model (eval mode), its history dict, its scores and how it came (``info``)."""

    model: VAE
    history: dict
    scores: dict
    recipe: IWAERecipe
    info: dict


SCORE_KEYS = ("nll_k", "n_k", "nll_all", "n_all", "elbo", "recon", "kl", "active_units", "eval_seconds", "k_seconds")


def load_or_train_iwae(recipe: IWAERecipe, *, progress: bool = False, verbose: bool = True) -> IWAERun:
    """Load the recipe's checkpoint (same recipe, same number of training images, every score of
    :func:`evaluate_model`), else train, score and save it. A checkpoint saved by an older version of the course,
    with fewer scores, is made again."""
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
    torch.manual_seed(recipe.seed)
    model = VAE(784, recipe.hidden_dim, recipe.latent_dim)
    start = time.perf_counter()
    hist = fit(model, train_x, epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr, seed=recipe.seed,
               device="cpu", progress=progress, binarize="dynamic", iwae_k=recipe.k)
    train_seconds = time.perf_counter() - start
    model = model.cpu().eval()
    if hist.interrupted:
        raise RuntimeError(f"training stopped after {hist.epochs} of {recipe.epochs} epochs; nothing was saved.")
    scores = evaluate_model(model, recipe, test_bin)
    info = {"train_seconds": train_seconds, "threads": torch.get_num_threads(), "precision": hist.precision}
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
        stored = torch.load(path, weights_only=True)
        if stored.get("key") == key:
            split = GapSplit(stored["log_px"], stored["elbo_encoder"], stored["elbo_optimised"], stored["k"])
            return split, {"loaded": True, "seconds": stored["seconds"]}
    start = time.perf_counter()
    split = gap_split(model, x, **settings)
    seconds = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"key": key, "log_px": split.log_px, "elbo_encoder": split.elbo_encoder,
                "elbo_optimised": split.elbo_optimised, "k": split.k, "seconds": seconds}, path)
    return split, {"loaded": False, "seconds": seconds}
