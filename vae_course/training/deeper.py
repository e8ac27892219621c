"""Notebook 13's cached runs: a Gaussian baseline, an IAF posterior, and two-layer hierarchies inferred bottom-up or
top-down, each trained over several seeds, scored once and cached with their scores.

Used by notebook 13 (hierarchical VAEs and flow posteriors).

:class:`DeeperRecipe` says what is trained: its ``kind`` (``"gaussian"``, ``"iaf"``, ``"bottom-up"``, ``"top-down"``),
the sizes, the epochs and the seed. All four kinds share the decoder's layout (two hidden layers of ``hidden_dim``
ELU units) and the training: ``fit`` with :class:`StructuredELBO` (the negative ELBO with the model's own per-layer KL
terms, a fresh binarization of every training batch as in notebook 08), Adam at a constant rate, batch 128, all
60,000 training images in full mode. :func:`load_or_train_deeper` trains and scores a recipe once
(:func:`vae_course.training.load_or_train_run`, the same route as notebooks 09-12): ``-L_k`` and the one-sample
ELBO per test image, the per-layer KL terms and the active units per layer. :func:`load_or_compute` caches any other
expensive score (``L_1000`` on all 10,000 test images, a gap split) under a key that includes a fingerprint of the
model's weights, so another model or other settings are computed again, never reused.

    >>> run = load_or_train_deeper(deeper_recipe("top-down", seed=1))   # doctest: +SKIP
    >>> run.scores["nll_k"], run.train_seconds                         # doctest: +SKIP

References:
    Sønderby et al. 2016 (arXiv:1602.02282), Kingma et al. 2016 (arXiv:1606.04934), Burda et al. 2015
    (arXiv:1509.00519): see :mod:`vae_course.models.hierarchical` and :mod:`vae_course.models.flows`.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from ..evaluation.structured import active_units_per_layer, structured_iwae
from ..models.flows import FlowVAE
from ..models.hierarchical import HierarchicalVAE
from ..objectives.losses import ELBOTerms

KINDS = ("gaussian", "iaf", "bottom-up", "top-down")


class StructuredELBO:
    """The negative ELBO of a notebook 13 model, ``recon + sum_l KL_l`` per image, as ``fit``'s objective.

    ``binarize="dynamic"`` draws a fresh binary image from each grey-level training image every batch (only while
    the model trains). ``precision`` is how ``fit`` runs the products (``"auto"``: bfloat16 where native).
    """

    def __init__(self, binarize: str | None = "dynamic", precision: str = "auto"):
        if binarize not in (None, "dynamic"):
            raise ValueError(f"binarize={binarize!r}: use None or 'dynamic'.")
        self.binarize, self.precision = binarize, precision

    def __call__(self, model, x: torch.Tensor, y: torch.Tensor | None = None) -> ELBOTerms:
        if not hasattr(model, "elbo_terms"):
            raise TypeError(f"StructuredELBO trains notebook 13's models (HierarchicalVAE, FlowVAE), got "
                            f"{type(model).__name__}: use ELBO() for the other VAEs.")
        if self.binarize == "dynamic" and model.training:
            x = torch.bernoulli(x)
        recon, kls = model.elbo_terms(x)
        kl = sum(kls)
        return ELBOTerms(recon, kl, recon + kl)


@dataclass(frozen=True)
class DeeperRecipe:
    """One of notebook 13's runs. ``latent_dim`` is z (flat models) or z1 (hierarchies); ``z2_dim`` the top layer."""

    kind: str
    hidden_dim: int = 256
    latent_dim: int = 32
    z2_dim: int = 16
    n_flows: int = 2
    epochs: int = 3
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    train_limit: int | None = None  # None: all 60,000 training images
    n_test_k: int = 1000  # the first test images scored with -L_k at training time
    k_test: int = 100

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r} is not known: use one of {', '.join(KINDS)}.")
        for name in ("hidden_dim", "latent_dim", "z2_dim", "epochs", "batch_size", "n_test_k", "k_test"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}={value!r} must be a positive whole number.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed={self.seed!r} must be a whole number >= 0.")

    def build(self):
        """The untrained model (after ``torch.manual_seed(seed)``)."""
        torch.manual_seed(self.seed)
        if self.kind in ("bottom-up", "top-down"):
            return HierarchicalVAE(784, self.hidden_dim, self.latent_dim, self.z2_dim, self.kind)
        return FlowVAE(784, self.hidden_dim, self.latent_dim, self.n_flows if self.kind == "iaf" else 0,
                       flow_hidden_dim=self.hidden_dim, context_dim=self.latent_dim)

    def describe(self) -> str:
        h = self.hidden_dim
        what = {"gaussian": f"Gaussian q, z {self.latent_dim}", "iaf": f"Gaussian + {self.n_flows} IAF steps, z "
                f"{self.latent_dim}", "bottom-up": f"z1 {self.latent_dim} / z2 {self.z2_dim}, bottom-up q",
                "top-down": f"z1 {self.latent_dim} / z2 {self.z2_dim}, top-down (ladder) q"}[self.kind]
        return f"784-{h}-{h} ELU, {what}, {self.epochs} epochs, seed {self.seed}"


