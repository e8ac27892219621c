"""The training loop: :func:`fit` and its per-epoch :class:`History`, reporting nats per image.

Used by notebooks 05-12, the CLI and ``benchmarks/``; its Ctrl-C watch also by :mod:`vae_course.teaching.execute`.
The test ELBO it reports each epoch is :func:`vae_course.evaluation.evaluate`'s.

What it does differently from the reference script's loop, and why:

* Batches are slices of one shuffled in-memory tensor that already lives on the device, not a ``DataLoader`` that
  runs ``ToTensor`` on every image every epoch (the main speed-up, measured in ``benchmarks/bench_train.py``).
* ``device=None`` really picks CUDA, then MPS, then the CPU (:func:`vae_course.config.get_device`).
* Losses are reported as nats **per image**, train and test, split into reconstruction and KL.
* It checks its arguments once per call (images in [0, 1], sizes, seeds), is seeded and deterministic on the CPU, and
  stops before a step whose loss or gradient is NaN/inf, with a clear message (the check shares the loss's one host
  sync per step); when the very first step fails, it says whether the model's weights were already NaN or its
  logvar already extreme, rather than blaming the learning rate. Ctrl-C (the notebook's stop button) ends training
  cleanly: you get the history of the finished epochs, every list the same length, and a usable model.
"""
from __future__ import annotations

import math
import signal
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import torch

from ..evaluation.scores import _evaluate
from ..models.base import _inputs_checked
from ..objectives.checks import _as_terms
from ..objectives.losses import images_checked
from ..objectives.objective import PRECISIONS
from .fit_checks import _diverged_hint, checked_setup


class TrainingDivergedError(FloatingPointError):
    """The loss or a gradient became NaN or infinite; the model keeps its weights from before the bad step."""


@dataclass
class History:
    """Per-epoch figures in nats per image. ``train_loss``/``test_loss`` are the negative ELBO (recon + KL)."""

    train_loss: list[float] = field(default_factory=list)
    train_recon: list[float] = field(default_factory=list)
    train_kl: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_recon: list[float] = field(default_factory=list)
    test_kl: list[float] = field(default_factory=list)
    beta: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    interrupted: bool = False
    precision: str = "fp32"

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.train_loss)

    def as_dict(self) -> dict:
        return asdict(self)

    def extend(self, later: "History") -> "History":
        """Append the epochs of ``later`` (a later ``fit`` of the same model) to this history; returns ``self``.

        ``history.extend(fit(model, ...))`` continues a history, e.g. after Ctrl-C stopped the first call.
        """
        if not isinstance(later, History):
            raise TypeError(f"extend takes the History that a later fit returned, got {type(later).__name__}.")
        for key in ("train_loss", "train_recon", "train_kl", "test_loss", "test_recon", "test_kl", "beta",
                    "epoch_seconds"):
            getattr(self, key).extend(getattr(later, key))
        self.interrupted, self.precision = later.interrupted, later.precision
        return self

    def last(self) -> dict:
        """The final epoch's figures as a dict (empty if no epoch finished)."""
        if not self.train_loss:
            return {}
        keys = ("train_loss", "train_recon", "train_kl", "test_loss", "test_recon", "test_kl")
        return {k: getattr(self, k)[-1] for k in keys if getattr(self, k)}


