"""Saving and loading trained models: weights plus the config that rebuilds them.

Used by notebooks 05 and 06 (06 loads what 05 saved), notebook 08 and the CLI.

* Writes are atomic: the file is written to a temporary name in the same folder and then renamed, so an interrupted
  save never leaves a half-written checkpoint behind.
* Loads use ``torch.load(weights_only=True)``: a checkpoint is data (tensors, numbers, strings), never code.
* A checkpoint made with another configuration is refused with a message that names the difference.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from .models import MODEL_CLASSES  # the registry: every model family, by class name

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """The checkpoint is missing, unreadable, or was made for another model configuration."""


def save_checkpoint(model, path: str | os.PathLike, history=None, extra: dict | None = None) -> Path:
    """Save ``model``'s weights, class name and config (plus an optional :class:`History`) atomically to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format_version": FORMAT_VERSION,
        **model.describe(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "history": history.as_dict() if history is not None else None,
        "extra": extra or {},
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private (0600); give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw checkpoint dict (weights-only load), or a :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: train a model first (notebook 05 or "
                              f"`python -m vae_course train`) or check the path.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same to the learner
        raise CheckpointError(f"{path} is not a readable course checkpoint ({type(exc).__name__}): delete it and "
                              f"save it again.") from None
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a course checkpoint (format {FORMAT_VERSION}): save it again with "
                              f"save_checkpoint.")
    return payload


def load_checkpoint(path: str | os.PathLike, expected_config: dict | object | None = None,
                    map_location: str | torch.device = "cpu", with_history: bool = False):
    """Rebuild the model stored at ``path`` and load its weights.

    Args:
        expected_config: a config dataclass, dict or model; if given, the checkpoint must match it field by field.
        with_history: also return the stored history dict, as ``(model, history)``.

    Raises:
        CheckpointError: missing/corrupt file, unknown model class, or a config that differs from ``expected_config``.
    """
    from dataclasses import asdict, is_dataclass

    payload = read_checkpoint(path)
    cls_name, config = payload.get("model_class"), dict(payload.get("config") or {})
    if cls_name not in MODEL_CLASSES:
        raise CheckpointError(f"{path} holds a {cls_name!r} model, which this package does not know "
                              f"(known: {', '.join(sorted(MODEL_CLASSES))}).")
    if expected_config is not None:
        if hasattr(expected_config, "config"):
            expected_config = expected_config.config
        want = asdict(expected_config) if is_dataclass(expected_config) else dict(expected_config)
        diffs = [f"{k}={config.get(k)!r} (you asked for {v!r})" for k, v in want.items()
                 if _norm(config.get(k)) != _norm(v)]
        if diffs:
            raise CheckpointError(f"{path} was trained with a different configuration: " + ", ".join(diffs)
                                  + ". Build the model to match, or train and save a new checkpoint.")
    try:
        model = MODEL_CLASSES[cls_name].from_config(config)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: its stored config {config} does not build a {cls_name} ({exc}).") from None
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: the weights do not fit a {cls_name} with config {config} "
                              f"({str(exc).splitlines()[0]}).") from None
    model.to(map_location).eval()
    return (model, payload.get("history")) if with_history else model


def _norm(value):
    return tuple(value) if isinstance(value, list) else value
