import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from vae_course.models import VAE, ConvVAE, VAEConfig
from vae_course.training import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from vae_course.training import History


@pytest.mark.parametrize("model", [VAE(latent_dim=3), ConvVAE(latent_dim=2, channels=4, hidden_dim=16)])
def test_roundtrip_rebuilds_model(tmp_path, model):
    path = save_checkpoint(model, tmp_path / "sub" / "m.pt", history=History(train_loss=[1.0]))
    loaded, hist = load_checkpoint(path, with_history=True)
    assert type(loaded) is type(model) and loaded.config == model.config
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert hist["train_loss"] == [1.0] and not loaded.training
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # a normal file, not mkstemp's private 0600


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    save_checkpoint(VAE(), path)
    good = path.read_bytes()

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(VAE(latent_dim=5), path)
    assert path.read_bytes() == good  # the old checkpoint is intact
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # and no temp file is left behind


def test_loads_weights_only(tmp_path, monkeypatch):
    seen = {}
    real_load = torch.load

    def spy(*a, **k):
        seen.update(k)
        return real_load(*a, **k)

    save_checkpoint(VAE(), tmp_path / "m.pt")
    monkeypatch.setattr(torch, "load", spy)
    load_checkpoint(tmp_path / "m.pt")
    assert seen.get("weights_only") is True


def test_refuses_other_config(tmp_path):
    save_checkpoint(VAE(latent_dim=20), tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match=r"latent_dim=20 \(you asked for 2\)"):
        load_checkpoint(tmp_path / "m.pt", expected_config=VAEConfig(latent_dim=2))
    with pytest.raises(CheckpointError, match="different configuration"):
        load_checkpoint(tmp_path / "m.pt", expected_config=VAE(latent_dim=2))
    assert load_checkpoint(tmp_path / "m.pt", expected_config={"latent_dim": 20}).latent_dim == 20


def test_missing_and_corrupt(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable course checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")
    torch.save({"hello": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a course checkpoint"):
        read_checkpoint(tmp_path / "other.pt")


def test_unknown_class_and_wrong_weights(tmp_path):
    path = save_checkpoint(VAE(), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["model_class"] = "Mystery"
    torch.save(payload, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="'Mystery' model"):
        load_checkpoint(tmp_path / "x.pt")
    payload["model_class"] = "VAE"
    payload["config"]["hidden_dim"] = 10
    torch.save(payload, tmp_path / "y.pt")
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_checkpoint(tmp_path / "y.pt")


def test_any_course_model_loads_in_a_fresh_process(tmp_path):
    import subprocess
    import sys

    from vae_course.models import CVAE

    path = save_checkpoint(CVAE(latent_dim=2), tmp_path / "cvae.pt")
    code = f"from vae_course.training.checkpoints import load_checkpoint; print(type(load_checkpoint({str(path)!r})).__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "CVAE"


def test_bad_stored_config_is_a_checkpoint_error(tmp_path):
    path = save_checkpoint(VAE(), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["config"]["latent_dim"] = 0
    torch.save(payload, tmp_path / "z.pt")
    with pytest.raises(CheckpointError, match="does not build a VAE"):
        load_checkpoint(tmp_path / "z.pt")


# --- issue 13: what save_checkpoint writes, load_checkpoint reads; hostile configs are refused before allocating ---
def test_numpy_scalars_in_extra_load_back(tmp_path):
    path = save_checkpoint(VAE(), tmp_path / "m.pt", extra={"nll": np.float64(1.5), "k": [np.int64(3)]})
    load_checkpoint(path)
    assert read_checkpoint(path)["extra"] == {"nll": 1.5, "k": [3]}


def test_an_unloadable_extra_is_refused_at_save_naming_the_key(tmp_path):
    with pytest.raises(TypeError, match=r"extra\['where'\]"):
        save_checkpoint(VAE(), tmp_path / "m.pt", extra={"where": tmp_path})
    assert list(tmp_path.iterdir()) == []  # nothing saved, no temporary file left


def test_a_hostile_config_is_refused_before_it_allocates(tmp_path):
    payload = torch.load(save_checkpoint(VAE(), tmp_path / "m.pt"), weights_only=True)
    payload["config"].update(hidden_dim=20000, latent_dim=20000)  # 5 GB of weights if it were built
    torch.save(payload, tmp_path / "hostile.pt")
    code = (f"import resource, sys\nfrom vae_course.training.checkpoints import CheckpointError, load_checkpoint\n"
            f"try:\n    load_checkpoint({str(tmp_path / 'hostile.pt')!r})\n"
            f"except CheckpointError as exc:\n    print('refused:', exc)\n"
            f"print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "refused:" in out.stdout and "fc1.weight is (400, 784) in the file" in out.stdout
    assert int(out.stdout.split()[-1]) < 2000, f"peak memory {out.stdout.split()[-1]} MB"


def test_an_absurd_size_is_refused_with_a_sentence(tmp_path):
    payload = torch.load(save_checkpoint(VAE(), tmp_path / "m.pt"), weights_only=True)
    for size in (10**7, 10**19):
        payload["config"].update(hidden_dim=size, latent_dim=size)
        torch.save(payload, tmp_path / "huge.pt")
        with pytest.raises(CheckpointError, match="absurd size"):
            load_checkpoint(tmp_path / "huge.pt")


def test_a_conv_vae_vae_mismatch_names_both_classes(tmp_path):
    path = save_checkpoint(ConvVAE(), tmp_path / "conv.pt")
    with pytest.raises(CheckpointError, match="holds a ConvVAE, not a VAE"):
        load_checkpoint(path, expected_config=VAE())
    payload = torch.load(path, weights_only=True)
    payload["model_class"], payload["config"] = "VAE", {"latent_dim": 2}
    torch.save(payload, tmp_path / "renamed.pt")
    with pytest.raises(CheckpointError, match="holds a VAE, but its weights are those of a ConvVAE"):
        load_checkpoint(tmp_path / "renamed.pt")
