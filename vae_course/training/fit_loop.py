"""The training loop: :func:`fit` and its per-epoch :class:`History`, reporting nats per image.

Used by notebooks 05-12, the CLI and ``benchmarks/``. The test ELBO it reports each epoch is
:func:`vae_course.evaluation.evaluate`'s.

What it does differently from the reference script's loop, and why:

* Batches are slices of one shuffled in-memory tensor that already lives on the device, not a ``DataLoader`` that
  runs ``ToTensor`` on every image every epoch (the main speed-up, measured in ``benchmarks/bench_train.py``).
* ``device=None`` really picks CUDA, then MPS, then the CPU (:func:`vae_course.config.get_device`).
* Losses are reported as nats **per image**, train and test, split into reconstruction and KL.
* It checks its arguments once per call (images in [0, 1], sizes, seeds), is seeded and deterministic on the CPU, and
  stops before a step whose loss or gradient is NaN/inf, with a clear message (the check shares the loss's one host
  sync per step). Ctrl-C (the notebook's stop button) ends training cleanly: you get the history of the finished
  epochs, every list the same length, and a usable model.
"""
from __future__ import annotations

import math
import numbers
import time
from typing import Callable
from dataclasses import asdict, dataclass, field

import torch

from ..config import check_seed, get_device
from ..evaluation.scores import LossFn, _evaluate
from ..objectives.checks import (_as_flat_images, _as_terms, _check_callable, _check_labels, _check_model,
                                 _check_objective, _number_at_least_0, _positive_int)
from ..objectives.losses import images_checked, model_elbo
from ..objectives.warmup import _free_bits_terms, kl_weight
from .fit_checks import _check_helpers, check_optimizer_covers, objective_options



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

    def last(self) -> dict:
        """The final epoch's figures as a dict (empty if no epoch finished)."""
        if not self.train_loss:
            return {}
        keys = ("train_loss", "train_recon", "train_kl", "test_loss", "test_recon", "test_kl")
        return {k: getattr(self, k)[-1] for k in keys if getattr(self, k)}


PRECISIONS = ("auto", "fp32", "bf16")


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


