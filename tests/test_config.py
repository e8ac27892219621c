import pytest
import torch

from vae_course import config


def test_quick_mode_switch(monkeypatch):
    monkeypatch.setenv("VAE_COURSE_QUICK", "1")
    assert config.is_quick() and config.pick(10, 2) == 2 and config.mode_name() == "quick"
    monkeypatch.setenv("VAE_COURSE_QUICK", "0")
    assert not config.is_quick() and config.pick(10, 2) == 10
    monkeypatch.delenv("VAE_COURSE_QUICK")
    assert not config.is_quick()


def test_quick_mode_rejects_garbage(monkeypatch):
    monkeypatch.setenv("VAE_COURSE_QUICK", "maybe")
    with pytest.raises(ValueError, match="VAE_COURSE_QUICK"):
        config.is_quick()


def test_data_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_COURSE_DATA", str(tmp_path))
    assert config.data_root() == tmp_path
    assert config.data_root(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv("VAE_COURSE_DATA")
    assert config.data_root() == config.REPO_ROOT / "data"


def test_checkpoint_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_COURSE_CHECKPOINTS", str(tmp_path / "ck"))
    assert config.checkpoint_dir() == tmp_path / "ck" and (tmp_path / "ck").is_dir()


def test_device_auto_detection(monkeypatch):
    assert config.get_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.get_device(None).type == "cuda"
    assert config.get_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert config.get_device().type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert config.get_device().type == "cpu"


def test_device_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        config.get_device("cuda")
    with pytest.raises(ValueError, match="not a device name"):
        config.get_device("gpu0")


def test_seed_everything_repeats():
    config.seed_everything(3)
    a = torch.randn(3)
    gen = config.seed_everything(3)
    assert torch.equal(a, torch.randn(3))
    assert torch.equal(torch.randn(2, generator=gen), torch.randn(2, generator=torch.Generator().manual_seed(3)))
