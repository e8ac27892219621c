"""What :func:`vae_course.training.fit` checks and prepares before its loop: one clear sentence per bad argument.

Used by :mod:`vae_course.training.fit_loop` only (notebooks 05-12 and the CLI reach it through ``fit``). Every check
runs once per call, before any data moves, and raises ``ValueError`` or ``TypeError`` with a message that names the
argument and says how to fix it, never a traceback from inside torch. The checks that ``fit`` shares with
``evaluate`` live in :mod:`vae_course.objectives.checks`.

:func:`checked_setup` returns a :class:`FitSetup`: the images and labels flattened and on the device, the objective
(``ELBO()`` for None) on the device, the parameter groups Adam trains (the model's, and the objective's own, at the
objective's ``lr`` if it has one), the per-epoch learning rate, and the callbacks sorted by what they listen to.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..config import check_seed, get_device
from ..objectives.checks import (_as_flat_images, _check_labels, _check_model, _positive_int, _check_pass_bytes,
                                 _check_prior_fits)
from ..objectives.objective import as_objective


@dataclass
class FitSetup:
    """Everything ``fit`` needs, checked: data on the device, objective, Adam's groups, learning rate, callbacks."""

    objective: Callable
    device: torch.device
    train: torch.Tensor  # (N, input_dim) on the device
    train_y: torch.Tensor | None
    test: torch.Tensor | None  # (M, input_dim), where it was (evaluate moves each batch)
    test_y: torch.Tensor | None
    groups: list[dict]
    lr: float | Callable[[int], float]
    hint: str  # what to do when training diverges
    on_step: list = field(default_factory=list)
    on_epoch_end: list = field(default_factory=list)  # each called as cb(model, epoch, history)

    def lr_of(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (from 1): ``lr`` itself, or ``lr(epoch)`` for a schedule."""
        value = self.lr(epoch) if callable(self.lr) else self.lr
        return _positive_number(f"lr({epoch})" if callable(self.lr) else "lr", value)

    def set_epoch_lr(self, optimizer: torch.optim.Optimizer, epoch: int) -> None:
        """Set the scheduled rate on every group but those with their own ``lr`` (a schedule only)."""
        if callable(self.lr):
            rate = self.lr_of(epoch)
            for group, spec in zip(optimizer.param_groups, self.groups):
                if "lr" not in spec:
                    group["lr"] = rate

    def start_step(self, step: int, steps_per_epoch: int) -> float:
        """The objective's KL weight for this step (its ``start_step``), 1.0 for an objective without one."""
        start = getattr(self.objective, "start_step", None)
        weight = None if start is None else start(step, steps_per_epoch)
        return 1.0 if weight is None else float(weight)


def _positive_number(name: str, value) -> float:
    if isinstance(value, bool) or not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} must be a positive number, e.g. 1e-3.")
    return float(value)


def _check_lr(lr) -> None:
    if not callable(lr):
        _positive_number("lr", lr)


def _as_callbacks(callbacks) -> tuple[list, list]:
    """``callbacks`` (one or a sequence) split into the ``on_step`` listeners and the epoch-end calls."""
    if callbacks is None:
        callbacks = ()
    elif callable(callbacks) or hasattr(callbacks, "on_step") or hasattr(callbacks, "on_epoch_end"):
        callbacks = (callbacks,)
    elif not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a function cb(epoch, history), a view such as training_monitor(...), or a "
                        f"list of them, got {type(callbacks).__name__}.")
    on_step, on_epoch_end = [], []
    for cb in callbacks:
        step_hook, end_hook = getattr(cb, "on_step", None), getattr(cb, "on_epoch_end", None)
        if callable(step_hook) or callable(end_hook):
            if callable(step_hook):
                on_step.append(cb)
            if callable(end_hook):
                on_epoch_end.append(lambda model, epoch, hist, hook=end_hook: hook(model, epoch, hist))
        elif callable(cb):
            on_epoch_end.append(lambda model, epoch, hist, fn=cb: fn(epoch, hist))
        else:
            raise TypeError(f"each callback must be a function cb(epoch, history) or have on_step/on_epoch_end "
                            f"methods like vae_course.views.training_monitor(...), got {type(cb).__name__}.")
    return on_step, on_epoch_end


