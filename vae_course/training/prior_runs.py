"""Notebook 11's VAEs trained together with a learned prior, cached like the reference models, one per prior and seed.

Used by notebook 11 (section 4: three priors at the same budget, three training seeds each).

:func:`load_or_train_with_prior` trains the reference MLP (784-400-2) with ``fit(model, images,
objective=ELBO(prior=prior, binarize="dynamic"))``, the prior's parameters trained with the model's, and saves both as
``<checkpoint_dir>/nb11_<kind>_z2_<epochs>ep_s<seed>.pt``; a later call with the same :class:`PriorRecipe` (the
reference :class:`~vae_course.training.pretrained.Recipe` plus the prior's kind, components and seed) loads it.
:meth:`PriorRun.test_scores` computes the notebook's costly test scores once, image by image (the NLL bound ``-L_k``
under the model's own prior, the ELBO, ELBO surgery, the prior mass in holes and ``KL(p(z) || q(z))``), and stores them
in the same checkpoint, so that two priors can be compared image by image and over seeds.

    >>> run = load_or_train_with_prior("vamp", train_x, components=500, epochs=3, seed=1)   # doctest: +SKIP
    >>> scores, how = run.test_scores(test_b, k=100)                                        # doctest: +SKIP

References:
    Tomczak & Welling, "VAE with a VampPrior", AISTATS 2018 (arXiv:1705.07120).
    Hoffman & Johnson, "ELBO surgery", NIPS 2016 workshop on approximate Bayesian inference.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..models import VAE
from .checkpoints import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from .fit_loop import fit
from .pretrained import Recipe, data_fingerprint

PRIOR_KINDS = ("standard", "mixture", "vamp")


@dataclass(frozen=True)
class PriorRecipe(Recipe):
    """What decides a notebook-11 model: a :class:`Recipe` (3 epochs by default) plus the prior ``kind``
    (``"standard"``, ``"mixture"`` or ``"vamp"``) and its number of ``components``; the training images are
    binarized afresh at every batch. ``seed`` is another training run of the same recipe (notebook 11 trains three
    seeds of each prior to measure the spread over training runs); the three priors of one seed start from the same
    VAE weights."""

    epochs: int = 3
    kind: str = "standard"
    components: int = 0

    def __post_init__(self):
        super().__post_init__()
        if self.kind not in PRIOR_KINDS:
            raise ValueError(f"kind={self.kind!r} must be one of {', '.join(map(repr, PRIOR_KINDS))}.")
        if self.kind != "standard" and (isinstance(self.components, bool) or not isinstance(self.components, int)
                                        or self.components <= 0):
            raise ValueError(f"components={self.components!r} must be a positive whole number for the {self.kind} "
                             f"prior.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed={self.seed!r} must be a whole number >= 0.")

    @property
    def file_name(self) -> str:
        return f"nb11_{self.kind}_z{self.latent_dim}_{self.epochs}ep_s{self.seed}.pt"

    @property
    def steps(self) -> int:
        """Optimizer steps: ``epochs`` times the batches of ``n_train`` images (469 per epoch for 60,000 at 128)."""
        return self.epochs * math.ceil(self.n_train / self.batch_size)


def make_prior_recipe(kind: str, train_images: torch.Tensor, *, components: int = 0, epochs: int = 3,
                      **settings) -> PriorRecipe:
    """The :class:`PriorRecipe` for training on ``train_images`` (they are identified by count and fingerprint)."""
    return PriorRecipe(kind=kind, components=0 if kind == "standard" else components, epochs=epochs,
                       n_train=int(train_images.shape[0]), data_fingerprint=data_fingerprint(train_images), **settings)


def build_prior(recipe: PriorRecipe, model: VAE, train_images: torch.Tensor):
    """The untrained prior of ``recipe`` for ``model``: N(0, I); a mixture seeded with ``recipe.seed``; or a
    VampPrior whose pseudo-inputs start at ``recipe.components`` training images drawn with that seed."""
    from ..objectives.priors import MixtureOfGaussiansPrior, StandardNormalPrior, VampPrior

    if recipe.kind == "standard":
        return StandardNormalPrior(recipe.latent_dim)
    if recipe.kind == "mixture":
        return MixtureOfGaussiansPrior(recipe.latent_dim, num_components=recipe.components, seed=recipe.seed)
    picks = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(recipe.seed))[:recipe.components]
    return VampPrior(model, num_components=recipe.components, init=train_images[picks])


@dataclass
class PriorRun:
    """What :func:`load_or_train_with_prior` returns. ``extra`` is stored with the checkpoint (the recipe, the
    prior's weights, ``train_seconds``, the test scores of :meth:`test_scores`, and whatever :meth:`save` is
    handed)."""

    model: VAE
    prior: torch.nn.Module
    recipe: PriorRecipe
    path: Path
    trained: bool
    extra: dict

    def save(self, **results) -> Path:
        """Store ``results`` in the checkpoint's ``extra`` next to the model (numbers, strings, lists, dicts,
        tensors)."""
        self.extra.update(results)
        return save_checkpoint(self.model, self.path, None, extra=self.extra)

    def test_scores(self, test_images: torch.Tensor, *, k: int = 100, n: int | None = None, draws: int = 4000,
                    seed: int = 0) -> tuple[dict, dict]:
        """Notebook 11's scores of this model under its own prior, computed once and stored with the checkpoint.

        ``test_images`` are binary (the Bernoulli decoder is a pmf there). Returns ``(scores, how)``, ``how`` =
        ``{"loaded": bool, "seconds": the one-time cost}``. ``scores`` holds, in nats per image:

        * ``nll``, ``(n,)`` float64: ``-L_k`` of each of the first ``n`` images (None: all), an upper bound on
          ``-log p(x)``; ``nll_mean``, ``nll_se``;
        * ``elbo``, ``(N,)``: the negative ELBO of each image, one seeded draw (the KL term is the Monte-Carlo
          ``log q(z|x) - log p(z)`` for a learned prior, closed-form for N(0, I)); ``elbo_mean``;
        * ELBO surgery on all N images (one draw each): ``average_kl``, ``mutual_information`` (+ ``_se``),
          ``marginal_kl`` = KL(q(z) || p(z)) (+ ``_se``), ``surgery_gap`` (+ ``_se``), the average KL minus the two
          parts (0 up to noise; exactly 0 for a learned prior, whose KL is estimated from the same draws);
        * ``hole_mass`` (+ ``_se``): the share of ``draws`` prior samples where q(z) < 0.1 p(z), and ``kl_p_q``
          (+ ``_se``) = KL(p(z) || q(z)), estimated on the same prior draws as the mean of log p(z) - log q(z);
        * ``active_units`` (Burda et al.'s criterion).
        """
        from ..evaluation.collapse import active_units
        from ..evaluation.iwae import iwae_bound
        from ..evaluation.surgery import aggregate_log_prob, elbo_surgery, hole_mass

        n_all = int(test_images.shape[0])
        n = n_all if n is None else min(int(n), n_all)
        key = {"k": int(k), "n": n, "n_all": n_all, "draws": int(draws), "seed": int(seed),
               "test": data_fingerprint(test_images)}
        stored = self.extra.get("scores")
        if isinstance(stored, dict) and stored.get("key") == key:
            return stored, {"loaded": True, "seconds": stored["seconds"]}
        start = time.perf_counter()
        model, prior = self.model.eval(), self.prior
        with torch.no_grad():
            nll = -iwae_bound(model, test_images[:n], k, prior=prior,
                              generator=torch.Generator().manual_seed(seed)).double()  # (n,)
            elbo = _per_image_total(model, test_images, self._objective(), seed)  # (N,)
            flat = test_images.reshape(n_all, -1)
            cut = elbo_surgery(model, flat, prior, samples_per_image=1, seed=seed)
            mu, logvar = model.encode(flat)  # (N, D) each
            holes = hole_mass(mu, logvar, prior, draws=draws, seed=seed)
            z = prior.sample(draws, generator=torch.Generator().manual_seed(seed)).to(mu.dtype)  # hole_mass's draws
            log_ratio = (prior.log_prob(z) - aggregate_log_prob(z, mu, logvar)).double()  # (draws,)
        scores = {"key": key, "nll": nll, "nll_mean": float(nll.mean()), "nll_se": float(nll.std() / math.sqrt(n)),
                  "elbo": elbo, "elbo_mean": float(elbo.mean()),
                  "average_kl": cut.average_kl, "mutual_information": cut.mutual_information,
                  "mutual_information_se": cut.mutual_information_se, "marginal_kl": cut.marginal_kl,
                  "marginal_kl_se": cut.marginal_kl_se, "surgery_gap": cut.gap, "surgery_gap_se": cut.gap_se,
                  "hole_mass": holes.mass, "hole_mass_se": holes.stderr,
                  "kl_p_q": float(log_ratio.mean()), "kl_p_q_se": float(log_ratio.std() / math.sqrt(draws)),
                  "active_units": active_units(model, flat), "seconds": time.perf_counter() - start}
        self.save(scores=scores)
        return scores, {"loaded": False, "seconds": scores["seconds"]}

    def _objective(self):
        from ..objectives import ELBO

        return ELBO(prior=self.prior)


def load_or_train_with_prior(kind: str, train_images: torch.Tensor, *, components: int = 0, epochs: int = 3,
                             seed: int = 0, folder: str | os.PathLike | None = None, retrain: bool = False,
                             progress: bool = False) -> PriorRun:
    """Load notebook 11's VAE trained with the prior ``kind`` and ``seed`` from
    ``<folder>/nb11_<kind>_z2_<epochs>ep_s<seed>.pt`` when its recipe matches, else train it (Adam on the model's and
    the prior's parameters, the training images binarized afresh every batch) and save it.

    The model and the prior start from weights seeded with ``seed``, so the three priors of one seed train the same
    initial VAE.
    """
    from ..config import checkpoint_dir, seed_everything
    from ..objectives import ELBO

    recipe = make_prior_recipe(kind, train_images, components=components, epochs=epochs, seed=seed)
    path = Path(folder if folder is not None else checkpoint_dir()) / recipe.file_name
    seed_everything(recipe.seed)
    model = VAE(784, recipe.hidden_dim, recipe.latent_dim)
    prior = build_prior(recipe, model, train_images)
    if not retrain and path.is_file():
        try:
            extra = read_checkpoint(path).get("extra") or {}
            if extra.get("recipe") == asdict(recipe):
                model.load_state_dict(load_checkpoint(path).state_dict())
                prior.load_state_dict(extra["prior_state"])
                return PriorRun(model.eval(), prior, recipe, path, False, extra)
        except (CheckpointError, KeyError, RuntimeError):
            pass  # unreadable or from another version: train anew below
    start = time.perf_counter()
    history = fit(model, train_images, objective=ELBO(prior=prior, binarize="dynamic"), epochs=recipe.epochs,
                  batch_size=recipe.batch_size, lr=recipe.lr, seed=recipe.seed, progress=progress)
    if history.interrupted:
        raise RuntimeError(f"training stopped after {history.epochs} of {recipe.epochs} epochs; nothing was saved.")
    extra = {"recipe": asdict(recipe), "prior_state": dict(prior.state_dict()),
             "train_seconds": time.perf_counter() - start, "steps": recipe.steps}
    save_checkpoint(model, path, history, extra=extra)
    return PriorRun(model.eval(), prior, recipe, path, True, extra)


@torch.no_grad()
def _per_image_total(model, images: torch.Tensor, objective, seed: int, batch_size: int = 1000) -> torch.Tensor:
    """``objective(model, x, None).total`` of every image, one seeded draw each, ``(N,)`` float64: the draws of
    :func:`vae_course.evaluation.evaluate` ``(model, images, objective=objective, seed=seed)``, whose ``loss`` is their
    mean."""
    from ..config import isolated_rng
    from ..objectives.losses import images_checked

    flat = images.reshape(images.shape[0], -1)
    out = []
    with isolated_rng(seed, "cpu"), images_checked():
        for i in range(0, flat.shape[0], batch_size):
            out.append(objective(model, flat[i:i + batch_size], None).total.double())
    return torch.cat(out)  # (N,)
