"""Ctrl-C that must not be lost or turn into a traceback (issue 27 §2): one swallowed by a ``__del__`` right after
the last epoch (tqdm's bar closing), and one while ``fit`` starts (during ``model.to``)."""
import os
import signal
import time

import pytest
import torch

from vae_course.models import VAE
from vae_course.training import fit

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed Ctrl-C


@pytest.fixture
def images():
    return torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))


class CtrlCInDel:
    """An object whose ``__del__`` receives a real SIGINT: Python prints "Exception ignored" and drops the
    KeyboardInterrupt, as it did when the Ctrl-C landed in tqdm's ``__del__``."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the handler runs at the next bytecode boundary, here
            pass


def test_a_ctrl_c_swallowed_by_a_del_after_the_last_epoch_is_not_lost(images, capsys):
    def last_epoch(epoch, hist):
        if epoch == 2:
            CtrlCInDel()  # made and dropped at once: its __del__ swallows the interrupt

    hist = fit(VAE(), images, epochs=2, batch_size=32, progress=False, callbacks=[last_epoch])
    assert hist.interrupted and hist.epochs == 2
    assert "Training interrupted after epoch 2 of 2" in capsys.readouterr().out
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # fit put the handler back


def test_a_swallowed_ctrl_c_mid_run_stops_at_the_next_step(images):
    def first_epoch(epoch, hist):
        if epoch == 1:
            CtrlCInDel()

    hist = fit(VAE(), images, epochs=5, batch_size=32, progress=False, callbacks=[first_epoch])
    assert hist.interrupted and hist.epochs == 1


def test_ctrl_c_while_fit_moves_the_model_is_an_empty_interrupted_history(images, capsys):
    model = VAE()
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def to(*args, **kwargs):
        raise KeyboardInterrupt

    model.to = to
    hist = fit(model, images, epochs=1, progress=False)
    assert hist.interrupted and hist.epochs == 0
    assert "Training interrupted before its first step" in capsys.readouterr().out
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_the_cli_saves_nothing_when_interrupted_before_the_first_epoch(tmp_path, monkeypatch, capsys):
    import vae_course.training as training
    from vae_course.__main__ import main

    from .test_bad_inputs import write_fake_mnist

    write_fake_mnist(tmp_path / "data", n=32)
    monkeypatch.setattr(VAE, "to", lambda self, *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    status = main(["train", "--epochs", "1", "--no-progress", "--device", "cpu", "--data-dir", str(tmp_path / "data"),
                   "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == "error: interrupted before the first epoch finished; nothing was saved."
    assert not (tmp_path / "out" / "vae.pt").exists()
    assert training.fit is fit
