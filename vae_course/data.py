"""MNIST and FashionMNIST as in-memory tensors.

Used by notebooks 00, 02, 03, 05-10 and 15 (Fashion-MNIST: 07, 15; make_shapes: 15), by the CLI (``python -m vae_course train``) and by ``benchmarks/``.

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
    levels and pass ``binarize="dynamic"`` to :func:`vae_course.training.fit`.
``"threshold"``
    ``x > 0.5``.
"""
from __future__ import annotations

import math
import os
import warnings
from functools import lru_cache
from pathlib import Path

import torch

from .config import check_seed, data_root

BINARIZE_CHOICES = (None, "static", "dynamic", "threshold")
_DATASETS = {"mnist": "MNIST", "fashion": "FashionMNIST", "fashionmnist": "FashionMNIST"}
_RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class DataNotFoundError(FileNotFoundError):
    """The dataset files are missing or unreadable, and could not be downloaded.

    The message is one sentence that names the folder or the bad file. :meth:`naming_root` gives the same sentence
    with the ``root`` argument called by another name (the CLI says ``--data-dir``).
    """

    def __init__(self, template: str):
        self.template = template
        super().__init__(template.format(root="the root argument"))

    def naming_root(self, root_name: str) -> str:
        """The message, with the ``root`` argument called ``root_name`` (e.g. ``"--data-dir"``)."""
        return self.template.format(root=root_name)


_REPLACE = "replace it with the original file, or delete it so that torchvision can download it again"
_IDX = {"images": (2051, 3), "labels": (2049, 1)}  # magic number and number of dimensions of the idx files


def _braces(text) -> str:
    """``text`` with its braces doubled, so that it survives ``str.format`` in a message template."""
    return str(text).replace("{", "{{").replace("}", "}}")


def _missing_message(name: str, root: Path, why: str) -> str:
    """A template (``{root}`` stands for the name of the root argument) for files that are not there."""
    raw, why = _braces(root / name / "raw"), _braces(why)
    files = ", ".join(_RAW_FILES)
    return (
        f"{name} could not be loaded from {raw} ({why}): put the four files {files} in that folder "
        f"(or point VAE_COURSE_DATA or {{root}} at the folder that contains {name}/raw), "
        f"or connect to the internet so torchvision can download them."
    )


def _bad_file(path: Path, problem: str, fix: str = _REPLACE) -> DataNotFoundError:
    return DataNotFoundError(_braces(f"{path} {problem}: {fix}."))


def _what_is_missing(missing: list[str]) -> str:
    if len(missing) == len(_RAW_FILES):
        return "the files are not there"
    return ", ".join(missing) + (" is missing" if len(missing) == 1 else " are missing")


def _short_reason(exc: BaseException) -> str:
    """The innermost line of a download error (torchvision nests the mirrors' errors), fit for one sentence."""
    lines = [line.strip().strip("<>").rstrip(".: ") for line in str(exc).splitlines() if line.strip()]
    lines = [line for line in lines if line and not line.startswith(("Error downloading", "Tried "))]
    text = lines[-1] if lines else type(exc).__name__
    return text.replace(". ", "; ")[:160]


