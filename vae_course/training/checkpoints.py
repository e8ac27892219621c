"""Saving and loading trained models: weights plus the config that rebuilds them.

Used by notebooks 05 and 06 (06 loads what 05 saved), notebook 08 and the CLI.

* Writes are atomic: the file is written to a temporary name in the same folder (``.<name>.<pid>.<random>.tmp``)
  and then renamed, so an interrupted save never leaves a half-written checkpoint behind; the temporary files that a
  killed save left (its process is gone) are removed by the next save into that folder.
* A SHA-256 checksum of the weights is stored with them and checked on every load, so bytes flipped on disk or in
  transfer are caught instead of giving a silently different model; NaN or infinite weights are refused too.
* Loads use ``torch.load(weights_only=True)``: a checkpoint is data (tensors, numbers, strings), never code.
* A checkpoint made with another configuration is refused with a message that names the difference.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
import tempfile
import time
from pathlib import Path

import torch

from ..models import MODEL_CLASSES  # the registry: every model family, by class name

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """The checkpoint is missing, unreadable, or was made for another model configuration."""


MAX_PARAMETERS = 2_000_000_000  # a stored config that asks for more (8 GB of float32) is refused before it is built


def _plain(value):
    """``value`` with numpy scalars turned into Python numbers, through dicts, lists and tuples."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_plain(v) for v in value)
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()  # np.float64(1.5) -> 1.5: a weights-only load refuses numpy objects
    return value