def deeper_recipe(kind: str, quick: bool | None = None, *, seed: int = 0) -> DeeperRecipe:
    """Notebook 13's recipe of ``kind``: 3 epochs on all 60,000 training images (1,407 steps at batch 128), scored
    with ``-L_100`` on the first 1,000 binary test images; or 1 epoch on 1,024 images, scored on 50 (quick)."""
    from ..config import is_quick

    if is_quick() if quick is None else quick:
        return DeeperRecipe(kind, hidden_dim=32, latent_dim=4, z2_dim=2, epochs=1, seed=seed, train_limit=256,
                            n_test_k=20, k_test=10)
    return DeeperRecipe(kind, seed=seed)


def run_name(recipe: DeeperRecipe) -> str:
    """``nb13_<kind>_h<hidden>_z<latent>_<epochs>ep_s<seed>`` (quick runs have their own folder)."""
    return f"nb13_{recipe.kind}_h{recipe.hidden_dim}_z{recipe.latent_dim}_{recipe.epochs}ep_s{recipe.seed}"


def score_deeper(model, recipe: DeeperRecipe, test_bin: torch.Tensor) -> dict:
    """Scores on the first ``n_test_k`` binary test images: ``nll_k`` (mean, s.e.) of ``-L_{k_test}``, its per-image
    values ``nll_per_image``, ``elbo_per_image`` (one-sample negative ELBO), ``kl_layers`` (mean KL of each layer),
    ``active_units`` per layer and ``eval_seconds``."""
    start = time.perf_counter()
    x = test_bin[:recipe.n_test_k]
    curve = structured_iwae(model, x, ks=(1, recipe.k_test), seed=0)
    nll = -curve[recipe.k_test]
    with torch.no_grad():
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(0)
        kls = [torch.stack(model.elbo_terms(x[i:i + 500])[1]).double() for i in range(0, x.shape[0], 500)]
        torch.random.set_rng_state(gen_state)
    kl_layers = torch.cat(kls, 1).mean(1)  # (layers,)
    return {"nll_k": (float(nll.mean()), float(nll.std() / math.sqrt(nll.numel()))), "n_k": int(x.shape[0]),
            "k": recipe.k_test, "nll_per_image": nll, "elbo_per_image": -curve[1],
            "kl_layers": [float(v) for v in kl_layers], "active_units": list(active_units_per_layer(model, x)),
            "eval_seconds": time.perf_counter() - start}


