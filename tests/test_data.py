import shutil

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
