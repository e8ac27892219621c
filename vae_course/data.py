"""MNIST and FashionMNIST as in-memory tensors.

Used by notebooks 00, 02, 03 and 05-10, by the CLI (``python -m vae_course train``) and by ``benchmarks/``.

The whole split is loaded once through :class:`torchvision.datasets.MNIST` and kept as a single float tensor,
so that training can slice batches out of it instead of running a per-sample ``DataLoader`` transform.

    >>> images, labels = load_mnist("test")          # doctest: +SKIP
    >>> images.shape, images.dtype, labels.shape     # doctest: +SKIP
    (torch.Size([10000, 1, 28, 28]), torch.float32, torch.Size([10000]))

Binarization (notebooks 07-08):

``None``
    grey levels in [0, 1], as the reference script uses them.
``"static"``
    one Bernoulli draw per pixel with a fixed generator (``seed``): the same binary images on every call.
``"dynamic"``
    a fresh Bernoulli draw from torch's global generator on every call. For a new draw every *batch*, load grey
    levels and pass ``binarize="dynamic"`` to :func:`vae_course.train.fit`.
``"threshold"``
    ``x > 0.5``.
"""
from __future__ import annotations

import os
import warnings
from functools import lru_cache
from pathlib import Path

import torch

from .config import data_root

BINARIZE_CHOICES = (None, "static", "dynamic", "threshold")
_DATASETS = {"mnist": "MNIST", "fashion": "FashionMNIST", "fashionmnist": "FashionMNIST"}
_RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class DataNotFoundError(FileNotFoundError):
    """The dataset files are missing or unreadable, and could not be downloaded."""


def _missing_message(name: str, root: Path, why: str) -> str:
    raw = root / name / "raw"
    files = ", ".join(_RAW_FILES)
    return (
        f"{name} could not be loaded from {raw} ({why}). Put the four files {files} in that folder "
        f"(or point VAE_COURSE_DATA / the root argument at the folder that contains {name}/raw), "
        f"or connect to the internet so torchvision can download them."
    )


def _torchvision_class(name: str):
    import torchvision.datasets as tvd

    return getattr(tvd, name)


@lru_cache(maxsize=8)
def _load_uint8(name: str, root: str, train: bool, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one split as uint8 (N, 28, 28) plus int64 labels; cached per process."""
    cls = _torchvision_class(name)
    root_path = Path(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = cls(root=root, train=train, download=False)
        except RuntimeError as exc:
            if "not found" not in str(exc).lower():
                raise DataNotFoundError(_missing_message(name, root_path, f"a file is corrupted or truncated: {exc}")) from None
            if not download:
                raise DataNotFoundError(_missing_message(name, root_path, "the files are not there")) from None
            try:
                ds = cls(root=root, train=train, download=True)
            except Exception as exc2:  # noqa: BLE001 - offline, HTTP errors, checksum errors all mean the same here
                first = str(exc2).strip().splitlines()[0].rstrip(": ") if str(exc2).strip() else type(exc2).__name__
                raise DataNotFoundError(
                    _missing_message(name, root_path, f"the files are not there and the download failed: {first}")
                ) from None
        except (ValueError, OSError, IndexError) as exc:
            raise DataNotFoundError(_missing_message(name, root_path, f"a file is corrupted or truncated: {exc}")) from None
        images, labels = ds.data, ds.targets
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels) or len(images) == 0:
        raise DataNotFoundError(
            _missing_message(name, root_path, f"images {tuple(images.shape)} and labels {tuple(labels.shape)} do not match")
        )
    return images, labels.long()


def load_dataset(
    name: str = "mnist",
    split: str = "train",
    root: str | os.PathLike | None = None,
    binarize: str | None = None,
    *,
    limit: int | None = None,
    seed: int = 0,
    download: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load ``name`` (``"mnist"`` or ``"fashion"``); see :func:`load_mnist` for the arguments."""
    key = str(name).lower().replace("-", "").replace("_", "")
    if key not in _DATASETS:
        raise ValueError(f"dataset {name!r} is not known: use 'mnist' or 'fashion'.")
    if split not in ("train", "test"):
        raise ValueError(f"split={split!r} is not a split: use 'train' or 'test'.")
    if binarize not in BINARIZE_CHOICES:
        raise ValueError(f"binarize={binarize!r} is not understood: use None, 'static', 'dynamic' or 'threshold'.")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise ValueError(f"limit={limit!r} must be a positive whole number of images (or None for all).")
    path = data_root(root).resolve()
    raw_u8, labels = _load_uint8(_DATASETS[key], str(path), split == "train", bool(download))
    if limit is not None:
        raw_u8, labels = raw_u8[:limit], labels[:limit]
    images = raw_u8.to(torch.float32).div_(255.0).unsqueeze(1)  # (N, 1, 28, 28)
    if binarize == "static":
        gen = torch.Generator().manual_seed(seed)
        images = torch.bernoulli(images, generator=gen)
    elif binarize == "dynamic":
        images = torch.bernoulli(images)
    elif binarize == "threshold":
        images = (images > 0.5).to(torch.float32)
    return images, labels.clone()


def load_mnist(
    split: str = "train",
    root: str | os.PathLike | None = None,
    binarize: str | None = None,
    *,
    limit: int | None = None,
    seed: int = 0,
    download: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load an MNIST split into memory.

    Args:
        split: ``"train"`` or ``"test"``.
        root: folder that contains ``MNIST/raw``; default ``$VAE_COURSE_DATA`` or ``<repo>/data``.
        binarize: ``None``, ``"static"``, ``"dynamic"`` or ``"threshold"`` (see the module docstring).
        limit: keep only the first ``limit`` images (quick experiments).
        seed: generator seed for ``binarize="static"``.
        download: try to download when the files are missing.

    Returns:
        ``(images, labels)``: float32 ``(N, 1, 28, 28)`` in [0, 1] and int64 ``(N,)``.

    Raises:
        DataNotFoundError: the files are missing (and could not be downloaded), truncated or corrupted; the message
            names the folder and the four files expected.
    """
    return load_dataset("mnist", split, root, binarize, limit=limit, seed=seed, download=download)


def load_fashion_mnist(
    split: str = "train",
    root: str | os.PathLike | None = None,
    binarize: str | None = None,
    *,
    limit: int | None = None,
    seed: int = 0,
    download: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """FashionMNIST through the same path as :func:`load_mnist` (folder ``FashionMNIST/raw``)."""
    return load_dataset("fashion", split, root, binarize, limit=limit, seed=seed, download=download)


def course_data(limit_full: int | None = None, limit_quick: int = 4096, test_quick: int = 2000, binarize=None):
    """The train and test tensors a notebook trains on, shrunk in quick mode.

    Returns ``(train_x, train_y, test_x, test_y)``. Full mode uses every training image (or ``limit_full``) and the
    whole test set; quick mode uses the first ``limit_quick`` training and ``test_quick`` test images.
    """
    from .config import pick

    train_x, train_y = load_mnist("train", binarize=binarize, limit=pick(limit_full, limit_quick))
    test_x, test_y = load_mnist("test", binarize=binarize, limit=pick(None, test_quick))
    return train_x, train_y, test_x, test_y
