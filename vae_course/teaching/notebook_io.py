"""Reading and writing course notebooks safely: one clear sentence for a broken file, atomic writes.

Used by no notebook; by ``python -m vae_course execute`` (:mod:`~vae_course.teaching.execute`) and by the command
line's checks before ``student-edition``, ``site``, ``slides`` and ``tag-slides`` run (``vae_course/__main__.py``),
so that a notebook that is not JSON, not a notebook, has no cells or cannot be written is named in one sentence
instead of nbformat's or Python's traceback, and so that an interrupted write never leaves half a notebook.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

__all__ = ["NotebookError", "check_notebooks", "check_vendor_folder", "read_notebook", "write_notebook_atomically"]


class NotebookError(ValueError):
    """A notebook file that cannot be read, is not a notebook, or cannot be written (one sentence)."""


def read_notebook(path: str | os.PathLike, *, writable: bool = False):
    """The notebook at ``path`` as nbformat version 4, or a :class:`NotebookError` naming the file and the fix.

    With ``writable``, also check (before any work is done) that the file can be replaced in place.
    """
    import nbformat

    path = Path(path)
    if "\x00" in str(path):
        raise NotebookError(f"{str(path)!r} contains a NUL byte, so it cannot be a file name: check the path.")
    if path.is_dir():
        raise NotebookError(f"{path} is a folder, not a notebook: give the path of an .ipynb file.")
    if not path.is_file():
        raise NotebookError(f"no notebook at {path}: check the path.")
    try:
        text = path.read_text(encoding="utf-8")
    except PermissionError:
        raise NotebookError(f"{path} cannot be read (permission denied): give yourself read access, e.g. chmod u+r "
                            f"on it.") from None
    except UnicodeDecodeError:
        raise NotebookError(f"{path} is not a notebook (it is not UTF-8 text): give the path of an .ipynb "
                            f"file.") from None
    except OSError as exc:
        raise NotebookError(f"{path} cannot be read ({exc.strerror or type(exc).__name__}).") from None
    try:
        raw = json.loads(text)
    except ValueError as exc:
        where = f" at line {exc.lineno}" if getattr(exc, "lineno", None) else ""
        raise NotebookError(f"{path} is not a notebook (not valid JSON{where}): restore it, e.g. with git checkout "
                            f"-- {path}, or save it again from Jupyter.") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list) or not raw["cells"]:
        what = ("has no cells" if isinstance(raw, dict) and isinstance(raw.get("cells"), list) else
                "is JSON but not a notebook (it has no list of cells)")
        raise NotebookError(f"{path} {what}: restore it, e.g. with git checkout -- {path}, or save it again from "
                            f"Jupyter.")
    if not isinstance(raw.get("nbformat"), int) or raw["nbformat"] < 4:
        raise NotebookError(f"{path} is not a version-4 notebook (nbformat={raw.get('nbformat')!r}): open it in "
                            f"Jupyter and save it again.")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception:  # noqa: BLE001 - nbformat's own errors are long validation reports
        raise NotebookError(f"{path} is not a valid notebook (nbformat cannot read its cells): restore it, e.g. with "
                            f"git checkout -- {path}, or save it again from Jupyter.") from None
    if writable:
        check_writable(path)
    return nb


def check_writable(path: Path) -> None:
    """A :class:`NotebookError` if the notebook at ``path`` cannot be replaced in place (file or folder read-only)."""
    if not os.access(path, os.W_OK):
        raise NotebookError(f"{path} is read-only, so its outputs could not be saved: make it writable (chmod u+w) "
                            f"first; nothing was run.")
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise NotebookError(f"the folder {path.parent} cannot be written ({exc.strerror or type(exc).__name__}), "
                            f"so {path.name} could not be saved: make the folder writable first; nothing was "
                            f"run.") from None


def write_notebook_atomically(nb, path: str | os.PathLike) -> None:
    """Write ``nb`` to ``path`` through a temporary file in the same folder and a rename, keeping the file's mode:
    an interrupted write leaves the old notebook as it was."""
    import nbformat

    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_notebooks(paths, *, writable: bool = False) -> str | None:
    """What is wrong with the first broken notebook of ``paths`` (one sentence), or None; missing files are left to
    the command, which names them itself."""
    for path in paths:
        if Path(path).exists():
            try:
                read_notebook(path, writable=writable)
            except NotebookError as exc:
                return str(exc)
    return None


def check_vendor_folder() -> str | None:
    """One sentence if ``$VAE_COURSE_VENDOR`` (the web libraries' cache) names something that is not a folder."""
    env = os.environ.get("VAE_COURSE_VENDOR")
    if not env:
        return None
    path = Path(env).expanduser()
    if path.exists() and not path.is_dir():
        return (f"VAE_COURSE_VENDOR={env} is a file, not a folder: point it at a folder for the web libraries' cache "
                f"(it is created if needed), or unset it.")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return (f"VAE_COURSE_VENDOR={env} lies under the file {parent}: point it at a folder for the web "
                        f"libraries' cache, or unset it.")
            break
    return None