def cpu_has_native_bf16() -> bool:
    """True when the CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX), read from ``/proc/cpuinfo``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:  # not Linux: stay in float32
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype ``fit`` runs the model's matrix products in: ``None`` (float32) or ``torch.bfloat16``.

    ``"auto"`` picks bfloat16 only where the hardware has it natively (a CUDA GPU that supports it, a CPU with
    AVX512-BF16/AMX), where it is ~1.6x faster per epoch here at the same test loss (``benchmarks/bench_train.py``);
    elsewhere, and for ``"fp32"``, everything stays float32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not known: use 'auto', 'fp32' or 'bf16'.")
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if device.type == "cpu":
        return torch.bfloat16 if cpu_has_native_bf16() else None
    return None


def make_adam(params, lr: float) -> torch.optim.Optimizer:
    """Adam with its fused kernel where torch has one (one pass over the weights instead of ~12 ``foreach`` ops).

    On this course's 631k-parameter MLP the fused update is a measurable part of the speed-up over the reference
    loop (``benchmarks/bench_train.py``); the arithmetic is Adam's, the same as ``torch.optim.Adam(lr=lr)``.
    """
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # older torch, or a device without a fused kernel
        return torch.optim.Adam(params, lr=lr)


def fit(model, train_images: torch.Tensor, test_images: torch.Tensor | None = None, *, objective=None,
        epochs: int, batch_size: int = 128, lr=1e-3, seed: int = 0, labels=None, device=None,
        progress: bool = True, callbacks=()) -> History:
    """Train ``model`` with Adam on in-memory images to minimise ``objective``; return a :class:`History`.

    Args:
        model: a course VAE (:class:`~vae_course.models.VAE`, ``ConvVAE``, or a conditional model with ``labels``).
        train_images, test_images: float tensors ``(N, 1, 28, 28)`` or ``(N, 784)`` in [0, 1].
        objective: ``objective(model, x, y) -> ELBOTerms``; ``None`` is :class:`vae_course.objectives.ELBO` ``()``.
            ``total.mean()`` is minimised; the reported train and test losses are ``recon + kl`` (the negative
            ELBO). A plain function works; :class:`~vae_course.objectives.ELBO` and
            :class:`~vae_course.objectives.IWAE` also schedule the KL weight (``start_step``), bring parameters to
            train (a learned prior's) and set the ``precision`` (see :mod:`vae_course.objectives.objective`).
        epochs, batch_size: as in the reference script (10, 128).
        lr: Adam's step size (1e-3), or a function ``lr(epoch)`` (epoch from 1) giving each epoch's rate.
        seed: seeds the shuffling and the reparameterized noise; the run is deterministic on the CPU.
        labels: ``None``, or ``(train_labels, test_labels)`` for a conditional model (``test_labels`` may be None
            when there are no test images).
        device: ``None``/``"auto"`` picks CUDA, then MPS, then CPU. The model (and the objective) move there.
        progress: show a ``tqdm.auto`` bar (a widget in JupyterLab, text in a terminal).
        callbacks: one or several; a function is called as ``cb(epoch, history)`` after each epoch (epoch from 1);
            an object such as :func:`vae_course.views.training_monitor`'s gets ``on_step(model, epoch, step,
            steps_per_epoch, history)`` before each step and ``on_epoch_end(model, epoch, history)`` after each epoch.

    Raises:
        TrainingDivergedError: the loss or a gradient became NaN or infinite (the bad step is not applied).
        ValueError, TypeError: a bad argument, in one sentence, e.g. images outside [0, 1] (checked once per call).
    """
    with _noticing_ctrl_c() as ctrl_c:
        try:
            run = checked_setup(model, train_images, test_images, objective, epochs, batch_size, lr, seed, labels,
                                device, callbacks)
        except KeyboardInterrupt:  # e.g. while the model moves to the device: nothing trained yet
            hist = History(interrupted=True)
            print("Training interrupted before its first step: returning an empty history; the model is unchanged.")
            return hist
        hist, epoch, finished = _train(model, run, epochs, batch_size, seed, progress, ctrl_c)
    if ctrl_c.seen and not hist.interrupted:  # a Ctrl-C that a library swallowed (e.g. in tqdm's __del__)
        _interrupted(hist, epoch, epochs, finished)
    return hist


def _train(model, run, epochs: int, batch_size: int, seed: int, progress: bool, ctrl_c) -> tuple[History, int, int]:
    """fit's loop, after its checks: returns the history, the epoch it was in and the last finished epoch."""
    objective, dev, n = run.objective, run.device, run.train.shape[0]
    opt = make_adam(run.groups, run.lr_of(1))
    amp_dtype = autocast_dtype(getattr(objective, "precision", "auto"), dev)
    params = [p for group in opt.param_groups for p in group["params"]]
    steps_per_epoch = math.ceil(n / batch_size)
    hist = History(precision="fp32" if amp_dtype is None else "bf16-mixed")
    torch.manual_seed(seed)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    from tqdm.auto import tqdm

    bar = tqdm(total=epochs * steps_per_epoch, disable=not progress, unit="batch", leave=True)
    step, epoch, finished = 0, 1, 0
    try:
        with images_checked(), _inputs_checked():  # images checked once above: no per-batch NaN or range check
            for epoch in range(1, epochs + 1):
                bar.set_description(f"epoch {epoch}/{epochs}")
                run.set_epoch_lr(opt, epoch)
                model.train()  # evaluate() and the callbacks' plots may have switched to eval mode
                start, weight_sum = time.perf_counter(), 0.0
                perm = torch.randperm(n, generator=gen).to(dev)
                sums = torch.zeros(2, dtype=torch.float64, device=dev)  # recon, KL summed over the epoch's images
                for b in range(steps_per_epoch):
                    if ctrl_c.seen:  # a Ctrl-C that something swallowed: stop here all the same
                        raise KeyboardInterrupt
                    for cb in run.on_step:
                        cb.on_step(model, epoch, b, steps_per_epoch, hist)
                    idx = perm[b * batch_size:(b + 1) * batch_size]
                    xb, yb = run.train[idx], None if run.train_y is None else run.train_y[idx]  # (B, 784), (B,)
                    weight = run.start_step(step, steps_per_epoch)  # the KL weight of this step (warm-up)
                    with torch.autocast(dev.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
                        terms = _as_terms(objective(model, xb, yb))
                    loss = terms.total.mean()
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    loss_value, grad_sum = _health(loss, params)  # the step's one host sync
                    if not (math.isfinite(loss_value) and math.isfinite(grad_sum)):
                        opt.zero_grad(set_to_none=True)
                        broken = _diverged_hint(model, xb, yb, first=step == 0)  # the model was broken before
                        raise TrainingDivergedError(broken or _diverged(loss_value, grad_sum, epoch, b, run.hint))
                    opt.step()
                    with torch.no_grad():
                        sums += torch.stack((terms.recon.sum(), terms.kl.sum())).double()
                    weight_sum, step = weight_sum + weight, step + 1
                    bar.update(1)
                    if b % 20 == 0:
                        bar.set_postfix(loss=f"{loss_value:.1f}", refresh=False)
                recon, kl = (sums / n).tolist()
                ev = None if run.test is None else _evaluate(model, run.test, run.test_y, 1000, objective, seed, dev)
                # The epoch's figures go in together, after its evaluation: an interrupt never leaves half an epoch.
                hist.train_recon.append(recon)
                hist.train_kl.append(kl)
                hist.train_loss.append(recon + kl)
                hist.beta.append(weight_sum / steps_per_epoch)
                if ev is not None:
                    hist.test_loss.append(ev["loss"])
                    hist.test_recon.append(ev["recon"])
                    hist.test_kl.append(ev["kl"])
                hist.epoch_seconds.append(time.perf_counter() - start)
                finished = epoch
                for cb in run.on_epoch_end:
                    cb(model, epoch, hist)
    except KeyboardInterrupt:
        _interrupted(hist, epoch, epochs, finished)
    finally:
        ctrl_c.defer = True  # from here on a Ctrl-C is only noted, so that closing the bar cannot lose it
        bar.close()
        model.eval()
    return hist, epoch, finished


class _CtrlC:
    """What :func:`_noticing_ctrl_c` saw: ``seen`` once a Ctrl-C arrived; with ``defer``, Ctrl-C is only noted."""

    def __init__(self):
        self.seen, self.defer = False, False


@contextmanager
def _noticing_ctrl_c():
    """Note every Ctrl-C (SIGINT) that arrives while fit (or ``execute``) runs, and pass it on as usual.

    A KeyboardInterrupt raised inside a ``__del__`` (tqdm's bar closing, for one) is swallowed by Python, and
    training went on or ended as if nothing had happened; fit checks ``seen`` instead. Outside the main thread, or
    when Ctrl-C is ignored, nothing changes.
    """
    state, installed = _CtrlC(), False
    previous = signal.getsignal(signal.SIGINT)

    def noted(signum, frame):
        state.seen = True
        if not state.defer:
            previous(signum, frame)

    if callable(previous):
        try:
            signal.signal(signal.SIGINT, noted)
            installed = True
        except ValueError:  # not the main thread
            pass
    try:
        yield state
    finally:
        if installed:
            signal.signal(signal.SIGINT, previous)


def _health(loss: torch.Tensor, params: list[torch.Tensor]) -> tuple[float, float]:
    """The loss and the sum of the gradient norms, brought to the host together (one sync per step)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return loss.item(), 0.0
    health = torch.stack((loss.detach(), torch.stack(torch._foreach_norm(grads)).sum().to(loss.dtype)))
    loss_value, grad_sum = health.tolist()
    return loss_value, grad_sum


def _diverged(loss_value: float, grad_sum: float, epoch: int, b: int, hint: str) -> str:
    if not math.isfinite(loss_value):
        return (f"the loss became {loss_value} at epoch {epoch}, batch {b + 1}: training stopped before applying that "
                f"step, so the model keeps its last finite weights; {hint}.")
    return (f"a gradient became {grad_sum} at epoch {epoch}, batch {b + 1} although the loss was finite "
            f"({loss_value:.6g}): training stopped before applying that step, so the model keeps its last finite "
            f"weights; {hint}, or look in the model or the objective for an operation without a finite gradient, "
            f"such as sqrt or log at 0.")


def _interrupted(hist: History, epoch: int, epochs: int, finished: int) -> None:
    """Ctrl-C: drop whatever the interrupt left of an unfinished epoch, so that every list holds the same epochs."""
    hist.interrupted = True
    for key in ("train_loss", "train_recon", "train_kl", "beta", "epoch_seconds", "test_loss", "test_recon",
                "test_kl"):
        del getattr(hist, key)[finished:]
    where = f"after epoch {epoch}" if finished == epoch else f"during epoch {epoch}"
    print(f"Training interrupted {where} of {epochs}: returning the history of the {finished} finished epoch(s); "
          f"the model keeps its latest weights.")
