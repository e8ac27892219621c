import gzip
import shutil
import struct

import numpy as np
import pytest
import torch

from vae_course import data
from vae_course.data import DataNotFoundError, load_mnist


def test_shapes_dtypes_range(mnist_small):
    train_x, train_y, test_x, test_y = mnist_small
    assert train_x.shape == (512, 1, 28, 28) and train_x.dtype == torch.float32
    assert train_y.shape == (512,) and train_y.dtype == torch.int64
    assert test_x.shape == (256, 1, 28, 28)
    assert 0.0 <= float(train_x.min()) and float(train_x.max()) <= 1.0
    assert set(test_y.tolist()) <= set(range(10))


def test_full_test_split_and_labels():
    images, labels = load_mnist("test", download=False)
    assert images.shape == (10000, 1, 28, 28)
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_binarize_modes(mnist_small):
    a, _ = load_mnist("test", binarize="static", limit=64)
    b, _ = load_mnist("test", binarize="static", limit=64)
    assert torch.equal(a, b) and set(a.unique().tolist()) <= {0.0, 1.0}
    c, _ = load_mnist("test", binarize="static", limit=64, seed=1)
    assert not torch.equal(a, c)
    torch.manual_seed(0)
    d1, _ = load_mnist("test", binarize="dynamic", limit=64)
    d2, _ = load_mnist("test", binarize="dynamic", limit=64)
    assert not torch.equal(d1, d2) and set(d1.unique().tolist()) <= {0.0, 1.0}
    t, _ = load_mnist("test", binarize="threshold", limit=64)
    grey, _ = load_mnist("test", limit=64)
    assert torch.equal(t, (grey > 0.5).float())


def test_results_are_independent_copies():
    a, la = load_mnist("test", limit=8)
    a.zero_()
    la.zero_()
    b, lb = load_mnist("test", limit=8)
    assert b.sum() > 0 and lb.sum() > 0


@pytest.mark.parametrize("kwargs, match", [
    ({"split": "valid"}, "split"),
    ({"binarize": "yes"}, "binarize"),
    ({"limit": 0}, "limit"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_mnist(**kwargs)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="not known"):
        data.load_dataset("cifar")


def test_missing_folder_offline_names_files(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        load_mnist("test", root=tmp_path, download=False)
    msg = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in msg
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        assert name in msg


def test_failed_download_is_clear(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def offline(self, *a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(tvd.MNIST, "download", offline)
    with pytest.raises(DataNotFoundError, match="download failed: network unreachable"):
        load_mnist("test", root=tmp_path)


def test_truncated_file_is_clear(tmp_path):
    from vae_course.config import data_root

    src = data_root() / "MNIST" / "raw"
    dst = tmp_path / "MNIST" / "raw"
    dst.mkdir(parents=True)
    for f in src.iterdir():
        shutil.copy(f, dst / f.name)
    blob = (dst / "t10k-images-idx3-ubyte").read_bytes()
    (dst / "t10k-images-idx3-ubyte").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataNotFoundError, match="corrupted or truncated"):
        load_mnist("test", root=tmp_path, download=False)


def test_fashion_missing_is_clear(tmp_path):
    with pytest.raises(DataNotFoundError, match="FashionMNIST"):
        data.load_fashion_mnist("test", root=tmp_path, download=False)


def test_course_data_quick(monkeypatch):
    monkeypatch.setenv("VAE_COURSE_QUICK", "1")
    tx, ty, vx, vy = data.course_data(limit_quick=100, test_quick=50)
    assert tx.shape[0] == 100 and vx.shape[0] == 50 and ty.shape == (100,)


# --- issue 13: damaged data files get one sentence that names the file -----------------------------------------
def _fake_mnist(root, n=10):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 256, n * 784, dtype=np.uint8).tobytes()
    for prefix in ("train", "t10k"):
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + pixels)
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + bytes(range(n)))
    return raw


def _offline(monkeypatch):
    """torchvision's download, failing as it does without a network (it makes the raw folder first)."""
    import os

    import torchvision.datasets as tvd

    def fail(ds):
        os.makedirs(ds.raw_folder, exist_ok=True)
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://ossci-datasets.s3.amazonaws"
                           ".com/mnist/, got:\n<urlopen error [Errno -3] Temporary failure in name resolution>\n")

    monkeypatch.setattr(tvd.MNIST, "download", fail)


