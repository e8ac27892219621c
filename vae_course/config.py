"""Course-wide settings: quick mode, data and checkpoint folders, device choice and seeding.

Every notebook (00-10) imports this module instead of reading environment variables itself, so the
quick-mode switch lives in exactly one place.

Environment variables
---------------------
``VAE_COURSE_QUICK``
    ``1`` (or ``true``/``yes``) shrinks epochs and data so that the whole course runs in minutes (CI, slow
    laptops). Unset or ``0`` is the real course ("full mode").
``VAE_COURSE_DATA``
    Folder that holds ``MNIST/raw/*-ubyte``. Default: ``./data`` at the repository root.
``VAE_COURSE_CHECKPOINTS``
    Folder where notebooks save and look for checkpoints. Default: ``./checkpoints`` at the repository root. Quick
    mode always uses its subfolder ``quick`` (``./checkpoints/quick``), so that a quick run (``pytest``) never
    replaces a full-mode model that took minutes to train.
"""
from __future__ import annotations

import numbers
import os
import random
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import torch

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def is_quick() -> bool:
    """True when ``VAE_COURSE_QUICK`` asks for quick mode (read at call time, so tests can set it)."""
    raw = os.environ.get("VAE_COURSE_QUICK", "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"VAE_COURSE_QUICK={raw!r} is not understood: set it to 1 (quick mode) or 0 (full mode).")


def pick(full: T, quick: T) -> T:
    """Return ``quick`` in quick mode and ``full`` otherwise, e.g. ``epochs = pick(10, 2)``."""
    return quick if is_quick() else full


def mode_name() -> str:
    """``"quick"`` or ``"full"``, for printing at the top of a notebook."""
    return "quick" if is_quick() else "full"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data folder: the argument, else ``$VAE_COURSE_DATA``, else ``<repo>/data``."""
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root={root!r} must be a folder path (a str or pathlib.Path) that contains MNIST/raw, or None "
                        f"for $VAE_COURSE_DATA.")
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("VAE_COURSE_DATA")
    if env:
        return Path(env).expanduser()
    return REPO_ROOT / "data"


def checkpoint_dir() -> Path:
    """Where notebooks keep checkpoints: ``$VAE_COURSE_CHECKPOINTS`` (else ``<repo>/checkpoints``, git-ignored) in
    full mode, and its subfolder ``quick`` in quick mode.

    Quick and full runs of a notebook save under the same names (``vae_latent2.pt``); a recipe that does not match
    is trained again. With one folder for both, every ``pytest`` run (quick mode) would replace the full-mode
    models, and the next full run would train them again (notebook 11's take 12 minutes); so quick mode always
    keeps its own subfolder, also in a folder that ``VAE_COURSE_CHECKPOINTS`` names.
    """
    env = os.environ.get("VAE_COURSE_CHECKPOINTS")
    base = Path(env).expanduser() if env else REPO_ROOT / "checkpoints"
    path = base / "quick" if is_quick() else base
    where = f"VAE_COURSE_CHECKPOINTS={env}" if env else f"the checkpoint folder {base}"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"{where} is a file, not a folder: point it at a folder (it is created if needed).") from None
    except OSError as exc:
        raise ValueError(f"{where} cannot be created ({exc.strerror or type(exc).__name__}): point it at a folder "
                         f"you can write to.") from None
    return path


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Resolve a device: ``None`` or ``"auto"`` picks CUDA, then Apple's MPS, then the CPU.

    The reference script printed "device auto-detection" but always used the CPU; this actually looks.
    """
    if isinstance(device, torch.device):
        return device
    if device is None or str(device).lower() == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device={device!r} is not a device name: use 'auto', 'cpu', 'cuda' or 'mps'.") from None
    if resolved.type == "meta":
        raise ValueError("device='meta' holds no data, so nothing can be trained or drawn on it: use device='auto', "
                         "'cpu', 'cuda' or 'mps'.")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but no CUDA GPU is visible: use device='auto' or 'cpu'.")
    if resolved.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device='mps' was asked for but MPS is not available: use device='auto' or 'cpu'.")
    return resolved


@contextmanager
def isolated_rng(seed: int, device: str | torch.device = "cpu"):
    """Run a block with torch's global generators seeded to ``seed``, then restore them.

    Restores the CPU generator and, on CUDA or MPS, that device's generator too, so a seeded evaluation never
    resets the noise a training run draws afterwards.
    """
    dev = torch.device(device)
    accel = dev.type in ("cuda", "mps")
    with torch.random.fork_rng(devices=[dev] if accel else [], device_type=dev.type if accel else "cuda"):
        torch.manual_seed(seed)
        yield


SEED_MAX = 2**63 - 1


def check_seed(seed, name: str = "seed") -> int:
    """``seed`` as an ``int`` if it is a whole number from 0 to 2**63 - 1 (what torch's generators take), else one
    clear ``ValueError`` that names ``name``."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"{name}={seed!r} must be a whole number from 0 to 2**63 - 1, e.g. {name}=0.")
    return int(seed)


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python's and torch's global generators; return a fresh ``torch.Generator`` seeded the same way."""
    seed = check_seed(seed)
    random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
