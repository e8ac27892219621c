"""Execute the course notebooks top to bottom, in place: the only way their stored outputs are made.

Used by ``python -m vae_course execute`` (README, "Re-executing the notebooks") and ``benchmarks/bench_notebooks.py``.

A notebook is written atomically and only when its run ended (Ctrl-C leaves it as it was); a broken or read-only
notebook is refused before anything runs (:mod:`~vae_course.teaching.notebook_io`). Each notebook runs in a fresh kernel from this Python environment, with its own folder as the working directory
(as nbval does), ``PYTHONHASHSEED=0`` and ``VAE_COURSE_QUICK`` set to full mode unless ``quick=True``. Outputs are
cleared first; per-cell timing metadata is not recorded, so that re-running gives a clean diff. In the saved widget
state, the layers that the browser draws by itself (the latent explorer's digit and marker) are stored as the
kernel's pictures of them (:func:`store_stills`): exported HTML shows those as ordinary images.
"""
from __future__ import annotations

import os
import signal
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from ..config import REPO_ROOT
from ..training.fit_loop import _noticing_ctrl_c

NOTEBOOK_DIR = REPO_ROOT / "notebooks"


def course_notebooks(folder: str | os.PathLike | None = None) -> list[Path]:
    """The numbered notebooks in ``folder`` (default ``notebooks/``), in course order."""
    folder = Path(folder) if folder is not None else NOTEBOOK_DIR
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


@contextmanager
def _env(**values: str):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run(client, ctrl_c, log) -> None:
    """``client.execute()`` on an event loop of its own, whose Ctrl-C handler also notes the interrupt in ``ctrl_c``
    (what :func:`vae_course.training.fit_loop._noticing_ctrl_c` yields, which notes the others):
    nbclient answers SIGINT by shutting the kernel down, so that the run ends in a "kernel died" error instead.
    The kernel process's own log (not the cells' output, which goes into the notebook) is written to ``log``."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:  # called from a running loop (inside Jupyter): nbclient's own way
        client.execute(stderr=log)
        return
    loop = asyncio.new_event_loop()
    add = loop.add_signal_handler

    def add_noting(sig, callback, *args):
        def noting(*a):
            if sig == signal.SIGINT:
                ctrl_c.seen = True
            callback(*a)

        return add(sig, noting, *args)

    loop.add_signal_handler = add_noting
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(client.async_execute(stderr=log))
    finally:
        try:  # as asyncio.run does: end nbclient's pending tasks (its kernel poller), so none is destroyed pending
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def execute_notebook(path: str | os.PathLike, *, quick: bool = False, timeout: float = 1800,
                     write: bool = True) -> float:
    """Run one notebook in place (outputs overwritten) and return the seconds it took.

    The file is checked first (a readable notebook, and writable when ``write``), so nothing runs that could not be
    saved. It is written atomically, and only when the run ended: every cell ran, or a cell raised (then the
    notebook is still written, with the error, so you can see it, and ``nbclient.exceptions.CellExecutionError`` is
    raised). Ctrl-C (KeyboardInterrupt), a cell that runs past ``timeout`` seconds, or a kernel that dies leave the
    file as it was.

    Raises:
        NotebookError: the file is not a readable notebook, or cannot be written (one sentence).
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from .notebook_io import read_notebook, write_notebook_atomically

    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
        raise ValueError(f"timeout={timeout!r} must be a positive number of seconds per cell, e.g. timeout=1800.")
    path = Path(path).resolve()
    nb = read_notebook(path, writable=write)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        with _env(VAE_COURSE_QUICK="1" if quick else "0", PYTHONHASHSEED="0", PYDEVD_DISABLE_FILE_VALIDATION="1"), \
                _noticing_ctrl_c() as ctrl_c, tempfile.TemporaryFile() as log:
            try:
                _run(client, ctrl_c, log)
            except BaseException:
                if ctrl_c.seen:  # nbclient's event loop turns Ctrl-C into other errors (an AssertionError, for one)
                    raise KeyboardInterrupt from None
                raise
            if ctrl_c.seen:
                raise KeyboardInterrupt
        store_stills(nb)
    except CellExecutionError as exc:
        if getattr(exc, "ename", None) == "KeyboardInterrupt":  # Ctrl-C reached the kernel first: a stop, not an end
            raise KeyboardInterrupt from None
        if write:
            write_notebook_atomically(nb, path)
        raise
    if write:
        write_notebook_atomically(nb, path)
    return time.perf_counter() - start


def store_stills(nb) -> int:
    """In ``nb``'s saved widget state, store each layer the browser draws by itself as the kernel's picture of it
    (:func:`vae_course.views.stored_as_stills`), so exported HTML shows images; returns how many."""
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state")
    if not state:
        return 0
    from ..views.live import stored_as_stills

    shown = {out["data"]["application/vnd.jupyter.widget-view+json"].get("model_id") for cell in nb.cells
             if cell.cell_type == "code" for out in cell.get("outputs", [])
             if "application/vnd.jupyter.widget-view+json" in out.get("data", {})}
    return stored_as_stills(state, keep=shown)


def main(paths: list[str], quick: bool = False, timeout: float = 1800) -> int:
    """The ``execute`` command: 0 if every notebook ran, 1 if one failed, 130 on Ctrl-C (that notebook unchanged)."""
    import sys

    from .notebook_io import NotebookError

    books = [Path(p) for p in paths] if paths else course_notebooks()
    if not books:
        print("No notebooks found.")
        return 1
    failed = 0
    for book in books:
        mode = "quick" if quick else "full"
        print(f"executing {book} ({mode} mode) ...", flush=True)
        try:
            seconds = execute_notebook(book, quick=quick, timeout=timeout)
        except KeyboardInterrupt:
            print(f"error: interrupted while executing {book}; it was left as it was (no outputs written).",
                  file=sys.stderr, flush=True)
            return 130
        except NotebookError as exc:
            failed += 1
            print(f"  FAILED: {exc}", flush=True)
            continue
        except Exception as exc:  # noqa: BLE001 - report and continue with the next notebook
            failed += 1
            print(f"  FAILED: {_failure(exc, timeout)}", flush=True)
            continue
        print(f"  done in {seconds:.1f} s", flush=True)
    return 1 if failed else 0


def _failure(exc: Exception, timeout: float) -> str:
    """One line for a notebook that did not run through."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    if isinstance(exc, CellTimeoutError):
        return (f"a cell ran longer than {timeout:g} s, so it was stopped and the notebook left as it was: give "
                f"more time with --timeout SECONDS.")
    if isinstance(exc, DeadKernelError):
        return "the kernel died (out of memory?), so the notebook was left as it was."
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__