def _split_labels(labels) -> tuple:
    if labels is None:
        return None, None
    if not (isinstance(labels, (tuple, list)) and len(labels) == 2):
        raise TypeError(f"labels must be None or a pair (train_labels, test_labels) of 1-D tensors (test_labels may be "
                        f"None), got {type(labels).__name__}.")
    return labels[0], labels[1]


def checked_setup(model, train_images, test_images, objective, epochs, batch_size, lr, seed, labels, device,
                  callbacks) -> FitSetup:
    """Check every argument of ``fit`` (one sentence each) and prepare its loop."""
    _check_model(model)
    _positive_int("epochs", epochs)
    _positive_int("batch_size", batch_size)
    _check_lr(lr)
    check_seed(seed)
    objective = as_objective(objective)
    _check_prior_fits(getattr(objective, "prior", None), model)
    if isinstance(getattr(objective, "k", None), int) and objective.k > 1:
        _check_pass_bytes(objective.k, batch_size, model, f"the objective's k={objective.k} with batch_size={batch_size}")
    on_step, on_epoch_end = _as_callbacks(callbacks)
    train_labels, test_labels = _split_labels(labels)
    dev = get_device(device)
    train = _as_flat_images(train_images, "train_images", model).to(dev)  # (N, 784)
    train_y = _check_labels(train_labels, train, "labels[0] (the training labels)")
    test = None if test_images is None else _as_flat_images(test_images, "test_images", model)
    if test is not None:
        _check_labels(test_labels, test, "labels[1] (the test labels)")
    conditional = getattr(model, "conditional", False)
    if conditional and train_y is None:
        raise ValueError("this model is conditional: pass labels=(train_labels, test_labels) to fit.")
    if conditional and test is not None and test_labels is None:
        raise ValueError("this model is conditional: pass the test labels too, labels=(train_labels, test_labels).")
    model.to(dev)
    if isinstance(objective, torch.nn.Module):
        objective.to(dev)
    own = [p for p in objective.parameters() if p.requires_grad] if isinstance(objective, torch.nn.Module) else []
    own_lr = getattr(objective, "lr", None)
    groups = [{"params": [*model.parameters(), *([] if own_lr is not None else own)]}]
    if own and own_lr is not None:
        groups.append({"params": own, "lr": _positive_number("the objective's lr", own_lr)})
    setup = FitSetup(objective, dev, train, None if train_y is None else train_y.to(dev), test, test_labels, groups,
                     lr, f"lower the learning rate (lr={lr})" if not callable(lr) else "lower the learning rates",
                     on_step, on_epoch_end)
    setup.lr_of(1)  # a schedule's first rate is checked before any training
    return setup


def _diverged_hint(model, xb: torch.Tensor, yb: torch.Tensor | None, *, first: bool) -> str | None:
    """Why the very first step's loss or gradient was NaN when the model itself was broken before training, as the
    whole message; ``None`` otherwise (then "lower the learning rate" is the advice). Runs only after fit stopped."""
    if not first:
        return None
    for name, p in model.named_parameters():
        if not bool(torch.isfinite(p.detach()).all()):
            return (f"the model's weight {name} already held NaN or inf values before training, so the very first "
                    f"step failed: no learning rate can fix that, so build a fresh model or load a good checkpoint.")
    try:
        with torch.no_grad():
            out = model.encode(xb, *(() if yb is None else (yb,)))
        top = float(out[1].detach().float().max()) if isinstance(out, tuple) and len(out) == 2 else 0.0
    except Exception:  # a model whose encode is not (mu, logvar): keep the general advice
        return None
    if not top <= 80.0:  # exp(logvar) overflows float32 above ~88
        return (f"the encoder's logvar already reached {top:.4g} before training, so sigma = exp(logvar / 2) "
                f"overflowed and the very first step failed: no learning rate can fix that, so reset the layer that "
                f"outputs logvar (e.g. build a fresh model) or load a good checkpoint.")
    return None
