"""The training monitor: watch the latent space organise itself while :func:`vae_course.training.fit` trains.

Used by notebook 05 (and any notebook that calls ``fit``), ``benchmarks/bench_monitor.py`` and its tests::

    monitor = views.training_monitor(test_x, test_y)              # every="epoch": a frame per epoch
    monitor                                                        # the live view (end a cell with it)
    history = fit(model, train_x, test_x, epochs=10, callbacks=[monitor])
    monitor.strip()                                                # the static twin: frames side by side
    monitor.save_gif("latent_space.gif")                           # every frame, as an animated GIF

One frame shows, under a line that says when it was taken:

* the scatter of a fixed subset of the test images' posterior means (``n_points``, drawn once at random with
  ``seed``), coloured by digit, on a fixed square ``[-limit, limit]^2`` so that the frames line up;
* the train (solid) and test (dashed) curves of the reconstruction term and of the KL, apart, in nats per image, one
  point per finished epoch (read from the ``History`` that ``fit`` fills);
* the decoded means of ``n_samples`` fixed prior draws z ~ N(0, I) (drawn once, from the monitor's own generator).

When it draws (``every``):

* ``"epoch"`` (default): once before the first step, then after every epoch;
* ``"N epochs"``: before the first step, then after every N-th epoch (counted over the history);
* ``"N steps"`` or a whole number ``N``: as ``"epoch"``, plus every N optimizer steps inside each epoch (after steps
  N, 2N, ... of the epoch), so that the first epoch, where most of the organising happens, gets frames too.

How ``fit(..., callbacks=[m])`` drives it (any object with these two methods can be passed):

* ``m.on_step(model, epoch, step, steps_per_epoch, history)`` before each optimizer step: ``epoch`` is the epoch in
  progress counted over the history (``history.epochs + 1``), ``step`` how many of its steps are done (0 first);
* ``m.on_epoch_end(model, epoch, history)`` after the epoch's figures are in ``history`` (``epoch == history.epochs``).

It never changes the training: it encodes and decodes under ``torch.inference_mode`` in eval mode (then puts the
model back in train mode), and draws its random numbers from its own generator, so the same seeds give the same
losses with and without it (tested). Each update replaces the ``value`` of one ``ipywidgets.Image`` in place (no
``clear_output``) and keeps the frame's PNG bytes in ``frames``.

Cost: the scatter is painted with numpy on a background that matplotlib rendered once; the curves are redrawn with
matplotlib only when an epoch has finished. ``benchmarks/bench_monitor.py`` measures the overhead on the reference
model (goal at the default ``every``: at most 10% of the epoch time on 2 CPU cores).
"""
from __future__ import annotations

import io
import re
import time

import numpy as np
import torch

from .base import _View, _check_images_labels
from .png import PNG_LEVEL, ScatterCanvas, digits_row
from .snapshot import font

EVERY_HELP = "every must be 'epoch', 'N epochs', 'N steps' or a positive whole number of steps, e.g. every='50 steps'"


def parse_every(every) -> tuple[str, int]:
    """``every`` -> ``("epochs", N)`` or ``("steps", N)``; one clear ``ValueError`` for anything else."""
    if isinstance(every, int) and not isinstance(every, bool):
        if every > 0:
            return "steps", every
    elif isinstance(every, str):
        if every.strip() == "epoch":
            return "epochs", 1
        m = re.fullmatch(r"\s*(\d+)\s*(epochs?|steps?)\s*", every)
        if m and int(m.group(1)) > 0:
            return ("epochs" if m.group(2).startswith("epoch") else "steps"), int(m.group(1))
    raise ValueError(f"{EVERY_HELP}, got every={every!r}.")


