import os
import subprocess
import re
import sys
from pathlib import Path

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
    monkeypatch.setenv("VAE_COURSE_QUICK", "0")
    assert config.checkpoint_dir() == tmp_path / "ck" and (tmp_path / "ck").is_dir()


def test_quick_mode_keeps_its_own_checkpoints(monkeypatch, tmp_path):
    """A quick run (pytest) must not overwrite the full-mode models: by default it saves in checkpoints/quick."""
    monkeypatch.delenv("VAE_COURSE_CHECKPOINTS", raising=False)
    monkeypatch.setenv("VAE_COURSE_QUICK", "0")
    full = config.checkpoint_dir()
    monkeypatch.setenv("VAE_COURSE_QUICK", "1")
    quick = config.checkpoint_dir()
    assert full == config.REPO_ROOT / "checkpoints" and quick == full / "quick"
    monkeypatch.setenv("VAE_COURSE_CHECKPOINTS", str(tmp_path))  # a folder the user chose: quick mode in its subfolder
    assert config.checkpoint_dir() == tmp_path / "quick"
    monkeypatch.setenv("VAE_COURSE_QUICK", "0")
    assert config.checkpoint_dir() == tmp_path


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


# --- issue 13: plain `pytest` runs quick mode, shows skip reasons, and names autosaved notebooks --------------------
REPO = Path(__file__).resolve().parents[1]


def _quick_after_conftest(env_value):
    env = {k: v for k, v in os.environ.items() if k != "VAE_COURSE_QUICK"}
    if env_value is not None:
        env["VAE_COURSE_QUICK"] = env_value
    code = "import os, runpy; runpy.run_path('conftest.py'); print(os.environ.get('VAE_COURSE_QUICK'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_pytest_defaults_to_quick_mode_and_keeps_an_explicit_choice():
    assert _quick_after_conftest(None) == "1"
    assert _quick_after_conftest("0") == "0"


def test_pytest_shows_skip_reasons():
    addopts = re.search(r'^addopts = "([^"]*)"', (REPO / "pyproject.toml").read_text(), re.M).group(1)
    assert "-rs" in addopts.split()


def test_a_failing_notebook_that_git_shows_modified_gets_a_hint(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("tests_conftest", REPO / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "notebooks").mkdir()
    for name in ("01_a.ipynb", "02_b.ipynb"):
        (tmp_path / "notebooks" / name).write_text("{}")
    git("add", "-A")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x")
    (tmp_path / "notebooks" / "01_a.ipynb").write_text('{"autosaved": 1}')
    lines = conftest.modified_notebook_hints(tmp_path, ["notebooks/01_a.ipynb::Cell 3", "notebooks/02_b.ipynb::Cell 1",
                                                        "tests/test_x.py::test_y"])
    assert len(lines) == 1 and "notebooks/01_a.ipynb" in lines[0] and "git checkout notebooks/" in lines[0]
