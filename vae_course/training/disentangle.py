"""Notebook 15's cached runs: beta-VAEs at several beta and beta-TCVAEs, each over several seeds, trained on
:func:`vae_course.data.make_shapes` and scored against the known factors.

Used by notebook 15 (disentanglement measured against known factors).

:class:`ShapesRecipe` says what is trained: the objective (``"beta"``: :class:`~vae_course.objectives.ELBO` with the KL
weighted by beta; ``"tc"``: :class:`~vae_course.objectives.BetaTCVAE`, the total correlation weighted by beta), the
MLP VAE's sizes, the epochs and the seed. :func:`load_or_train_shapes` trains a recipe once through
:func:`vae_course.training.load_or_train_run` (the cached route of notebooks 09-13) and stores with it the scores on the
held-out sprites: the per-image negative ELBO, reconstruction and rate (KL), the KL per latent unit, the mutual
information matrix between the encoder's means and the factors, and MIG.

    >>> run = load_or_train_shapes(shapes_recipe("tc", 6.0, seed=1), data)   # doctest: +SKIP
    >>> run.scores["mig"], run.train_seconds                                # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ..evaluation.collapse import kl_per_dim
from ..evaluation.disentanglement import mig_per_factor, mutual_information_matrix
from ..evaluation.latent_space import encode_means
from ..models.mlp import VAE
from ..objectives.objective import ELBO
from ..objectives.tc import BetaTCVAE
from .runs import load_or_train_run, per_image_elbo, run_key

_OBJECTIVES = ("beta", "tc")


@dataclass(frozen=True)
class ShapesRecipe:
    """One of notebook 15's runs: an MLP VAE 784-hidden-latent trained on ``n_train`` sprites."""

    objective: str
    beta: float
    seed: int = 0
    hidden_dim: int = 400
    latent_dim: int = 10
    epochs: int = 15
    batch_size: int = 128
    lr: float = 1e-3

    def __post_init__(self):
        if self.objective not in _OBJECTIVES:
            raise ValueError(f"objective={self.objective!r} is not known: use 'beta' (beta-VAE) or 'tc' (beta-TCVAE).")
        if isinstance(self.beta, bool) or not isinstance(self.beta, (int, float)) or self.beta < 0:
            raise ValueError(f"beta={self.beta!r} must be a number >= 0.")

    def name(self) -> str:
        return f"nb15_{self.objective}{self.beta:g}_h{self.hidden_dim}_d{self.latent_dim}_e{self.epochs}_s{self.seed}"

    def label(self) -> str:
        return f"{'beta-VAE' if self.objective == 'beta' else 'beta-TCVAE'}, beta = {self.beta:g}"


def shapes_recipe(objective: str, beta: float, quick: bool | None = None, *, seed: int = 0) -> ShapesRecipe:
    """Notebook 15's recipe: 784-400-10 for 15 epochs (full), or 784-32-10 for 1 epoch (quick)."""
    from ..config import is_quick

    if is_quick() if quick is None else quick:
        return ShapesRecipe(objective, float(beta), seed, hidden_dim=32, epochs=1)
    return ShapesRecipe(objective, float(beta), seed)


def load_or_train_shapes(recipe: ShapesRecipe, train_images: torch.Tensor, test_images: torch.Tensor,
                         test_factors: torch.Tensor, *, retrain: bool = False):
    """Train ``recipe`` on ``train_images`` (or load it) and score it on the held-out sprites and their factors.

    The returned :class:`~vae_course.training.CachedRun`'s ``scores`` hold ``loss``, ``recon``, ``kl`` per test image
    ``(N,)``, ``kl_per_dim`` ``(D,)`` (nats, averaged over the images), ``mi`` ``(D, F)`` (nats, the encoder's means
    against the factors), ``mig_per_factor`` ``(F,)`` and ``mig``.
    """
    from ..config import seed_everything
    from .fit_loop import History, fit

    if not isinstance(recipe, ShapesRecipe):
        raise TypeError(f"recipe must be a ShapesRecipe (see shapes_recipe), got {type(recipe).__name__}.")
    n = int(train_images.shape[0])

    def build():
        seed_everything(recipe.seed)
        return VAE(784, recipe.hidden_dim, recipe.latent_dim)

    objective = (ELBO(beta=recipe.beta) if recipe.objective == "beta"
                 else BetaTCVAE(beta=recipe.beta, dataset_size=n))
    key = run_key(build(), train_images, test_images, objective=objective, epochs=recipe.epochs, lr=recipe.lr,
                  batch_size=recipe.batch_size, seed=recipe.seed, recipe=asdict(recipe),
                  factors_fingerprint=int(test_factors.sum()))

    def train():
        model = build()
        history = fit(model, train_images, test_images, objective=objective, epochs=recipe.epochs,
                      batch_size=recipe.batch_size, lr=recipe.lr, seed=recipe.seed, progress=False)
        return model, history

    def score(model):
        scores = per_image_elbo(model, test_images, seed=0)
        mu, logvar = encode_means(model, test_images)  # (N, D) each
        scores["kl_per_dim"] = kl_per_dim(mu, logvar).double()  # (D,)
        scores["mi"] = mutual_information_matrix(mu, test_factors)  # (D, F)
        gaps = mig_per_factor(mu, test_factors)  # (F,)
        scores["mig_per_factor"], scores["mig"] = gaps, float(gaps.mean())
        return scores

    return load_or_train_run(recipe.name(), key, train, score, history_type=History, retrain=retrain)
