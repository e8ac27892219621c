"""The recipe that trains the course's best likelihood model, a :class:`~vae_course.models.DeepVAE`, on CPU.

Used by notebook 08 (test log-likelihood with the importance-weighted bound) and ``benchmarks/best_model.py``. The
model class lives in :mod:`vae_course.models.deep` (``from vae_course.models import DeepVAE``).

The recipe (:class:`BestRecipe`) adds what makes it converge quickly on 2 CPU cores: ELU activations, dynamic
binarization (a fresh binary draw of every training image every batch, which also fights over-fitting), Adam with a
cosine learning-rate decay (``fit(..., lr=lambda epoch: cosine_lr(epoch, recipe))``), the decoder's output bias
started at the logit of the mean training image, and bfloat16 matrix products where the CPU has them natively
(``ELBO(precision="auto")``: weights, Adam and every reported number stay float32). Full mode trains 30 epochs on all
60,000 training images: 14,070 optimizer steps at batch 128, about 3 minutes on 2 CPU cores with bfloat16 products
(about three times as long in float32). An earlier version of the course trained 100 epochs on about a third of the
images (17,800 steps, in float32).

Why ELU: in 15-epoch probes of the 784-512-512-32 model made for an earlier version of the course (same recipe
otherwise, on about a third of the training images), the test negative ELBO on 2,000 binarized test images was 105.7
nats with ReLU, 103.5 with tanh, 100.9 with GELU and 100.1 with ELU; -L_100 on 500 test images 99.9, 97.9, 95.6 and
94.3. They are not re-run here.

References:
    Burda, Grosse & Salakhutdinov 2015 (arXiv:1509.00519): 784-200-200-50 MLPs, dynamic binarization, k=5000.
    Loshchilov & Hutter 2016, "SGDR" (arXiv:1608.03983): the cosine learning-rate schedule.
    Clevert, Unterthiner & Hochreiter 2015, "Fast and accurate deep network learning by exponential linear units
    (ELUs)" (arXiv:1511.07289).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..models.deep import DeepVAE, DeepVAEConfig
from ..objectives import ELBO


@dataclass
class BestRecipe:
    """How the best model is trained (and how big it is)."""

    hidden_dims: tuple[int, ...] = (512, 512)
    latent_dim: int = 32
    activation: str = "elu"
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    lr_final: float = 1e-4  # cosine decay from lr to lr_final over the epochs
    train_limit: int | None = None  # None: every training image on disk (all 60,000)
    monitor_test: int = 2000  # test images scored after every epoch (single-sample ELBO)
    seed: int = 0
    precision: str = "auto"  # the training products: "auto" (bfloat16 where native), "fp32" or "bf16"

    def model_config(self) -> DeepVAEConfig:
        return DeepVAEConfig(784, tuple(self.hidden_dims), self.latent_dim, self.activation)


def best_recipe(quick: bool | None = None) -> BestRecipe:
    """The course's best-model recipe: full mode, or a tiny one for quick mode (CI)."""
    from ..config import is_quick

    if is_quick() if quick is None else quick:
        return BestRecipe(hidden_dims=(128,), latent_dim=16, epochs=2, lr=2e-3, lr_final=1e-3, train_limit=4096,
                      monitor_test=500)
    return BestRecipe()


def cosine_lr(epoch: int, recipe) -> float:
    """The learning rate for epoch ``epoch`` (1-based) of a recipe with ``lr``, ``lr_final`` and ``epochs`` (a
    :class:`BestRecipe` or a ``BurdaRecipe``): ``lr`` at the first epoch, ``lr_final`` at the last."""
    if recipe.epochs <= 1:
        return recipe.lr
    t = (epoch - 1) / (recipe.epochs - 1)
    return recipe.lr_final + 0.5 * (recipe.lr - recipe.lr_final) * (1 + math.cos(math.pi * t))


