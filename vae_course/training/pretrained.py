"""The course's trained reference models: train once in notebook 05, reuse them in notebook 06 (and later).

Used by notebooks 05, 06, 07 and 11 and ``benchmarks/bench_explorer.py``.

Notebook 05 trains the reference MNIST VAE (784-400-2) and its latent-20 sibling and saves them as
``<checkpoint_dir>/vae_latent2.pt`` and ``vae_latent20.pt``; notebook 07 trains the same reference model on
Fashion-MNIST (``dataset="fashion"``, saved as ``fashion_vae_latent2.pt``). Notebook 06 calls :func:`load_or_train`, which loads
such a checkpoint when it was trained with the same :class:`Recipe` (sizes, epochs, optimizer settings, seed and the
very same training images) and otherwise trains one itself and saves it. So every notebook runs on its own after a
kernel restart, and a checkpoint left over from a quick-mode run is never mistaken for a full-mode one.
Notebook 11's VAEs trained with a learned prior are cached the same way by
:func:`vae_course.training.prior_runs.load_or_train_with_prior`.

    >>> pre = load_or_train(2)                      # doctest: +SKIP
    >>> pre.model, pre.history.test_loss[-1], pre.trained   # doctest: +SKIP
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from .checkpoints import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from ..models import VAE
from .fit_loop import History, fit


@dataclass(frozen=True)
class Recipe:
    """Everything that decides what a trained reference model looks like; a checkpoint is reused only if it matches.

    ``n_train`` and ``data_fingerprint`` (the sum of the training images' 0-255 grey levels) identify the training
    images, so the 4,096-image quick-mode subset and the full split give different recipes; ``dataset`` names the data
    set (``"mnist"`` or ``"fashion"``), which also names the checkpoint.
    """

    latent_dim: int = 2
    hidden_dim: int = 400
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    n_train: int = 0
    data_fingerprint: int = 0
    dataset: str = "mnist"

    def __post_init__(self):
        for name in ("latent_dim", "hidden_dim", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}={value!r} must be a positive whole number.")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"lr={self.lr!r} must be a positive number.")
        _check_dataset(self.dataset)

    def describe(self) -> str:
        """One line for the learner, e.g. ``784-400-2, 10 epochs on 60,000 images`` (``... Fashion-MNIST images``)."""
        what = "" if self.dataset == "mnist" else f" {_DATASET_NAMES[self.dataset]}"
        return (f"784-{self.hidden_dim}-{self.latent_dim}, {self.epochs} epoch{'s' if self.epochs != 1 else ''} on "
                f"{self.n_train:,}{what} images")


_DATASET_NAMES = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}


def _check_dataset(dataset) -> str:
    if dataset not in _DATASET_NAMES:
        raise ValueError(f"dataset={dataset!r} is not a course data set: use 'mnist' or 'fashion'.")
    return dataset


def data_fingerprint(images: torch.Tensor) -> int:
    """An exact integer that identifies a set of images: the sum of their grey levels on the 0-255 scale."""
    if not isinstance(images, torch.Tensor) or not images.is_floating_point() or images.numel() == 0:
        raise TypeError("images must be a non-empty float tensor of images in [0, 1] (e.g. from load_mnist).")
    return int(images.mul(255).round().to(torch.int64).sum().item())


def default_epochs() -> int:
    """The reference 10 epochs in full mode, 2 in quick mode."""
    from ..config import pick

    return pick(10, 2)


def make_recipe(latent_dim: int, train_images: torch.Tensor, *, epochs: int | None = None, hidden_dim: int = 400,
                batch_size: int = 128, lr: float = 1e-3, seed: int = 0, dataset: str = "mnist") -> Recipe:
    """The :class:`Recipe` for training on ``train_images`` (``epochs`` defaults to :func:`default_epochs`)."""
    return Recipe(latent_dim=latent_dim, hidden_dim=hidden_dim, epochs=default_epochs() if epochs is None else epochs,
                  batch_size=batch_size, lr=lr, seed=seed, n_train=int(train_images.shape[0]),
                  data_fingerprint=data_fingerprint(train_images), dataset=dataset)


def checkpoint_name(latent_dim: int, dataset: str = "mnist", seed: int = 0) -> str:
    """The file name notebook 05 saves to and notebook 06 loads from: ``vae_latent{latent_dim}.pt`` for MNIST,
    ``fashion_vae_latent{latent_dim}.pt`` for Fashion-MNIST (notebook 07); another training ``seed`` than the
    reference's 0 (a seed spread) adds ``_s{seed}``: ``vae_latent2_s1.pt``."""
    from ..config import check_seed

    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim <= 0:
        raise ValueError(f"latent_dim={latent_dim!r} must be a positive whole number.")
    prefix = "" if _check_dataset(dataset) == "mnist" else f"{dataset}_"
    suffix = "" if check_seed(seed) == 0 else f"_s{seed}"
    return f"{prefix}vae_latent{latent_dim}{suffix}.pt"


def checkpoint_path(latent_dim: int, folder: str | os.PathLike | None = None, dataset: str = "mnist",
                    seed: int = 0) -> Path:
    """``folder / checkpoint_name(latent_dim, dataset, seed)``; ``folder`` defaults to
    :func:`vae_course.config.checkpoint_dir`."""
    from ..config import checkpoint_dir

    return Path(folder if folder is not None else checkpoint_dir()) / checkpoint_name(latent_dim, dataset, seed)


def build_model(recipe: Recipe) -> VAE:
    """A freshly initialized reference VAE for ``recipe``, seeded with ``recipe.seed`` (same weights every time)."""
    from ..config import seed_everything

    seed_everything(recipe.seed)
    return VAE(784, recipe.hidden_dim, recipe.latent_dim)


def train_reference(recipe: Recipe, train_images: torch.Tensor, test_images: torch.Tensor | None = None, *,
                    progress: bool = False, device=None) -> tuple[VAE, History]:
    """Train :func:`build_model` ``(recipe)`` with :func:`vae_course.training.fit`; the model comes back on the CPU."""
    if int(train_images.shape[0]) != recipe.n_train:
        raise ValueError(f"the recipe is for {recipe.n_train:,} training images, got {train_images.shape[0]:,}: "
                         f"build it with make_recipe(latent_dim, train_images).")
    model = build_model(recipe)
    history = fit(model, train_images, test_images, epochs=recipe.epochs, batch_size=recipe.batch_size,
                  lr=recipe.lr, seed=recipe.seed, device=device, progress=progress)
    return model.cpu().eval(), history


def estimate_training_seconds(recipe: Recipe, n_test: int = 0, device=None) -> float:
    """Roughly how long :func:`train_reference` takes here: a few timed training steps, scaled to the recipe.

    Measured on a throw-away model (the real one is seeded afresh), so it costs a fraction of a second and changes
    no result.
    """
    from ..config import get_device
    from ..objectives.losses import model_elbo
    from .fit_loop import autocast_dtype, make_adam

    dev = get_device(device)
    amp = autocast_dtype("auto", dev)
    with torch.random.fork_rng(devices=[]):
        model = VAE(784, recipe.hidden_dim, recipe.latent_dim).to(dev)
        opt = make_adam(model.parameters(), recipe.lr)
        x = torch.rand(recipe.batch_size, 784, device=dev)

        def step():
            with torch.autocast(dev.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
                loss = model_elbo(model, x).total.float().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()

        step()  # warm-up
        start = time.perf_counter()
        for _ in range(3):
            step()
        per_step = (time.perf_counter() - start) / 3
    steps = math.ceil(recipe.n_train / recipe.batch_size) * recipe.epochs
    test_steps = math.ceil(n_test / recipe.batch_size) * recipe.epochs / 3  # evaluation: forward passes only
    return per_step * (steps + test_steps)


def _about(seconds: float) -> str:
    if seconds < 60:
        return f"{max(5, 5 * round(seconds / 5))} seconds"
    minutes = round(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def save_pretrained(model, history: History | None, recipe: Recipe, folder: str | os.PathLike | None = None) -> Path:
    """Save ``model`` with its history and recipe to :func:`checkpoint_path` ``(recipe.latent_dim, folder)``."""
    if getattr(model, "latent_dim", None) != recipe.latent_dim:
        raise ValueError(f"the model has latent_dim={getattr(model, 'latent_dim', None)!r} but the recipe says "
                         f"{recipe.latent_dim}.")
    return save_checkpoint(model, checkpoint_path(recipe.latent_dim, folder, recipe.dataset, recipe.seed),
                           history=history,
                           extra={"recipe": asdict(recipe)})


def stored_recipe(path: str | os.PathLike) -> Recipe | None:
    """The :class:`Recipe` saved with a checkpoint, or ``None`` if it has none (or cannot be read)."""
    try:
        raw = (read_checkpoint(path).get("extra") or {}).get("recipe")
        return Recipe(**{f.name: raw.get(f.name, f.default) for f in fields(Recipe)}) if isinstance(raw, dict) else None
    except (CheckpointError, KeyError, TypeError, ValueError):
        return None


def _stored(path: Path, recipe: Recipe) -> tuple[bool, str]:
    """Whether the checkpoint at ``path`` was trained with ``recipe``; if not, why not (for the training line)."""
    if not path.exists():
        return False, "there is no checkpoint yet"
    try:
        raw = (read_checkpoint(path).get("extra") or {}).get("recipe")
    except CheckpointError:
        return False, "the checkpoint could not be read"
    if not isinstance(raw, dict):
        return False, "the checkpoint has no recipe"
    try:
        found = Recipe(**{f.name: raw.get(f.name, f.default) for f in fields(Recipe)})
    except (TypeError, ValueError):
        return False, "the checkpoint's recipe could not be read"
    return (True, "") if found == recipe else (False, "the checkpoint was trained differently")


def previous_path(path: Path) -> Path:
    """Where :func:`load_or_train` keeps the checkpoint it replaces: ``vae_latent2.pt`` -> ``vae_latent2.previous.pt``."""
    return path.with_name(f"{path.stem}.previous{path.suffix}")


def _keep_previous(path: Path) -> Path | None:
    """Move an existing checkpoint at ``path`` to :func:`previous_path` (nothing is deleted); return where, or None."""
    if not path.is_file():
        return None
    kept = previous_path(path)
    try:
        os.replace(path, kept)
    except OSError as exc:
        raise CheckpointError(f"the checkpoint {path} could not be kept as {kept.name} before it is replaced "
                              f"({exc.strerror or type(exc).__name__}): move it away yourself and run this again.") from None
    return kept


def _check_writable(path: Path) -> None:
    """A :class:`CheckpointError` now, before training, if no checkpoint can be saved at ``path``."""
    import tempfile

    folder = path.parent
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, so no checkpoint can be saved there: move it away, or pass "
                              f"another folder=.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except (FileExistsError, NotADirectoryError):
        raise CheckpointError(f"the checkpoint folder {folder} is a file (or lies under one): pass folder= a folder "
                              f"you can write to.") from None
    except OSError as exc:
        raise CheckpointError(f"the checkpoint folder {folder} cannot be written ({exc.strerror or type(exc).__name__}), "
                              f"so the trained model could not be saved: pass folder= a folder you can write to.") from None


@dataclass
class Pretrained:
    """What :func:`load_or_train` returns: the model (eval mode, CPU), its history, where it lives, and how it came."""

    model: VAE
    history: History
    recipe: Recipe
    path: Path
    trained: bool  # True: trained just now; False: loaded from ``path``

    def __repr__(self) -> str:
        how = "trained now and saved as" if self.trained else "loaded from"
        return f"Pretrained(VAE {self.recipe.describe()}; {how} {self.path.name})"


def load_or_train(latent_dim: int = 2, *, dataset: str = "mnist", seed: int = 0,
                  train_images: torch.Tensor | None = None,
                  test_images: torch.Tensor | None = None, epochs: int | None = None,
                  folder: str | os.PathLike | None = None, retrain: bool = False, progress: bool = True,
                  verbose: bool = True, device=None) -> Pretrained:
    """Load the reference VAE with ``latent_dim`` from its checkpoint, or train it (and save it) if that is not possible.

    Args:
        latent_dim: 2 (the reference) or any other positive size (20 in notebooks 05-06).
        dataset: ``"mnist"`` (the default) or ``"fashion"`` (Fashion-MNIST, notebook 07); it names the checkpoint.
        seed: the training seed (initial weights, shuffling, noise); 0 is the reference model, other seeds give a
            seed spread and are saved as ``..._s<seed>.pt``.
        train_images, test_images: default :func:`vae_course.data.course_data` of ``dataset`` (the full split in
            full mode, a 4,096-image subset in quick mode; test: all 10,000 or the first 2,000).
        epochs: default 10 in full mode, 2 in quick mode.
        folder: where checkpoints live (default :func:`vae_course.config.checkpoint_dir`).
        retrain: train and overwrite even if a matching checkpoint exists.
        progress: show fit's progress bar (``tqdm.auto``: a widget in JupyterLab) while training.
        verbose: print one line saying what happens (and, before training, roughly how long it takes).

    A checkpoint is loaded only if its stored :class:`Recipe` equals the requested one; a missing, unreadable or
    mismatched checkpoint is replaced by a freshly trained model, and the file it replaces is kept beside it as
    ``<name>.previous.pt`` (one generation: the previous ``.previous.pt`` goes). The folder is checked to be
    writable before training starts.
    """
    checkpoint_name(latent_dim, dataset, seed)  # validates latent_dim, dataset and seed
    if train_images is None or test_images is None:
        from ..data import course_data

        tx, _, vx, _ = course_data(dataset=dataset)
        train_images = tx if train_images is None else train_images
        test_images = vx if test_images is None else test_images
    recipe = make_recipe(latent_dim, train_images, epochs=epochs, dataset=dataset, seed=seed)
    path = checkpoint_path(latent_dim, folder, dataset, seed)
    why = "retrain=True"
    if not retrain:
        found, why = _stored(path, recipe)
        if found:
            try:
                model, hist = load_checkpoint(path, expected_config={"latent_dim": latent_dim}, with_history=True)
            except CheckpointError:
                why = "the checkpoint could not be loaded"
            else:
                if type(model) is VAE and model.config.hidden_dim == recipe.hidden_dim:
                    history = History(**{k: v for k, v in hist.items() if k in History.__dataclass_fields__}) if hist else History()
                    if verbose:
                        print(f"Loaded {path.name}: VAE {recipe.describe()}.")
                    return Pretrained(model, history, recipe, path, trained=False)
                why = f"the checkpoint holds a {type(model).__name__}, not the reference VAE"
    _check_writable(path)  # before training, so that a model is never trained and then lost
    if verbose:
        eta = _about(estimate_training_seconds(recipe, int(test_images.shape[0]), device))
        print(f"Training VAE {recipe.describe()} ({why}): about {eta} here, then it is saved as {path.name} and "
              f"reused next time ...", flush=True)
    model, history = train_reference(recipe, train_images, test_images, progress=progress, device=device)
    kept = _keep_previous(path)
    save_pretrained(model, history, recipe, folder)
    if verbose:
        print(f"Saved {path.name}." if kept is None else
              f"Saved {path.name} (the checkpoint it replaces is kept as {kept.name}).")
    return Pretrained(model, history, recipe, path, trained=True)