def _loads_weights_only(obj) -> bool:
    buf = io.BytesIO()
    try:
        torch.save(obj, buf)
        buf.seek(0)
        torch.load(buf, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any failure means "not loadable"
        return False
    return True


def _checked_path(path, name: str = "path") -> Path:
    """``path`` as a ``Path``, or one clear error for a non-path (``None``, a number) or a NUL byte in it."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file path such as 'checkpoints/vae.pt', got {type(path).__name__}.")
    if "\x00" in os.fspath(path):
        raise ValueError(f"{name}={os.fspath(path)!r} contains a NUL byte, which no file name can hold.")
    return Path(path)


def _unloadable(payload: dict) -> str:
    """Which part of ``payload`` a weights-only load cannot read back, for the error message."""
    for key, value in (payload.get("extra") or {}).items():
        if not _loads_weights_only(value):
            return f"extra[{key!r}] (a {type(value).__name__})"
    for key in ("history", "config"):
        if not _loads_weights_only(payload.get(key)):
            return f"the {key}"
    return "something in it"


_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[a-z0-9_]{8}\.tmp$")  # save_checkpoint's temporary files
STALE_SECONDS = 3600  # a temporary file this old is stale even if a process with its pid runs (pids are reused)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid < 2**31  # another user's process (or an absurd pid: not a process)
    return True


def remove_stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that a killed :func:`save_checkpoint` left in ``folder`` (those of a process that
    is gone, or older than an hour), and return them; files of any other naming are never touched."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        found = _TEMP.match(entry.name)
        if not found:
            continue
        try:
            old = time.time() - entry.lstat().st_mtime > STALE_SECONDS
            if (old or not _alive(int(found["pid"]))) and entry.is_file() and not entry.is_symlink():
                entry.unlink()
                removed.append(entry)
        except OSError:
            continue
    return removed


def weights_checksum(state_dict: dict) -> dict[str, str]:
    """The SHA-256 of each weight tensor (its dtype, shape and bytes), by name."""
    sums = {}
    for key in sorted(state_dict):
        tensor = state_dict[key].detach().cpu().contiguous()
        digest = hashlib.sha256(f"{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        sums[key] = digest.hexdigest()
    return sums


def save_checkpoint(model, path: str | os.PathLike, history=None, extra: dict | None = None) -> Path:
    """Save ``model``'s weights, class name and config (plus an optional :class:`History`) atomically to ``path``.

    ``extra`` holds small data of your own (numbers, strings, lists, dicts, tensors); numpy scalars are stored as
    Python numbers. Before the file takes its name, it is read back with ``weights_only=True``, so a saved
    checkpoint always loads.
    """
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "describe"):
        raise TypeError(f"model must be a course VAE (it needs describe() and state_dict()), got {type(model).__name__}.")
    if history is not None and not callable(getattr(history, "as_dict", None)):
        raise TypeError(f"history must be the History that fit returned (or None), got {type(history).__name__}.")
    if extra is not None and not isinstance(extra, dict):
        raise TypeError(f"extra must be a dict of small values (numbers, strings, lists, tensors), "
                        f"got {type(extra).__name__}.")
    path = _checked_path(path)
    if path.is_dir():
        raise CheckpointError(f"cannot save a checkpoint as {path}: it is a folder, so give a file name such as "
                              f"{path / 'vae.pt'}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise CheckpointError(f"cannot save a checkpoint as {path}: part of its folder is a file, so choose another "
                              f"path.") from None
    except OSError as exc:
        raise CheckpointError(f"cannot create the folder {path.parent} ({exc.strerror or type(exc).__name__}): "
                              f"choose a folder you can write to.") from None
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "format_version": FORMAT_VERSION,
        **model.describe(),
        "state_dict": state,
        "weights_sha256": weights_checksum(state),
        "history": _plain(history.as_dict()) if history is not None else None,
        "extra": _plain(extra or {}),
    }
    remove_stale_temp_files(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise CheckpointError(f"cannot write in {path.parent} ({exc.strerror or type(exc).__name__}): choose a folder "
                              f"you can write to.") from None
    try:
        with os.fdopen(fd, "wb") as f:
            try:
                torch.save(payload, f)
            except (AttributeError, TypeError, pickle.PicklingError):  # a lambda, a local class, an open file...
                raise TypeError(f"{_unloadable(payload)} cannot be stored, so nothing was saved: store numbers, "
                                f"strings, lists, dicts or tensors instead (e.g. .tolist()).") from None
            f.flush()
            os.fsync(f.fileno())
        try:  # prove that the bytes load the way load_checkpoint reads them, before they take the name
            torch.load(tmp, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001
            raise TypeError(f"{_unloadable(payload)} cannot be read back by a weights-only load, so nothing was "
                            f"saved: store numbers, strings, lists, dicts or tensors instead (e.g. .tolist()).") from None
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private (0600); give it a normal file's mode
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise CheckpointError(f"cannot write the checkpoint {path} ({exc.strerror or type(exc).__name__}): check "
                              f"the free disk space and that you can write to that folder.") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw checkpoint dict (weights-only load), or a :class:`CheckpointError`."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint: give the path of the .pt file.")
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: train a model first (notebook 05 or "
                              f"`python -m vae_course train`) or check the path.")
    try:
        with open(path, "rb") as f:
            empty = not f.read(1)
    except PermissionError:
        raise CheckpointError(f"{path} cannot be read (permission denied): give yourself read access to it, "
                              f"e.g. chmod u+r on the file.") from None
    except OSError as exc:
        raise CheckpointError(f"{path} cannot be read ({exc.strerror or type(exc).__name__}).") from None
    if empty:
        raise CheckpointError(f"{path} is empty (a save was probably cut short): delete it and save it again.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unpickling failure means the same to the learner
        raise CheckpointError(f"{path} is not a readable course checkpoint (it is damaged, or was not written by "
                              f"save_checkpoint): delete it and save it again.") from None
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a course checkpoint (format {FORMAT_VERSION}): save it again with "
                              f"save_checkpoint.")
    _check_weights(path, payload)
    return payload


def _check_weights(path: Path, payload: dict) -> None:
    """Refuse weights that differ from their stored checksum (checkpoints saved before it had none) or that are not
    finite."""
    state, stored = payload.get("state_dict"), payload.get("weights_sha256")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return  # load_checkpoint names this problem
    if isinstance(stored, dict):
        found = weights_checksum(state)
        for key in sorted(set(stored) & set(found)):  # a missing or extra tensor is named by load_checkpoint
            if stored[key] != found[key]:
                raise CheckpointError(f"{path} is damaged: its weights {key} do not match the checksum saved with "
                                      f"them (bytes changed on disk or in a copy), so delete it and save or train it "
                                      f"again.")
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{path} holds NaN or infinite weights (in {key}), so the model it was saved from "
                                  f"had diverged: train it again, e.g. with a lower learning rate.")


def _expected_class(expected) -> str | None:
    """The model class a model or config dataclass stands for (``VAEConfig`` -> ``"VAE"``), if it is a known one."""
    if isinstance(expected, torch.nn.Module):
        return type(expected).__name__
    name = type(expected).__name__
    if name.endswith("Config") and name[:-len("Config")] in MODEL_CLASSES:
        return name[:-len("Config")]
    return None


def _describe_shapes(sd: dict) -> dict:
    return {k: tuple(v.shape) for k, v in sd.items()}


def _weights_mismatch(path: Path, cls_name: str, config: dict, want: dict, got: dict) -> str | None:
    """One sentence saying how the stored weights ``got`` differ from what the class builds (``want``), or None."""
    missing = [k for k in want if k not in got]
    unexpected = [k for k in got if k not in want]
    if missing or unexpected:
        for other, other_cls in MODEL_CLASSES.items():  # the weights of another course model, under a wrong name?
            if other == cls_name:
                continue
            try:
                with torch.device("meta"):
                    keys = set(other_cls().state_dict())
            except Exception:  # noqa: BLE001 - a class without defaults: skip it
                continue
            if keys == set(got):
                return (f"{path} says it holds a {cls_name}, but its weights are those of a {other}: it was not "
                        f"written by save_checkpoint, so save it again from the model.")
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else ""))
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}" + (" ..." if len(unexpected) > 3 else ""))
        return (f"{path}: the weights do not fit a {cls_name} with config {config} ({'; '.join(parts)}), so save it "
                f"again from the model.")
    wrong = [k for k in want if want[k] != got[k]]
    if wrong:
        k = wrong[0]
        return (f"{path}: the weights do not fit a {cls_name} with config {config} ({k} is {got[k]} in the file but "
                f"{want[k]} in the model), so save it again from the model.")
    return None


def load_checkpoint(path: str | os.PathLike, expected_config: dict | object | None = None,
                    map_location: str | torch.device = "cpu", with_history: bool = False):
    """Rebuild the model stored at ``path`` and load its weights.

    The model is first built on the ``meta`` device (no memory) and its shapes are compared with the stored weights,
    so a damaged or hostile file with huge sizes is refused before anything is allocated.

    Args:
        expected_config: a config dataclass, dict or model; if given, the checkpoint must match it field by field.
        with_history: also return the stored history dict, as ``(model, history)``.

    Raises:
        CheckpointError: missing/corrupt file, unknown model class, or a config that differs from ``expected_config``.
    """
    from dataclasses import asdict, is_dataclass

    from ..config import get_device

    try:
        device = get_device(map_location)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"map_location={map_location!r} is not usable: {str(exc).rstrip('.')}.") from None
    if expected_config is not None and not (isinstance(expected_config, dict) or is_dataclass(expected_config)
                                            or hasattr(expected_config, "config")):
        raise TypeError(f"expected_config must be a model, a config dataclass or a dict (or None), "
                        f"got {type(expected_config).__name__}.")
    path = _checked_path(path)
    payload = read_checkpoint(path)
    cls_name, config = payload.get("model_class"), payload.get("config")
    if cls_name not in MODEL_CLASSES:
        raise CheckpointError(f"{path} holds a {cls_name!r} model, which this package does not know "
                              f"(known: {', '.join(sorted(MODEL_CLASSES))}).")
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} has no readable config for its {cls_name}: save it again with save_checkpoint.")
    config = dict(config)
    if expected_config is not None:
        want_cls = _expected_class(expected_config)
        if want_cls is not None and want_cls != cls_name:
            raise CheckpointError(f"{path} holds a {cls_name}, not a {want_cls}: build a {cls_name} to load it "
                                  f"(or call load_checkpoint without expected_config).")
        if hasattr(expected_config, "config"):
            expected_config = expected_config.config
        want = asdict(expected_config) if is_dataclass(expected_config) else dict(expected_config)
        diffs = [f"{k}={config.get(k)!r} (you asked for {v!r})" for k, v in want.items()
                 if _norm(config.get(k)) != _norm(v)]
        if diffs:
            raise CheckpointError(f"{path} was trained with a different configuration, " + ", ".join(diffs)
                                  + ": build the model to match, or train and save a new checkpoint.")
    cls = MODEL_CLASSES[cls_name]
    huge = [k for k, v in config.items() if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**31]
    if huge:
        raise CheckpointError(f"{path}: its stored config asks for {huge[0]}={config[huge[0]]}, an absurd size for a "
                              f"{cls_name}, so it was refused.")
    try:  # on the meta device: shapes only, nothing allocated, however large the stored sizes are
        with torch.device("meta"):
            skeleton = cls.from_config(config)
    except (TypeError, ValueError) as exc:
        why = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: its stored config {config} does not build a {cls_name} ({why}).") from None
    except Exception:  # noqa: BLE001 - e.g. sizes too large for torch to describe
        raise CheckpointError(f"{path}: its stored config {config} asks for a {cls_name} of an absurd size, so it "
                              f"was refused.") from None
    n_params = sum(t.numel() for t in skeleton.state_dict().values())
    if n_params > MAX_PARAMETERS:
        raise CheckpointError(f"{path}: its stored config {config} asks for a {cls_name} with {n_params:,} weights "
                              f"(more than {MAX_PARAMETERS:,}), an absurd size, so it was refused.")
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} holds no readable weights (state_dict): save it again with save_checkpoint.")
    problem = _weights_mismatch(path, cls_name, config, _describe_shapes(skeleton.state_dict()),
                                _describe_shapes(state))
    if problem:
        raise CheckpointError(problem)
    try:  # the sizes now match the stored tensors, so building the model costs no more memory than the file did
        model = cls.from_config(config)
        model.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: the weights do not fit a {cls_name} with config {config} "
                              f"({type(exc).__name__}), so save it again from the model.") from None
    model.to(device).eval()
    return (model, payload.get("history")) if with_history else model


def _norm(value):
    return tuple(value) if isinstance(value, list) else value