def test_gzip_file_under_the_raw_name_is_named(tmp_path):
    path = _fake_mnist(tmp_path) / "t10k-images-idx3-ubyte"
    path.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(DataNotFoundError) as info:
        load_mnist("test", root=tmp_path, download=False)
    assert str(path) in str(info.value) and "gzip-compressed: gunzip it" in str(info.value)


def test_bad_magic_number_names_the_file(tmp_path):
    path = _fake_mnist(tmp_path) / "t10k-labels-idx1-ubyte"
    path.write_bytes(struct.pack(">II", 0xDEADBEEF, 10) + bytes(10))
    with pytest.raises(DataNotFoundError) as info:
        load_mnist("test", root=tmp_path, download=False)
    assert str(path) in str(info.value) and "0xdeadbeef" in str(info.value)


def test_missing_labels_file_is_named_not_the_download(tmp_path, monkeypatch):
    _offline(monkeypatch)
    (_fake_mnist(tmp_path) / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataNotFoundError) as info:
        load_mnist("test", root=tmp_path)
    msg = str(info.value)
    assert "t10k-labels-idx1-ubyte is missing and the download failed" in msg
    assert "Error downloading" not in msg and "train-images-idx3-ubyte.gz" not in msg


def test_permission_denied_is_not_called_corrupted(tmp_path, monkeypatch):
    import builtins

    path = _fake_mnist(tmp_path) / "t10k-images-idx3-ubyte"
    real_open = builtins.open

    def deny(file, *args, **kwargs):  # we may run as root, where chmod 000 does not stop reading
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    with pytest.raises(DataNotFoundError) as info:
        load_mnist("test", root=tmp_path, download=False)
    msg = str(info.value)
    assert str(path) in msg and "permission denied" in msg and "corrupt" not in msg


def test_a_failed_download_leaves_no_empty_folders(tmp_path, monkeypatch):
    _offline(monkeypatch)
    with pytest.raises(DataNotFoundError):
        load_mnist("test", root=tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_static_seed_is_checked(tmp_path):
    _fake_mnist(tmp_path)
    with pytest.raises(ValueError, match="seed="):
        load_mnist("test", root=tmp_path, binarize="static", seed=2**70, download=False)


# --- issue 23: the complete data sets, and Fashion-MNIST from the same folder as MNIST ---------------------------
def test_the_data_folder_holds_complete_mnist_and_fashion_mnist():
    for load in (load_mnist, data.load_fashion_mnist):
        train, test = load("train", download=False)[0], load("test", download=False)[0]
        assert (train.shape[0], test.shape[0]) == (60_000, 10_000), load.__name__
    assert data.load_fashion_mnist("test", download=False)[1][:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]


def test_fashion_mnist_reads_vae_course_data(tmp_path, monkeypatch):
    raw = _fake_mnist(tmp_path / "elsewhere", n=7)
    shutil.copytree(raw, tmp_path / "FashionMNIST" / "raw")
    monkeypatch.setenv("VAE_COURSE_DATA", str(tmp_path))
    images, labels = data.load_fashion_mnist("test", download=False)
    assert images.shape == (7, 1, 28, 28) and labels.tolist() == list(range(7))
    with pytest.raises(DataNotFoundError, match="MNIST"):  # the same folder has no MNIST: its loader says so
        load_mnist("test", download=False)


def test_course_data_of_fashion_mnist(monkeypatch):
    monkeypatch.setenv("VAE_COURSE_QUICK", "1")
    tx, ty, vx, vy = data.course_data(limit_quick=100, test_quick=50, dataset="fashion")
    assert tx.shape == (100, 1, 28, 28) and vy.shape == (50,)
    assert torch.equal(tx, data.load_fashion_mnist("train", limit=100)[0])
    with pytest.raises(ValueError, match="not known"):
        data.course_data(dataset="cifar")