def train_best_model(recipe: BestRecipe, *, progress: bool = False, log_every: int = 0):
    """Train a :class:`DeepVAE` with ``recipe`` on dynamically binarized MNIST.

    Returns ``(model, history, seconds)``. The history's test figures are single-sample negative ELBOs on the first
    ``recipe.monitor_test`` statically binarized test images (enough to watch for over-fitting).
    """
    from ..data import load_mnist
    from .fit_loop import fit

    train_x, _ = load_mnist("train", limit=recipe.train_limit)  # grey levels; fit binarizes every batch
    test_bin, _ = load_mnist("test", binarize="static", limit=recipe.monitor_test, seed=1)
    torch.manual_seed(recipe.seed)
    model = DeepVAE(hidden_dims=recipe.hidden_dims, latent_dim=recipe.latent_dim, activation=recipe.activation)
    model.init_output_bias(train_x)
    start = time.perf_counter()
    hist = fit(model, train_x, test_bin, objective=ELBO(binarize="dynamic", precision=recipe.precision),
               epochs=recipe.epochs, batch_size=recipe.batch_size, lr=lambda epoch: cosine_lr(epoch, recipe),
               seed=recipe.seed, device="cpu", progress=progress, callbacks=[epoch_logger(log_every, recipe.epochs)])
    return model, hist, time.perf_counter() - start


def epoch_logger(log_every: int, epochs: int):
    """A ``fit`` callback that prints the train and test negative ELBO every ``log_every`` epochs and at the last
    (``log_every=0``: never), with the seconds since the callback was made."""
    start = time.perf_counter()

    def on_epoch_end(epoch, hist):
        if log_every and (epoch % log_every == 0 or epoch == epochs):
            print(f"epoch {epoch:3d}  train -ELBO {hist.train_loss[-1]:7.2f}  test -ELBO {hist.test_loss[-1]:7.2f}  "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)

    return on_epoch_end


def best_checkpoint_path(recipe: BestRecipe) -> Path:
    """Where the model of ``recipe`` is saved: ``<checkpoint_dir>/best_vae_<sizes>_<activation>_<epochs>ep.pt``."""
    from ..config import checkpoint_dir

    dims = "x".join(str(h) for h in recipe.hidden_dims)
    return checkpoint_dir() / f"best_vae_{dims}_z{recipe.latent_dim}_{recipe.activation}_{recipe.epochs}ep.pt"


def load_or_train_best_model(recipe: BestRecipe | None = None, *, progress: bool = False, log_every: int = 0):
    """Load the recipe's checkpoint if one exists, else train it and save it.

    Returns ``(model, history_dict, info)``; ``info`` says whether it was loaded and how long training took.
    """
    from .checkpoints import load_checkpoint, read_checkpoint, save_checkpoint
    from ..data import load_mnist

    recipe = recipe or best_recipe()
    path = best_checkpoint_path(recipe)
    n_train = len(load_mnist("train", limit=recipe.train_limit)[0])  # 60,000 in full mode
    if path.is_file():
        extra = read_checkpoint(path).get("extra") or {}
        # another recipe or another training set is retrained, never silently reused
        if _same(extra.get("recipe"), asdict(recipe)) and extra.get("train_images") == n_train:
            model, history = load_checkpoint(path, recipe.model_config(), with_history=True)
            return model, history, {"loaded": True, "seconds": extra.get("seconds"), "path": path.name,
                                    "steps": extra.get("steps"), "precision": extra.get("precision")}
    print(f"Training the best model (DeepVAE 784-{'-'.join(map(str, recipe.hidden_dims))}-{recipe.latent_dim}, "
          f"{recipe.epochs} epochs on {n_train:,} images): no matching checkpoint yet. It is saved as {path.name} "
          f"and reused next time.", flush=True)
    model, hist, seconds = train_best_model(recipe, progress=progress, log_every=log_every)
    if hist.interrupted:  # never store a partial run under the full recipe's name
        print(f"Training stopped after {hist.epochs} of {recipe.epochs} epochs, so {path.name} is not written: the "
              f"model below is the partial one, and the next call trains again.", flush=True)
        return model, hist.as_dict(), {"loaded": False, "seconds": seconds, "path": None, "interrupted": True}
    steps = recipe.epochs * math.ceil(n_train / recipe.batch_size)
    save_checkpoint(model, path, hist, extra={"recipe": asdict(recipe), "train_images": n_train, "seconds": seconds,
                                              "threads": torch.get_num_threads(), "steps": steps,
                                              "precision": hist.precision})
    return model, hist.as_dict(), {"loaded": False, "seconds": seconds, "path": path.name, "steps": steps,
                                   "precision": hist.precision}


def _same(a, b) -> bool:
    if not isinstance(a, dict) or not isinstance(b, dict) or a.keys() != b.keys():
        return False
    norm = lambda v: tuple(v) if isinstance(v, list) else v  # noqa: E731
    return all(norm(a[key]) == norm(b[key]) for key in a)