def load_or_train_deeper(recipe: DeeperRecipe, *, progress: bool = False):
    """Load the recipe's cached run, or train (``fit`` with :class:`StructuredELBO`), score (:func:`score_deeper`)
    and save it. Returns a :class:`vae_course.training.CachedRun` (``.model``, ``.scores``, ``.train_seconds``)."""
    from ..data import load_mnist
    from .fit_loop import History, fit
    from .runs import load_or_train_run, run_key

    train_x, _ = load_mnist("train", limit=recipe.train_limit)  # grey levels; binarized afresh every batch
    test_bin, _ = load_mnist("test", binarize="static", seed=1, limit=recipe.n_test_k)
    key = run_key(recipe.build(), train_x, test_bin, epochs=recipe.epochs, lr=recipe.lr,
                  batch_size=recipe.batch_size, seed=recipe.seed, recipe=asdict(recipe),
                  objective_name="StructuredELBO")

    def train():
        model = recipe.build()
        hist = fit(model, train_x, objective=StructuredELBO(), epochs=recipe.epochs, batch_size=recipe.batch_size,
                   lr=recipe.lr, seed=recipe.seed, device="cpu", progress=progress)
        return model, hist

    return load_or_train_run(run_name(recipe), key, train, lambda m: score_deeper(m, recipe, test_bin),
                             history_type=History)


def weights_key(model) -> float:
    """A number that changes with any weight of the model (for cache keys)."""
    from .iwae_training import weights_fingerprint

    return weights_fingerprint(model)


def load_or_compute(name: str, key: dict, compute: Callable[[], dict]) -> tuple[dict, dict]:
    """``compute()`` (a dict of tensors and numbers) once, cached as ``<checkpoint_dir>/<name>.pt`` with ``key``
    (plain data); a later call with the same key loads it. Returns ``(result, {"loaded", "seconds"})``."""
    from ..config import checkpoint_dir

    key = json.loads(json.dumps(key, sort_keys=True))
    path = Path(checkpoint_dir()) / f"{name}.pt"
    if path.is_file():
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
            if stored.get("key") == key:
                return stored["result"], {"loaded": True, "seconds": stored["seconds"]}
        except Exception:  # noqa: BLE001 - only a cache: compute again
            pass
    start = time.perf_counter()
    result = compute()
    seconds = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save({"key": key, "result": result, "seconds": seconds}, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return result, {"loaded": False, "seconds": seconds}


def headline_bound(run, test_bin: torch.Tensor, k: int = 1000) -> tuple[dict, dict]:
    """``-L_k`` of a cached run's model on every image of ``test_bin`` (binary), cached: ``({"nll": (N,) float64},
    {"loaded", "seconds"})``."""
    key = {"model": weights_key(run.model), "k": k, "n": int(test_bin.shape[0]), "seed": 0}
    return load_or_compute(f"{run.name}_L{k}_n{test_bin.shape[0]}", key,
                           lambda: {"nll": -structured_iwae(run.model, test_bin, ks=(k,), seed=0)[k]})


GAP_SETTINGS = {"steps": 150, "lr": 0.05, "n_samples": 32, "k": 1000, "eval_samples": 500, "seed": 0}


def cached_structured_gaps(run, x: torch.Tensor, **settings) -> tuple[dict, dict]:
    """Notebook 08's gap split (:func:`vae_course.evaluation.structured_gap_split`) of a cached run's model on the
    binary images ``x``, cached: per image ``log_px``, ``elbo_encoder``, ``elbo_optimised`` ``(B,)``."""
    from ..evaluation.structured import structured_gap_split

    settings = {**GAP_SETTINGS, **settings}
    key = {"model": weights_key(run.model), "n": int(x.shape[0]), "images": float(x.double().sum()), **settings}

    def compute():
        split = structured_gap_split(run.model, x, **settings)
        return {"log_px": split.log_px, "elbo_encoder": split.elbo_encoder, "elbo_optimised": split.elbo_optimised}

    return load_or_compute(f"{run.name}_gaps_n{x.shape[0]}", key, compute)
