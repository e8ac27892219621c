"""Checks of :func:`vae_course.training.fit`'s training options (monitor, optimizer, the objective shorthands): one
clear sentence each. The checks that ``fit`` shares with ``evaluate`` live in :mod:`vae_course.objectives.checks`.

Used by :mod:`vae_course.training.fit_loop` only (notebooks 05-11 and the CLI reach them through ``fit``). Every check
runs once per call, before any data moves, and raises ``ValueError`` or ``TypeError`` with a message that names the
argument and says how to fix it, never a traceback from inside torch.
"""
from __future__ import annotations

import torch


def _check_helpers(monitor, optimizer) -> None:
    if monitor is not None and not all(callable(getattr(monitor, m, None)) for m in ("on_step", "on_epoch_end")):
        raise TypeError(f"monitor must be a view from vae_course.views.training_monitor (or None), "
                        f"got {type(monitor).__name__}.")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer over model.parameters() (or None for Adam), "
                        f"got {type(optimizer).__name__}.")


def objective_options(loss_fn, prior, iwae_k, likelihood, sigma, beta, kl_warmup_epochs, free_bits):
    """``fit``'s shorthands ``prior=`` and ``iwae_k=`` as a ``loss_fn``, after checking that they fit together.

    Returns ``loss_fn`` unchanged when neither is given. ``prior`` (a :class:`vae_course.objectives.Prior`) gives
    :func:`vae_course.objectives.prior_objective`; ``iwae_k`` gives :func:`vae_course.objectives.iwae_objective`.
    """
    if prior is None and iwae_k is None:
        return loss_fn
    from ..objectives.iwae_loss import iwae_objective
    from ..objectives.priors import Prior, prior_objective

    used = "prior=" if prior is not None else "iwae_k="
    if prior is not None and iwae_k is not None:
        raise ValueError("fit trains with a learned prior or with the importance-weighted bound, not both: "
                         "pass prior= or iwae_k=.")
    if loss_fn is not None:
        raise ValueError(f"{used} builds fit's objective itself: pass either {used} or loss_fn=, not both.")
    if beta != 1.0 or kl_warmup_epochs or free_bits:
        raise ValueError(f"{used} trains on the plain bound: leave beta=1, kl_warmup_epochs=0 and free_bits=0 "
                         f"(or write your own loss_fn).")
    if prior is not None:
        if not isinstance(prior, Prior):
            raise TypeError(f"prior must be a prior from vae_course.objectives.priors (or None), got {type(prior).__name__}.")
        return prior_objective(prior, likelihood=likelihood, sigma=sigma)
    return iwae_objective(iwae_k, likelihood=likelihood, sigma=sigma)


def check_optimizer_covers(optimizer, params, what: str) -> None:
    """Refuse an optimizer that would leave ``params`` (e.g. a learned prior's) untrained."""
    given = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if any(id(p) not in given for p in params):
        raise ValueError(f"your optimizer does not train {what}: add them to it, e.g. "
                         f"Adam([*model.parameters(), *prior.parameters()]), or leave optimizer=None.")
