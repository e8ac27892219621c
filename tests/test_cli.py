import gzip
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from vae_course.__main__ import build_parser, main


@pytest.mark.parametrize("argv, needle", [
    (["train", "--latent-dim", "0"], "--latent-dim: '0' must be at least 1"),
    (["train", "--epochs", "-1"], "--epochs: '-1' must be at least 1"),
    (["train", "--lr", "abc"], "--lr: 'abc' is not a number"),
    (["train", "--lr", "0"], "must be a positive number"),
    (["train", "--device", "tpu"], "is not a device"),
    (["train", "--batch-size", "1.5"], "is not a whole number"),
])
def test_bad_arguments_exit_2_without_traceback(argv, needle, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_defaults_are_the_reference():
    args = build_parser().parse_args(["train"])
    assert (args.epochs, args.latent_dim, args.hidden_dim, args.batch_size, args.lr, args.seed, args.device) == \
        (10, 2, 400, 128, 1e-3, 0, "auto")


def test_missing_data_is_a_clear_error(tmp_path):
    env = dict(os.environ, VAE_COURSE_DATA=str(tmp_path / "empty"))
    proc = subprocess.run([sys.executable, "-m", "vae_course", "train", "--epochs", "1", "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120,
                          input="")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "MNIST could not be loaded" in proc.stderr and "t10k-images-idx3-ubyte" in proc.stderr


def test_train_writes_outputs(tmp_path, monkeypatch, capsys):
    import vae_course.data as data

    real = data.load_mnist

    def small(split="train", root=None, **kw):  # keep the unit test fast: 512 / 256 real images
        return real(split, root, limit=512 if split == "train" else 256)

    monkeypatch.setattr(data, "load_mnist", small)
    assert main(["train", "--epochs", "2", "--out", str(tmp_path), "--no-progress", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "Epoch 1, train loss: " in out and "Epoch 2, train loss: " in out and "test loss: " in out
    for name in ("vae.pt", "samples.png", "reconstructions.png"):
        assert (tmp_path / name).stat().st_size > 0
    from vae_course.training import load_checkpoint

    assert load_checkpoint(tmp_path / "vae.pt").num_parameters() == 631_188


# --- issue 13: --out is checked first, every OSError is one line, Ctrl-C exits 130, PNGs are readable -------------
def _fake_mnist(root, n=64):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 256, n * 784, dtype=np.uint8).tobytes()
    for prefix in ("train", "t10k"):
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + pixels)
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + bytes(i % 10 for i in range(n)))
    return raw


def _no_data_loading(monkeypatch):
    import vae_course.data as data

    def refuse(*args, **kwargs):
        raise AssertionError("the CLI loaded data before it checked --out")

    monkeypatch.setattr(data, "load_mnist", refuse)


def _one_error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_a_read_only_out_is_refused_before_loading_data(tmp_path, monkeypatch, capsys):
    import tempfile

    real = tempfile.NamedTemporaryFile

    def read_only(*args, dir=None, **kwargs):  # noqa: A002 - we may run as root, where chmod does not stop writes
        if dir is not None and str(dir) == str(tmp_path / "ro"):
            raise PermissionError(13, "Permission denied", str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only)
    _no_data_loading(monkeypatch)
    assert main(["train", "--epochs", "1", "--out", str(tmp_path / "ro")]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert f"--out {tmp_path / 'ro'} cannot be written (Permission denied)" in line


@pytest.mark.parametrize("make_out", [lambda p: p / "afile", lambda p: p / "afile" / "run"], ids=["file", "under-file"])
def test_out_that_cannot_be_a_folder_is_one_error_line(tmp_path, monkeypatch, capsys, make_out):
    (tmp_path / "afile").write_text("x")
    _no_data_loading(monkeypatch)
    assert main(["train", "--out", str(make_out(tmp_path))]) == 1
    assert "--out" in _one_error_line(capsys.readouterr().err)


def test_the_data_error_names_data_dir_and_the_bad_file(tmp_path, capsys):
    path = _fake_mnist(tmp_path / "data") / "t10k-images-idx3-ubyte"
    path.write_bytes(gzip.compress(path.read_bytes()))
    assert main(["train", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "out")]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert str(path) in line and "gunzip it" in line
    assert main(["train", "--data-dir", str(tmp_path / "DIR"), "--out", str(tmp_path / "out")]) == 1
    assert "--data-dir" in _one_error_line(capsys.readouterr().err)


def test_a_huge_seed_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--seed", str(2**70)])
    assert info.value.code == 2 and "--seed" in capsys.readouterr().err


def test_ctrl_c_saves_and_exits_130(tmp_path, monkeypatch, capsys):
    import vae_course.training as training

    real = training.fit

    def ctrl_c_after_epoch_1(*args, callbacks=(), **kwargs):
        def stop(epoch, hist):
            for report in callbacks:
                report(epoch, hist)
            raise KeyboardInterrupt

        return real(*args, callbacks=[stop], **kwargs)

    monkeypatch.setattr(training, "fit", ctrl_c_after_epoch_1)
    _fake_mnist(tmp_path / "data")
    status = main(["train", "--epochs", "3", "--batch-size", "16", "--no-progress", "--device", "cpu",
                   "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 130
    assert "interrupted after 1 of 3 epochs" in err and "the checkpoint is of an interrupted run" in err
    from vae_course.training import read_checkpoint

    payload = read_checkpoint(tmp_path / "out" / "vae.pt")
    assert payload["history"]["interrupted"] and payload["extra"]["interrupted"]


def test_the_pngs_are_readable(tmp_path, capsys):
    from PIL import Image

    _fake_mnist(tmp_path / "data")
    assert main(["train", "--epochs", "1", "--batch-size", "16", "--no-progress", "--device", "cpu",
                 "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "out")]) == 0
    for name, rows in (("samples.png", 8), ("reconstructions.png", 2)):
        width, height = Image.open(tmp_path / "out" / name).size
        assert width >= 4 * (8 * 30 + 2), (name, width)  # make_grid's 8 columns of 28 px + 2 px padding, 4x
        assert height >= 4 * (rows * 30 + 2), (name, height)
