import os
import subprocess
import sys

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
    from vae_course.checkpoints import load_checkpoint

    assert load_checkpoint(tmp_path / "vae.pt").num_parameters() == 631_188
