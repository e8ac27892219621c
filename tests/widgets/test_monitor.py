"""The training monitor (issue 14): frames while fit trains, the GIF, the scatter's points, the ``every`` schedule."""
import io

import ipywidgets as W
import numpy as np
import pytest
import torch
from PIL import Image

from tests.test_bad_inputs import one_sentence_problem
from vae_course.models import CVAE, VAE
from vae_course.training import fit
from vae_course.views import TrainingMonitor, parse_every
from vae_course.views import training_monitor

PNG = b"\x89PNG\r\n\x1a\n"


def _model(seed=0, latent=2):
    torch.manual_seed(seed)
    return VAE(latent_dim=latent)


def _trained_with_monitor(mnist_small, epochs=2, **kwargs):
    train_x, _, test_x, test_y = mnist_small
    monitor = training_monitor(test_x, test_y, n_points=200, **kwargs)
    model = _model()
    hist = fit(model, train_x, test_x, epochs=epochs, progress=False, callbacks=monitor)
    return model, monitor, hist


def test_fit_with_the_monitor_keeps_distinct_png_frames(mnist_small):
    model, mon, hist = _trained_with_monitor(mnist_small)
    assert isinstance(mon.image, W.Image) and "vae-monitor-image" in mon.image._dom_classes
    assert len(mon.frames) == 3 and mon.frame_labels == ["before training", "after epoch 1", "after epoch 2"]
    assert all(f[:8] == PNG for f in mon.frames)
    pixels = [np.array(Image.open(io.BytesIO(f)).convert("RGB")) for f in mon.frames]
    assert all(p.shape == pixels[0].shape for p in pixels)  # one size, so the GIF's frames line up
    assert all(not np.array_equal(a, b) for i, a in enumerate(pixels) for b in pixels[i + 1:])  # the pictures differ
    assert mon.image.value == mon.frames[-1] and mon.snapshot_png() == mon.frames[-1]
    assert mon.latency_ms()["n"] == 3 and hist.epochs == 2


def test_save_gif_writes_an_animated_gif_with_every_frame(mnist_small, tmp_path):
    _, mon, _ = _trained_with_monitor(mnist_small, every="2 steps")
    assert len(mon.frames) >= 3
    path = mon.save_gif(tmp_path / "latent.gif")
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.is_animated and gif.n_frames == len(mon.frames)
        gif.seek(gif.n_frames - 1)
        last = np.array(gif.convert("RGB"))
    want = np.array(Image.open(io.BytesIO(mon.frames[-1])).convert("RGB"))
    assert last.shape == want.shape and np.abs(last.astype(int) - want).mean() < 8  # the last frame, 255 colours
    with pytest.raises(ValueError, match=r"\.gif"):
        mon.save_gif(tmp_path / "latent.png")


def test_the_scatter_points_are_the_subsets_codes_at_that_moment(mnist_small):
    train_x, _, test_x, test_y = mnist_small
    mon = training_monitor(test_x, test_y, n_points=100)
    model = _model()
    seen = []

    def check(epoch, history):  # fit calls this right after the monitor's epoch-end frame
        with torch.no_grad():
            mu = model.encode(mon.subset_images)[0]
        seen.append(torch.allclose(mon.points, mu[:, :2], atol=1e-6))
        frame = np.array(Image.open(io.BytesIO(mon.frames[-1])).convert("RGB"))
        # the last point painted shows its digit's tab10 colour at its pixel (the frame's scatter starts 24 px down)
        x, y = np.rint(mon.canvas.to_pixels(mon.points[-1].numpy())).astype(int)
        from matplotlib import colormaps

        colour = (np.asarray(colormaps["tab10"].colors[int(mon.subset_labels[-1])]) * 255).round()
        seen.append(np.array_equal(frame[24 + y, x], colour.astype(np.uint8)))

    fit(model, train_x, epochs=2, progress=False, callbacks=[mon, check])
    assert seen == [True] * 4
    assert torch.equal(mon.subset_images, test_x[mon.subset_index]) and mon.subset_index.unique().numel() == 100
    assert torch.equal(mon.subset_labels, test_y[mon.subset_index])


def test_every_in_steps_and_in_epochs(mnist_small):
    train_x, _, test_x, test_y = mnist_small  # 512 images, batch 128: 4 steps per epoch
    _, mon, _ = _trained_with_monitor(mnist_small, every="2 steps")
    assert mon.frame_labels == ["before training", "epoch 1, step 2 of 4", "after epoch 1", "epoch 2, step 2 of 4",
                                "after epoch 2"]
    _, mon, _ = _trained_with_monitor(mnist_small, epochs=3, every="2 epochs")
    assert mon.frame_labels == ["before training", "after epoch 2"]
    assert parse_every(50) == ("steps", 50) and parse_every("1 step") == ("steps", 1)
    assert parse_every("epoch") == ("epochs", 1) and parse_every("3 epochs") == ("epochs", 3)