class TrainingMonitor(_View):
    """A live view of training for :func:`vae_course.training.fit`'s ``callbacks=``; see :func:`training_monitor`.

    Attributes:
        image: the ``ipywidgets.Image`` whose ``value`` each update replaces (CSS class ``vae-monitor-image``).
        frames: PNG bytes of every frame so far; ``frame_labels`` says when each was taken.
        points: ``(n_points, 2)`` the scatter's points at the last frame: the first two coordinates of
            ``model.encode(subset_images)``'s means; ``codes`` the full ``(n_points, D)`` means.
        subset_images, subset_labels, subset_index: the fixed test subset (``subset_index`` into the test images).
        prior_z: the fixed ``(n_samples, D)`` prior draws whose decodings form the bottom row.
        every: ``("epochs", N)`` or ``("steps", N)``, parsed from the ``every`` argument.
    """

    def __init__(self, test_images, test_labels=None, *, every="epoch", n_points: int = 1000, n_samples: int = 10,
                 limit: float = 4.0, seed: int = 0):
        import ipywidgets as W

        super().__init__()
        if test_images is None:
            raise ValueError("training_monitor needs test images: their codes form the scatter it draws.")
        _check_images_labels(test_images, test_labels, name="test_images")
        self.every = parse_every(every)
        for name, value, top in (("n_points", n_points, 100_000), ("n_samples", n_samples, 32)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise ValueError(f"{name}={value!r} must be a whole number from 1 to {top}.")
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0 < limit < float("inf"):
            raise ValueError(f"limit={limit!r} must be a positive number (the scatter shows [-limit, limit]^2).")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed={seed!r} must be a whole number.")
        gen = torch.Generator().manual_seed(seed)
        n = test_images.shape[0]
        self.subset_index = torch.randperm(n, generator=gen)[:min(n_points, n)]  # random order: no class on top
        self.subset_images = test_images[self.subset_index]
        self.subset_labels = None if test_labels is None else test_labels[self.subset_index]
        self.n_samples, self.limit, self._gen = n_samples, float(limit), gen
        self.prior_z = None  # drawn at the first frame, when the latent size is known
        self.frames: list[bytes] = []
        self.frame_labels: list[str] = []
        self.points = self.codes = None
        self.canvas = ScatterCanvas(None, None, self.limit, title="test codes (posterior means)",
                                    digit_colorbar=self.subset_labels is not None)
        self._curves, self._curves_epochs, self._figure = None, -1, None
        self._offset = self._seen = 0  # epochs of earlier fit calls, so that a second fit continues the labels
        self._font = font(13)
        self.image = W.Image(format="png")
        self.image.add_class("vae-monitor-image")
        self.status = W.HTML("<i>waiting for fit(..., callbacks=[monitor])</i>")
        self.widget = W.VBox([self.status, self.image])
        self.widget.add_class("vae-training-monitor")

    # -- what fit calls
    def on_step(self, model, epoch: int, step: int, steps_per_epoch: int, history) -> None:
        """Before each optimizer step: the first frame (before any step), and every N steps when ``every`` says so."""
        kind, n = self.every
        if step == 0 and history.epochs == 0 and self.frames:
            self._offset = self._seen  # a later fit of the same model: its epochs continue the count
        epoch += self._offset
        if step == 0 and not self.frames:
            self.update(model, history, "before training" if history.epochs == 0 else f"after epoch {epoch - 1}")
        elif kind == "steps" and step > 0 and step % n == 0:
            self.update(model, history, f"epoch {epoch}, step {step} of {steps_per_epoch}")

    def on_epoch_end(self, model, epoch: int, history) -> None:
        """After each epoch's figures are in ``history``."""
        kind, n = self.every
        epoch = self._seen = epoch + self._offset
        if kind == "steps" or epoch % n == 0:
            self.update(model, history, f"after epoch {epoch}")

    # -- drawing
    @torch.inference_mode()
    def _encode_decode(self, model) -> tuple[torch.Tensor, torch.Tensor]:
        dev = next(model.parameters()).device
        conditional = getattr(model, "conditional", False)
        if conditional and self.subset_labels is None:
            raise ValueError("this model is conditional: pass test_labels to training_monitor (the encoder needs "
                             "them).")
        x = self.subset_images.to(dev)
        if conditional:
            mu, _ = model.encode(x, self.subset_labels.to(dev))
            y = torch.arange(self.n_samples, device=dev) % model.num_classes  # one digit per prior draw
            decoded = model.decode(self.prior_z.to(dev), y)
        else:
            mu, _ = model.encode(x)
            decoded = model.decode(self.prior_z.to(dev))
        return mu.float().cpu(), decoded.float().cpu()

    def update(self, model, history, label: str) -> bytes:
        """Draw one frame of ``model`` now, show it and keep it; returns its PNG bytes."""
        from PIL import Image, ImageDraw

        start = time.perf_counter()
        d = int(model.latent_dim)
        if d < 2:
            raise ValueError(f"the training monitor draws two latent coordinates, but the model's latent space is "
                             f"{d}-D.")
        if self.prior_z is None or self.prior_z.shape[1] != d:
            self.prior_z = torch.randn(self.n_samples, d, generator=self._gen)  # (n_samples, D), fixed from now on
        was_training = model.training
        model.eval()
        try:
            mu, decoded = self._encode_decode(model)  # (n, D), (n_samples, 1, 28, 28)
        finally:
            model.train(was_training)
        self.codes, self.points = mu, mu[:, :2].clone()
        scatter = self.canvas.paint_points(self.points.numpy(), None if self.subset_labels is None
                                           else self.subset_labels.numpy())  # (H, W, 3)
        if history.epochs != self._curves_epochs:
            self._curves, self._curves_epochs = self._draw_curves(history), history.epochs
        row = digits_row(decoded, scale=2, gap=4)  # (56, w)
        head, cap = 24, 20
        top = max(scatter.shape[0], self._curves.shape[0])
        width = max(scatter.shape[1] + self._curves.shape[1], row.shape[1] + 8)
        frame = np.full((head + top + cap + row.shape[0] + 6, width, 3), 255, dtype=np.uint8)
        frame[head:head + scatter.shape[0], :scatter.shape[1]] = scatter
        frame[head:head + self._curves.shape[0], scatter.shape[1]:scatter.shape[1] + self._curves.shape[1]] = \
            self._curves
        y0 = head + top + cap
        frame[y0:y0 + row.shape[0], 8:8 + row.shape[1]] = row[..., None]
        img = Image.fromarray(frame)
        draw = ImageDraw.Draw(img)
        draw.text((8, 4), label + self._loss_text(history), fill=(0, 0, 0), font=self._font)
        draw.text((8, head + top + 2), f"decoded means of {self.n_samples} fixed draws z ~ N(0, I)", fill=(0, 0, 0),
                  font=self._font)
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=PNG_LEVEL)
        png = buf.getvalue()
        self.frames.append(png)
        self.frame_labels.append(label)
        self.image.value = png
        self.status.value = f"<b>{label}</b>: frame {len(self.frames)}"
        self.timings.append(time.perf_counter() - start)
        return png

    @staticmethod
    def _loss_text(history) -> str:
        if not history.train_loss:
            return ""
        test = f", test {history.test_loss[-1]:.1f}" if history.test_loss else ""
        return f"   -ELBO (nats/image) after epoch {history.epochs}: train {history.train_loss[-1]:.1f}{test}"

    def _draw_curves(self, history) -> np.ndarray:
        """The two panels (reconstruction, KL), train solid and test dashed, as an RGB array ``(H, W, 3)``.

        One figure, made once; each redraw only moves the lines' data and rescales (about 20 ms, once per epoch).
        """
        if self._figure is None:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure

            fig = Figure(figsize=(3.9, self.canvas.height / 90), dpi=90)
            FigureCanvasAgg(fig)
            panels = []
            for rect, title in (((0.2, 0.59, 0.75, 0.33), "reconstruction  -log p(x|z)"),
                                ((0.2, 0.12, 0.75, 0.33), "KL(q(z|x) || p(z))")):
                ax = fig.add_axes(rect)
                ax.set_title(title + "  (nats/image)", fontsize=8)
                ax.tick_params(labelsize=7)
                ax.xaxis.get_major_locator().set_params(integer=True)
                train, = ax.plot([], [], "o-", ms=3, color="tab:blue", label="train")
                test, = ax.plot([], [], "s--", ms=3, color="tab:orange", label="test")
                ax.legend(fontsize=7, loc="upper right")
                empty = ax.text(0.5, 0.5, "no epoch finished yet", ha="center", va="center", fontsize=8,
                                transform=ax.transAxes)
                panels.append((ax, train, test, empty))
            panels[1][0].set_xlabel("epoch", fontsize=8)
            self._figure = (fig, panels)
        fig, panels = self._figure
        for (ax, train_line, test_line, empty), key in zip(panels, ("recon", "kl")):
            train, test = getattr(history, f"train_{key}"), getattr(history, f"test_{key}")
            train_line.set_data(np.arange(1, len(train) + 1), train)
            test_line.set_data(np.arange(1, len(test) + 1), test)
            empty.set_visible(not train)
            ax.set_xlim(0.5, max(history.epochs, 1) + 0.5)
            ax.relim()
            ax.autoscale_view(scalex=False)
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()

    # -- static twins
    def snapshot_png(self) -> bytes:
        """The last frame (what the live view shows now), or the picture of the waiting view before any frame."""
        return self.frames[-1] if self.frames else super().snapshot_png()

    def strip_png(self, k: int = 6, columns: int = 3, frames=None) -> bytes:
        """PNG of ``k`` frames spread evenly from the first to the last (the scatter panel of each, with its label),
        ``columns`` per row: the static twin of the live view, for GitHub and exported HTML. ``frames`` picks them
        instead: indices into :attr:`frames` (0 is the frame before training, -1 the last), in the order given."""
        from PIL import Image, ImageDraw

        if not self.frames:
            raise ValueError("the monitor has no frames yet: pass it to fit(..., callbacks=[monitor]) first.")
        if frames is None:
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ValueError(f"k={k!r} must be a positive whole number of frames.")
            n = len(self.frames)
            picks = sorted({round(i * (n - 1) / max(k - 1, 1)) for i in range(min(k, n))})
        else:
            picks = self._frame_indices(frames)
        w, h, head = self.canvas.width, self.canvas.height, 24
        cols = max(1, min(columns, len(picks)))
        rows = -(-len(picks) // cols)
        out = Image.new("RGB", (cols * w, rows * (h + head)), "white")
        draw = ImageDraw.Draw(out)
        for j, i in enumerate(picks):
            frame = Image.open(io.BytesIO(self.frames[i])).convert("RGB")
            x, y = (j % cols) * w, (j // cols) * (h + head)
            out.paste(frame.crop((0, head, w, head + h)), (x, y + head))
            draw.text((x + 8, y + 4), f"frame {i + 1}: {self.frame_labels[i]}", fill=(0, 0, 0), font=self._font)
        buf = io.BytesIO()
        out.save(buf, format="PNG", optimize=True)
        return buf.getvalue()

    def _frame_indices(self, frames) -> list[int]:
        """``frames`` (whole numbers, negative ones from the end) as indices into :attr:`frames`, or a ValueError."""
        n = len(self.frames)
        try:
            picks = list(frames)
        except TypeError:
            raise ValueError(f"frames={frames!r} must be a list of frame numbers, e.g. [0, 2, -1].") from None
        if not picks:
            raise ValueError("frames=[] picks no frame: give at least one frame number, e.g. [0, -1].")
        out = []
        for i in picks:
            if isinstance(i, bool) or not isinstance(i, int) or not -n <= i < n:
                raise ValueError(f"frames: {i!r} is not a frame number; the monitor has {n} frames, numbered 0 to "
                                 f"{n - 1} (or -1 for the last).")
            out.append(i % n)
        return out

    def strip(self, k: int = 6, columns: int = 3, frames=None):
        """:meth:`strip_png` as an ``IPython.display.Image`` (display it below the live view)."""
        from IPython.display import Image

        return Image(data=self.strip_png(k, columns, frames), format="png")

    def gif_bytes(self, duration_ms: int = 400, hold_last_ms: int = 1500) -> bytes:
        """Every frame as one looping animated GIF (PIL), ``duration_ms`` per frame and the last one held longer."""
        from PIL import Image

        if not self.frames:
            raise ValueError("the monitor has no frames yet: pass it to fit(..., callbacks=[monitor]) first.")
        for name, v in (("duration_ms", duration_ms), ("hold_last_ms", hold_last_ms)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 10:
                raise ValueError(f"{name}={v!r} must be a whole number of milliseconds, at least 10.")
        images = [Image.open(io.BytesIO(f)).convert("RGB").quantize(colors=255, method=Image.Quantize.MEDIANCUT,
                                                                   dither=Image.Dither.NONE) for f in self.frames]
        durations = [duration_ms] * (len(images) - 1) + [hold_last_ms]
        buf = io.BytesIO()
        images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0,
                       disposal=1, optimize=False)
        return buf.getvalue()

    def save_gif(self, path, duration_ms: int = 400, hold_last_ms: int = 1500):
        """Write :meth:`gif_bytes` to ``path`` (e.g. ``"latent_space.gif"``); returns the path as a ``Path``."""
        from pathlib import Path

        data = self.gif_bytes(duration_ms, hold_last_ms)
        path = Path(path)
        if path.suffix.lower() != ".gif":
            raise ValueError(f"path={str(path)!r} must end in .gif (save_gif writes an animated GIF).")
        if not path.parent.is_dir():
            raise ValueError(f"path={str(path)!r} is in the folder {str(path.parent)!r}, which does not exist: create "
                             f"it first or save the GIF elsewhere.")
        path.write_bytes(data)
        return path


def training_monitor(test_images, test_labels=None, *, every="epoch", **kwargs) -> TrainingMonitor:
    """A live view of training that ``fit(..., callbacks=[view])`` drives: codes, loss curves and prior samples.

    Args:
        test_images, test_labels: the test split (e.g. ``load_mnist("test")``); a fixed random subset of
            ``n_points`` (default 1,000) of them forms the scatter, coloured by their labels.
        every: ``"epoch"`` (default), ``"N epochs"``, or ``"N steps"`` / ``N`` for frames inside each epoch too.
        n_samples: how many fixed prior draws are decoded in the bottom row (default 10).
        limit: the scatter's square ``[-limit, limit]^2`` (default 4: the prior's 99.99% box), fixed for all frames.
        seed: seeds the subset and the prior draws (the monitor's own generator; the training's RNG is untouched).

    Returns:
        a :class:`TrainingMonitor`; end a cell with it to display it, then call ``fit(..., callbacks=[it])``.
        Afterwards ``.frames`` holds every frame, ``.strip()`` and ``.snapshot()`` are the static twins and
        ``.save_gif(path)`` writes the animation.
    """
    return TrainingMonitor(test_images, test_labels, every=every, **kwargs)
