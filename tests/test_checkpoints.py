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


# ------------------------------------------------------------------------------------- nothing lost (issue 27 §2)
import signal
import time
from pathlib import Path

from vae_course import config
from vae_course.training import load_or_train, previous_path, remove_stale_temp_files, weights_checksum


def dead_pid() -> int:
    """The pid of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_save_leaves_temp_files_that_the_next_save_removes(tmp_path):
    """SIGKILL during a save leaves its temporary file; the next save in that folder removes it (and only it)."""
    code = ("import os, signal, torch\nfrom vae_course.models import VAE\nfrom vae_course.training import "
            "save_checkpoint\nreal = torch.save\ndef save_then_die(obj, f, *a, **k):\n    real(obj, f, *a, **k)\n"
            "    f.flush()\n    os.kill(os.getpid(), signal.SIGKILL)\ntorch.save = save_then_die\n"
            f"save_checkpoint(VAE(), {str(tmp_path / 'vae.pt')!r})\n")
    killed = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent)
    assert killed.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".vae.pt.") and left[0].endswith(".tmp")  # what SIGKILL leaves
    mine = tmp_path / "notes.tmp"
    mine.write_text("a file of the learner's own")
    live = tmp_path / f".other.pt.{os.getpid()}.abcdefgh.tmp"  # a save of a running process: kept
    live.write_bytes(b"in progress")
    save_checkpoint(VAE(), tmp_path / "other.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["notes.tmp", live.name, "other.pt"])
    old = time.time() - 2 * 3600
    os.utime(live, (old, old))  # an hour old: stale even though the pid runs (pids are reused)
    assert remove_stale_temp_files(tmp_path) == [live] and mine.exists()


def test_a_stale_temp_file_of_a_dead_process_goes(tmp_path):
    stale = tmp_path / f".vae_latent2.pt.{dead_pid()}.k3j_x9q2.tmp"
    stale.write_bytes(b"x" * 1000)
    save_checkpoint(VAE(), tmp_path / "vae_latent2.pt")
    assert not stale.exists()


def test_flipped_bytes_in_the_weights_are_caught(tmp_path):
    path = save_checkpoint(VAE(), tmp_path / "m.pt")
    data = bytearray(path.read_bytes())
    stored = torch.load(path, weights_only=True)["state_dict"]["fc1.weight"]
    at = bytes(data).find(stored.numpy().tobytes()[:64])  # where fc1's weights lie in the file
    assert at > 0
    data[at + 5] ^= 0x10  # one bit of one weight
    path.write_bytes(bytes(data))
    assert torch.load(path, weights_only=True)["state_dict"]["fc1.weight"].isfinite().all()  # torch loads it silently
    with pytest.raises(CheckpointError, match="its weights fc1.weight do not match the checksum") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_the_checksum_covers_names_and_values():
    a = VAE().state_dict()
    b = {k: v.clone() for k, v in a.items()}
    assert weights_checksum(a) == weights_checksum(b)
    b["fc1.bias"][0] += 1e-6
    assert weights_checksum(a)["fc1.bias"] != weights_checksum(b)["fc1.bias"]
    assert weights_checksum(a)["fc1.weight"] == weights_checksum(b)["fc1.weight"]


def test_a_checkpoint_without_a_checksum_still_loads(tmp_path):
    """Checkpoints saved before the checksum (the cached models of a full run) keep loading."""
    path = save_checkpoint(VAE(latent_dim=3), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    del payload["weights_sha256"]
    torch.save(payload, path)
    assert load_checkpoint(path).latent_dim == 3


def test_nan_weights_are_refused_on_load(tmp_path):
    model = VAE()
    with torch.no_grad():
        model.fc4.bias[3] = float("nan")
    path = save_checkpoint(model, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match=r"NaN or infinite weights \(in fc4.bias\)"):
        load_checkpoint(path)


# ------------------------------------------------------------------------------------------------- load_or_train
@pytest.fixture
def tiny_data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(256, 1, 28, 28, generator=g), torch.rand(64, 1, 28, 28, generator=g)


def quick_train(folder, data, **kw):
    train, test = data
    return load_or_train(2, train_images=train, test_images=test, folder=folder, progress=False, **kw)


def test_another_recipe_keeps_the_old_checkpoint_beside_the_new(tmp_path, tiny_data, capsys):
    first = quick_train(tmp_path, tiny_data, epochs=1)
    old = first.path.read_bytes()
    second = quick_train(tmp_path, tiny_data, epochs=2)
    assert second.trained and second.recipe.epochs == 2
    kept = previous_path(first.path)
    assert kept.name == "vae_latent2.previous.pt" and kept.read_bytes() == old
    assert "is kept as vae_latent2.previous.pt" in capsys.readouterr().out
    assert quick_train(tmp_path, tiny_data, epochs=2).trained is False  # the new one is found again


def test_retrain_keeps_the_old_checkpoint_too(tmp_path, tiny_data):
    first = quick_train(tmp_path, tiny_data, epochs=1, verbose=False)
    old = first.path.read_bytes()
    quick_train(tmp_path, tiny_data, epochs=1, retrain=True, verbose=False)
    assert previous_path(first.path).read_bytes() == old


def test_an_unwritable_folder_is_refused_before_training(tmp_path, tiny_data, monkeypatch):
    import tempfile

    import vae_course.training.pretrained as pretrained

    real = tempfile.NamedTemporaryFile

    def denied(*args, dir=None, **kwargs):  # noqa: A002
        if dir is not None and Path(dir) == tmp_path:
            raise PermissionError(13, "Permission denied", str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", denied)
    monkeypatch.setattr(pretrained, "train_reference", lambda *a, **k: pytest.fail("it trained first"))
    with pytest.raises(CheckpointError, match="cannot be written") as info:
        quick_train(tmp_path, tiny_data, epochs=1)
    assert str(tmp_path) in str(info.value) and "folder=" in str(info.value)


def test_a_corrupt_checkpoint_is_called_unreadable_not_recipe_less(tmp_path, tiny_data, capsys):
    (tmp_path / "vae_latent2.pt").write_bytes(b"garbage" * 100)
    run = quick_train(tmp_path, tiny_data, epochs=1)
    out = capsys.readouterr().out
    assert run.trained and "(the checkpoint could not be read)" in out and "no recipe" not in out
    assert (tmp_path / "vae_latent2.previous.pt").read_bytes() == b"garbage" * 100


def test_a_conv_vae_under_the_reference_name_is_not_the_reference(tmp_path, tiny_data, capsys):
    first = quick_train(tmp_path, tiny_data, epochs=1, verbose=False)
    extra = torch.load(first.path, weights_only=True)["extra"]
    save_checkpoint(ConvVAE(latent_dim=2), first.path, extra=extra)  # the reference recipe, another model
    run = quick_train(tmp_path, tiny_data, epochs=1)
    assert run.trained and type(run.model) is VAE
    assert "holds a ConvVAE, not the reference VAE" in capsys.readouterr().out


def test_quick_mode_keeps_its_own_subfolder_of_a_chosen_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_COURSE_CHECKPOINTS", str(tmp_path))
    monkeypatch.setenv("VAE_COURSE_QUICK", "0")
    full = config.checkpoint_dir()
    monkeypatch.setenv("VAE_COURSE_QUICK", "1")
    assert full == tmp_path and config.checkpoint_dir() == tmp_path / "quick"


def test_a_checkpoint_folder_that_is_a_file_is_one_sentence(tmp_path, monkeypatch):
    (tmp_path / "f").write_text("x")
    monkeypatch.setenv("VAE_COURSE_CHECKPOINTS", str(tmp_path / "f"))
    for quick in ("0", "1"):
        monkeypatch.setenv("VAE_COURSE_QUICK", quick)
        with pytest.raises(ValueError, match=r"VAE_COURSE_CHECKPOINTS=.* is a file, not a folder"):
            config.checkpoint_dir()