def test_a_continued_fit_adds_frames_without_a_second_start(mnist_small):
    train_x, _, test_x, test_y = mnist_small
    mon = training_monitor(test_x, test_y, n_points=50)
    model = _model()
    fit(model, train_x[:256], epochs=1, progress=False, callbacks=mon)
    fit(model, train_x[:256], epochs=1, progress=False, callbacks=mon)  # a second fit continues the count
    assert mon.frame_labels == ["before training", "after epoch 1", "after epoch 2"]


def test_strip_and_snapshot_are_static_pictures_of_the_run(mnist_small):
    _, mon, _ = _trained_with_monitor(mnist_small, every="1 step")
    strip = Image.open(io.BytesIO(mon.strip_png(k=6, columns=3)))
    assert strip.size == (3 * mon.canvas.width, 2 * (mon.canvas.height + 24))
    assert mon.strip(k=2).data[:8] == PNG and mon.snapshot().data == mon.frames[-1]
    with pytest.raises(ValueError, match="no frames yet"):
        TrainingMonitor(mnist_small[2]).strip_png()


def test_the_monitor_follows_a_conditional_model(mnist_small):
    train_x, train_y, test_x, test_y = mnist_small
    torch.manual_seed(0)
    model = CVAE()
    mon = training_monitor(test_x, test_y, n_points=64, n_samples=4)
    fit(model, train_x[:256], test_x[:64], epochs=1, progress=False, callbacks=mon,
        labels=(train_y[:256], test_y[:64]))
    assert len(mon.frames) == 2 and mon.codes.shape == (64, 2)


@pytest.mark.parametrize("kwargs, match", [
    ({"every": "weekly"}, "^every must be"), ({"every": 0}, "^every must be"), ({"every": True}, "^every must be"),
    ({"every": "0 steps"}, "^every must be"), ({"n_samples": 0}, "^n_samples=0"), ({"n_points": 2.5}, "^n_points"),
    ({"limit": -1}, "^limit=-1"), ({"seed": "a"}, "^seed="),
])
def test_bad_arguments_give_one_clear_sentence(mnist_small, kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        training_monitor(mnist_small[2], mnist_small[3], **kwargs)
    assert one_sentence_problem(str(info.value)) is None


def test_bad_images_and_models_give_one_clear_sentence(mnist_small):
    test_x, test_y = mnist_small[2], mnist_small[3]
    for call in (lambda: training_monitor(None), lambda: training_monitor(torch.rand(4, 10)),
                 lambda: training_monitor(test_x, test_y[:3])):
        with pytest.raises(ValueError) as info:
            call()
        assert one_sentence_problem(str(info.value)) is None
    mon = training_monitor(test_x, test_y)
    with pytest.raises(ValueError, match="1-D") as info:
        fit(_model(latent=1), test_x[:64], epochs=1, progress=False, callbacks=mon)
    assert one_sentence_problem(str(info.value)) is None
    with pytest.raises(ValueError, match="conditional") as info:
        torch.manual_seed(0)
        fit(CVAE(), test_x[:64], epochs=1, progress=False, callbacks=training_monitor(test_x),
            labels=(test_y[:64], None))
    assert one_sentence_problem(str(info.value)) is None


def test_strip_can_pick_its_frames(mnist_small):
    _, mon, _ = _trained_with_monitor(mnist_small, every="1 step")
    n = len(mon.frames)
    w, h = mon.canvas.width, mon.canvas.height + 24
    strip = Image.open(io.BytesIO(mon.strip_png(columns=2, frames=[0, 1, -1])))
    assert strip.size == (2 * w, 2 * h)  # three frames, two per row
    first_panel = strip.crop((0, 24, w, h))
    last_panel = strip.crop((0, h + 24, w, 2 * h))  # the third pick (-1) opens the second row
    assert first_panel.tobytes() == Image.open(io.BytesIO(mon.frames[0])).convert("RGB").crop((0, 24, w, h)).tobytes()
    assert last_panel.tobytes() == Image.open(io.BytesIO(mon.frames[n - 1])).convert("RGB").crop((0, 24, w, h)).tobytes()
    assert mon.strip(frames=[-1]).data[:8] == PNG
    for bad, match in ((5, "must be a list of frame numbers"), ([], "picks no frame"),
                       ([0, n], f"not a frame number; the monitor has {n} frames"), ([1.0], "1.0 is not a frame")):
        with pytest.raises(ValueError, match=match):
            mon.strip_png(frames=bad)