def _check_idx_file(path: Path, kind: str) -> int:
    """Check the header and the size of one idx file and return how many items it holds (or raise, naming it)."""
    want_magic, ndim = _IDX[kind]
    if path.is_dir():
        raise _bad_file(path, "is a folder, not a file", "remove it and put the MNIST file of that name there")
    try:
        with open(path, "rb") as f:
            head = f.read(4 * (ndim + 1))
            size = f.seek(0, os.SEEK_END)
    except PermissionError:
        raise _bad_file(path, "cannot be read (permission denied)",
                        "give yourself read access to it, e.g. chmod u+r on the file") from None
    except OSError as exc:
        raise _bad_file(path, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    if head[:2] == b"\x1f\x8b":
        raise _bad_file(path, "is gzip-compressed", "gunzip it (or delete it, and torchvision downloads it again)")
    if size == 0:
        raise _bad_file(path, "is empty")
    if len(head) < 4 * (ndim + 1):
        raise _bad_file(path, f"is corrupted or truncated (only {size} bytes, shorter than an MNIST header)")
    magic = int.from_bytes(head[:4], "big")
    if magic != want_magic:
        other = "labels" if kind == "images" else "images"
        if magic == _IDX[other][0]:
            raise _bad_file(path, f"holds MNIST {other}, not {kind} (the images and labels files look swapped)",
                            "give each file its right name")
        raise _bad_file(path, f"is not an MNIST {kind} file (its header starts with {magic:#010x}, "
                              f"expected {want_magic:#010x})")
    dims = [int.from_bytes(head[4 * (i + 1):4 * (i + 2)], "big") for i in range(ndim)]
    if kind == "images" and dims[1:] != [28, 28]:
        raise _bad_file(path, f"holds {dims[1]}x{dims[2]} images, not 28x28")
    if dims[0] == 0:
        raise _bad_file(path, f"holds no {kind}")
    need = 4 * (ndim + 1) + math.prod(dims)
    if size != need:
        raise _bad_file(path, f"is corrupted or truncated (it has {size:,} bytes, its header promises {need:,})")
    return dims[0]


def _download(cls, name: str, root_path: Path, train: bool, missing: list[str]):
    """Let torchvision download the files; on failure remove the folders it created and raise, naming the files."""
    created = [p for p in (root_path, root_path / name, root_path / name / "raw") if not p.exists()]
    try:
        return cls(root=str(root_path), train=train, download=True)
    except Exception as exc:  # noqa: BLE001 - offline, HTTP errors, checksum errors all mean the same here
        for folder in reversed(created):  # no empty MNIST/raw left behind to look like data
            try:
                folder.rmdir()
            except OSError:
                pass
        raise DataNotFoundError(_missing_message(
            name, root_path, f"{_what_is_missing(missing)} and the download failed: {_short_reason(exc)}")) from None


def _torchvision_class(name: str):
    import torchvision.datasets as tvd

    return getattr(tvd, name)


@lru_cache(maxsize=8)
def _load_uint8(name: str, root: str, train: bool, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one split as uint8 (N, 28, 28) plus int64 labels; cached per process."""
    cls = _torchvision_class(name)
    root_path = Path(root)
    raw = root_path / name / "raw"
    if root_path.exists() and not root_path.is_dir():
        raise DataNotFoundError(f"the data folder {_braces(root_path)} is a file, not a folder: point VAE_COURSE_DATA "
                                f"or {{root}} at the folder that contains {name}/raw.")
    legacy = all((root_path / name / "processed" / f).is_file() for f in ("training.pt", "test.pt"))
    prefix = "train" if train else "t10k"
    images_file, labels_file = raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not legacy:
            missing = [f for f in _RAW_FILES if not (raw / f).exists()]
            if missing:
                if not download:
                    raise DataNotFoundError(_missing_message(name, root_path, _what_is_missing(missing)))
                _download(cls, name, root_path, train, missing)
            n_images = _check_idx_file(images_file, "images")
            n_labels = _check_idx_file(labels_file, "labels")
            if n_images != n_labels:
                raise _bad_file(images_file, f"holds {n_images:,} images but {labels_file.name} holds {n_labels:,} "
                                             f"labels", "replace both with the original files")
        try:
            ds = cls(root=root, train=train, download=False)
            images, labels = ds.data, ds.targets
        except Exception as exc:  # noqa: BLE001 - what the checks above did not catch: name the split's two files
            raise DataNotFoundError(_missing_message(
                name, root_path, f"{images_file.name} or {labels_file.name} is corrupted or truncated "
                                 f"({type(exc).__name__})")) from None
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels) or len(images) == 0:
        raise DataNotFoundError(_missing_message(
            name, root_path, f"images {tuple(images.shape)} and labels {tuple(labels.shape)} do not match"))
    labels = labels.long()
    if int(labels.min()) < 0 or int(labels.max()) > 9:
        raise _bad_file(labels_file, "holds labels outside 0-9")
    return images, labels


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
    seed = check_seed(seed)
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
    """Fashion-MNIST (Xiao et al. 2017: 60,000 + 10,000 grey 28x28 images of clothing, ten classes) through the same
    path as :func:`load_mnist`: the folder ``FashionMNIST/raw`` under ``root``, else ``$VAE_COURSE_DATA``, else
    ``<repo>/data``. Same arguments and return values as :func:`load_mnist`."""
    return load_dataset("fashion", split, root, binarize, limit=limit, seed=seed, download=download)


def course_data(limit_full: int | None = None, limit_quick: int = 4096, test_quick: int = 2000, binarize=None,
                dataset: str = "mnist"):
    """The train and test tensors a notebook trains on, shrunk in quick mode.

    Returns ``(train_x, train_y, test_x, test_y)``. Full mode uses every training image (or ``limit_full``) and the
    whole test set; quick mode uses the first ``limit_quick`` training and ``test_quick`` test images. ``dataset`` is
    ``"mnist"`` or ``"fashion"`` (Fashion-MNIST, notebook 07).
    """
    from .config import pick

    train_x, train_y = load_dataset(dataset, "train", binarize=binarize, limit=pick(limit_full, limit_quick))
    test_x, test_y = load_dataset(dataset, "test", binarize=binarize, limit=pick(None, test_quick))
    return train_x, train_y, test_x, test_y


SHAPE_FACTORS = ("shape", "scale", "rotation", "x", "y")  # make_shapes' factors, in the columns' order
SHAPE_LEVELS = (3, 4, 6, 8, 8)  # how many values each factor takes


def make_shapes(n: int, seed: int = 0):
    """``n`` procedurally drawn 28 x 28 sprites with known factors, in the spirit of dSprites (notebook 15).

    Each image shows one white shape on black: a square, an ellipse (2:1) or a triangle, at one of 4 scales (half-size
    2.5 to 5.5 pixels), 6 rotations (0 to 75 degrees, equally spaced over a square's quarter turn) and 8 x 8 positions
    (centre 8 to 20 pixels). Each factor is drawn uniformly and independently with a generator seeded by ``seed``;
    pixels are the shape's coverage on a 3 x 3 subpixel grid (anti-aliased). 28 x 28 so that every model of the course
    takes them as they are.

    Returns ``(images, factors, factor_names)``: images ``(n, 1, 28, 28)`` float32 in [0, 1]; factors ``(n, 5)``
    int64, column k the index (0 to ``SHAPE_LEVELS[k] - 1``) of factor ``factor_names[k]``
    (``("shape", "scale", "rotation", "x", "y")``; shape 0 square, 1 ellipse, 2 triangle).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n={n!r} must be a positive whole number of images, e.g. make_shapes(10000).")
    gen = torch.Generator().manual_seed(check_seed(seed))
    factors = torch.stack([torch.randint(k, (n,), generator=gen) for k in SHAPE_LEVELS], dim=1)  # (n, 5)
    sub = (torch.arange(28 * 3, dtype=torch.float32) + 0.5) / 3  # (84,) subpixel centres
    images = torch.empty(n, 1, 28, 28)
    for i in range(0, n, 2048):
        f = factors[i:i + 2048].float()  # (b, 5)
        half = (2.5 + f[:, 1])[:, None, None]  # (b, 1, 1)
        angle = (f[:, 2] * (math.pi / 2) / 6)[:, None, None]
        dx = sub[None, None, :] - (8 + 12 * f[:, 3] / 7)[:, None, None]  # (b, 1, 84)
        dy = sub[None, :, None] - (8 + 12 * f[:, 4] / 7)[:, None, None]  # (b, 84, 1)
        u = (dx * torch.cos(angle) + dy * torch.sin(angle)) / half  # (b, 84, 84), in the shape's own frame
        v = (-dx * torch.sin(angle) + dy * torch.cos(angle)) / half
        square = torch.maximum(u.abs(), v.abs()) <= 1
        ellipse = u ** 2 + (2 * v) ** 2 <= 1
        triangle = (v <= 0.5) & (v >= 1.732 * u.abs() - 1)  # an equilateral triangle, apex up
        kind = f[:, 0].long()[:, None, None]
        inside = torch.where(kind == 0, square, torch.where(kind == 1, ellipse, triangle)).float()
        images[i:i + 2048, 0] = inside.reshape(-1, 28, 3, 28, 3).mean(dim=(2, 4))
    return images, factors, SHAPE_FACTORS