def fit(model, train_images: torch.Tensor, test_images: torch.Tensor | None = None, *, epochs: int,
        batch_size: int = 128, lr: float = 1e-3, seed: int = 0, device=None, progress: bool = True,
        beta: float = 1.0, likelihood: str = "bernoulli", sigma: float | torch.Tensor = 1.0,
        binarize: str | None = None, train_labels: torch.Tensor | None = None,
        test_labels: torch.Tensor | None = None, kl_warmup_epochs: float = 0, free_bits: float = 0.0,
        optimizer: torch.optim.Optimizer | None = None, loss_fn: LossFn | None = None,
        on_epoch_end: Callable[[int, History], None] | None = None,
        history: History | None = None, precision: str = "auto", monitor=None, prior=None,
        iwae_k: int | None = None) -> History:
    """Train ``model`` with Adam on in-memory images and return a :class:`History` (nats per image).

    Args:
        model: a course VAE (:class:`~vae_course.models.VAE`, ``ConvVAE`` or a conditional model with labels).
        train_images, test_images: float tensors ``(N, 1, 28, 28)`` or ``(N, 784)`` in [0, 1].
        epochs, batch_size, lr: as in the reference script (10, 128, 1e-3).
        seed: seeds the shuffling and the reparameterized noise; the run is deterministic on the CPU.
        device: ``None``/``"auto"`` picks CUDA, then MPS, then CPU. The model is moved there.
        progress: show a ``tqdm.auto`` bar (a widget in JupyterLab, text in a terminal).
        beta: weight of the KL in the objective (beta-VAE). The *reported* losses stay the plain negative ELBO.
        likelihood, sigma: the decoder's distribution (see :func:`vae_course.objectives.reconstruction_nll`).
        binarize: ``"dynamic"`` draws fresh binary pixels from the grey levels for every batch.
        train_labels, test_labels: labels passed to a conditional model's ``encode``/``decode_logits``.
        kl_warmup_epochs: ramp the KL weight linearly from 0 to ``beta`` over this many epochs (per step).
        free_bits: minimum nats per latent dimension in the objective (0 turns it off).
        optimizer: your own optimizer over ``model.parameters()``; default ``Adam(lr=lr)``.
        loss_fn: ``loss_fn(model, x, y) -> ELBOTerms`` to replace the objective (``total`` is minimized).
        on_epoch_end: called as ``on_epoch_end(epoch, history)`` after each epoch (epoch counts from 1).
        history: continue an existing history (e.g. a second call after an interrupt).
        precision: ``"auto"`` (default) runs the matrix products in bfloat16 where the hardware has it natively
            (mixed precision: weights, Adam, the loss terms and every reported number stay float32); ``"fp32"``
            keeps everything in float32; ``"bf16"`` forces bfloat16 products. See :func:`autocast_dtype`.
        monitor: a live view such as ``vae_course.views.training_monitor(test_x, test_y)``; fit calls its
            ``on_step(model, epoch, step, steps_per_epoch, history)`` before each step and its ``on_epoch_end(model,
            epoch, history)`` after each epoch (``epoch`` counted over the history). It does not change the training.
        prior: a learned prior from :mod:`vae_course.objectives.priors` (notebook 11): the KL term becomes its Monte-Carlo
            estimate (:func:`vae_course.objectives.prior_objective`), and the default Adam trains the prior's parameters
            with the model's. The test figures are the negative ELBO under that prior.
        iwae_k: train on the importance-weighted bound L_k with ``iwae_k`` samples per image (Burda et al. 2015;
            :func:`vae_course.objectives.iwae_objective`); ``iwae_k=1`` is the default objective, step for step.
            The reported losses stay the negative ELBO (reconstruction + KL), comparable across k.

    Raises:
        TrainingDivergedError: the loss or a gradient became NaN or infinite (the bad step is not applied).
        ValueError, TypeError: a bad argument, e.g. images outside [0, 1] (checked once per call).
    """
    _check_model(model)
    _positive_int("epochs", epochs)
    _positive_int("batch_size", batch_size)
    if isinstance(lr, bool) or not (isinstance(lr, numbers.Real) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr={lr!r} must be a positive number, e.g. 1e-3.")
    _number_at_least_0("beta", beta)
    check_seed(seed)
    if binarize not in (None, "dynamic"):
        raise ValueError(f"binarize={binarize!r}: fit only knows None or 'dynamic' (use load_mnist for 'static').")
    _number_at_least_0("kl_warmup_epochs", kl_warmup_epochs)
    _number_at_least_0("free_bits", free_bits)
    loss_fn = objective_options(loss_fn, prior, iwae_k, likelihood, sigma, beta, kl_warmup_epochs, free_bits)
    _check_objective(likelihood, sigma, loss_fn)
    _check_callable("on_epoch_end", on_epoch_end)
    _check_helpers(monitor, optimizer)
    if history is not None and not isinstance(history, History):
        raise TypeError(f"history must be the History that an earlier fit returned (or None), "
                        f"got {type(history).__name__}.")
    dev = get_device(device)
    amp_dtype = autocast_dtype(precision, dev)
    train_flat = _as_flat_images(train_images, "train_images", model).to(dev)  # (N, 784)
    train_y = _check_labels(train_labels, train_flat, "train_labels")
    train_y = None if train_y is None else train_y.to(dev)
    test_flat = None if test_images is None else _as_flat_images(test_images, "test_images", model)
    if test_flat is not None:
        _check_labels(test_labels, test_flat, "test_labels")
    if getattr(model, "conditional", False) and train_y is None:
        raise ValueError("this model is conditional: pass train_labels= (and test_labels=) to fit.")
    if getattr(model, "conditional", False) and test_flat is not None and test_labels is None:
        raise ValueError("this model is conditional: pass test_labels= along with test_images= to fit.")

    model.to(dev)
    prior_params = [] if prior is None else list(prior.to(dev).parameters())
    if optimizer is not None and prior_params:
        check_optimizer_covers(optimizer, prior_params, "the prior's parameters")
    torch.manual_seed(seed)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    opt = optimizer or make_adam([*model.parameters(), *prior_params], lr)
    params = [p for group in opt.param_groups for p in group["params"]]
    hint = f"lower the learning rate (lr={lr})" if optimizer is None else "lower your optimizer's learning rate"
    hist = history if history is not None else History()
    hist.precision = "fp32" if amp_dtype is None else "bf16-mixed"
    hist.interrupted = False
    n = train_flat.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    warmup_steps = kl_warmup_epochs * steps_per_epoch
    per_epoch = ("train_loss", "train_recon", "train_kl", "beta", "epoch_seconds")
    per_test = ("test_loss", "test_recon", "test_kl")
    lengths = {k: len(getattr(hist, k)) for k in per_epoch + per_test}  # where this call's epochs start
    finished = 0  # epochs of this call whose figures are all in hist

    from tqdm.auto import tqdm

    bar = tqdm(total=epochs * steps_per_epoch, disable=not progress, unit="batch", leave=True)
    step, epoch = 0, 1
    model.train()
    try:
        with images_checked():  # the images were checked once above: no per-batch range check in the losses
            for epoch in range(1, epochs + 1):
                bar.set_description(f"epoch {epoch}/{epochs}")
                model.train()  # evaluate() and on_epoch_end plots may have switched to eval mode
                start = time.perf_counter()
                perm = torch.randperm(n, generator=gen).to(dev)
                sums = torch.zeros(2, dtype=torch.float64, device=dev)  # recon, KL summed over the epoch's images
                beta_sum = 0.0
                for b in range(steps_per_epoch):
                    if monitor is not None:
                        monitor.on_step(model, hist.epochs + 1, b, steps_per_epoch, hist)
                    idx = perm[b * batch_size:(b + 1) * batch_size]
                    xb = train_flat[idx]  # (B, 784)
                    if binarize == "dynamic":
                        xb = torch.bernoulli(xb)
                    yb = None if train_y is None else train_y[idx]
                    beta_now = kl_weight(step, warmup_steps, beta)  # linear KL warm-up (notebook 09)
                    with torch.autocast(dev.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
                        if loss_fn is not None:
                            terms = loss_fn(model, xb, yb)
                        elif free_bits > 0:
                            terms = _free_bits_terms(model, xb, yb, likelihood, sigma, beta_now, free_bits)
                        else:
                            terms = model_elbo(model, xb, yb, likelihood=likelihood, sigma=sigma, beta=beta_now)
                    terms = _as_terms(terms)
                    loss = terms.total.mean()
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    # One host sync per step: the loss and the sum of the gradient norms come back together, and the
                    # step is applied only if both are finite.
                    grads = [p.grad for p in params if p.grad is not None]
                    if grads:
                        health = torch.stack((loss.detach(), torch.stack(torch._foreach_norm(grads)).sum().to(loss.dtype)))
                        loss_value, grad_sum = health.tolist()
                    else:
                        loss_value, grad_sum = loss.item(), 0.0
                    if not (math.isfinite(loss_value) and math.isfinite(grad_sum)):
                        opt.zero_grad(set_to_none=True)
                        if not math.isfinite(loss_value):
                            raise TrainingDivergedError(
                                f"the loss became {loss_value} at epoch {epoch}, batch {b + 1}: training stopped "
                                f"before applying that step, so the model keeps its last finite weights; {hint}.")
                        raise TrainingDivergedError(
                            f"a gradient became {grad_sum} at epoch {epoch}, batch {b + 1} although the loss was "
                            f"finite ({loss_value:.6g}): training stopped before applying that step, so the model "
                            f"keeps its last finite weights; {hint}, or look in the model or loss_fn for an operation "
                            f"without a finite gradient, such as sqrt or log at 0.")
                    opt.step()
                    with torch.no_grad():
                        sums += torch.stack((terms.recon.sum(), terms.kl.sum())).double()
                    beta_sum += beta_now
                    step += 1
                    bar.update(1)
                    if b % 20 == 0:
                        bar.set_postfix(loss=f"{loss_value:.1f}", refresh=False)
                recon, kl = (sums / n).tolist()
                ev = None
                if test_flat is not None:
                    ev = _evaluate(model, test_flat, test_labels, 1000, likelihood, sigma, seed, dev, loss_fn)
                # The epoch's figures go in together, after its evaluation: an interrupt never leaves half an epoch.
                hist.train_recon.append(recon)
                hist.train_kl.append(kl)
                hist.train_loss.append(recon + kl)
                hist.beta.append(beta_sum / steps_per_epoch)
                if ev is not None:
                    hist.test_loss.append(ev["loss"])
                    hist.test_recon.append(ev["recon"])
                    hist.test_kl.append(ev["kl"])
                hist.epoch_seconds.append(time.perf_counter() - start)
                finished = epoch
                if monitor is not None:
                    monitor.on_epoch_end(model, hist.epochs, hist)
                if on_epoch_end is not None:
                    on_epoch_end(epoch, hist)
    except KeyboardInterrupt:
        hist.interrupted = True
        # Drop whatever the interrupt left of an unfinished epoch, so that every list holds the same epochs.
        for key, length in lengths.items():
            keep = length + (finished if key in per_epoch or test_flat is not None else 0)
            del getattr(hist, key)[keep:]
        where = f"after epoch {epoch}" if finished == epoch else f"during epoch {epoch}"
        total = f"{hist.epochs} finished epoch(s)" + (f" ({finished} from this call)" if hist.epochs != finished else "")
        print(f"Training interrupted {where} of {epochs}: returning the history of the {total}; the model keeps its "
              f"latest weights.")
    finally:
        bar.close()
        model.eval()
    return hist
