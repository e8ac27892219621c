"""Execute the course notebooks top to bottom, in place: the only way their stored outputs are made.

Used by ``python -m vae_course execute`` (README, "Re-executing the notebooks") and ``benchmarks/bench_notebooks.py``.

Each notebook runs in a fresh kernel from this Python environment, with its own folder as the working directory
(as nbval does), ``PYTHONHASHSEED=0`` and ``VAE_COURSE_QUICK`` set to full mode unless ``quick=True``. Outputs are
cleared first; per-cell timing metadata is not recorded, so that re-running gives a clean diff. In the saved widget
state, the layers that the browser draws by itself (the latent explorer's digit and marker) are stored as the
kernel's pictures of them (:func:`store_stills`): exported HTML shows those as ordinary images.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

from ..config import REPO_ROOT

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


def execute_notebook(path: str | os.PathLike, *, quick: bool = False, timeout: int = 1800,
                     write: bool = True) -> float:
    """Run one notebook in place (outputs overwritten) and return the seconds it took.

    Raises ``nbclient.exceptions.CellExecutionError`` if a cell fails (the notebook is still written, with the error,
    so you can see it).
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path}.")
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        with _env(VAE_COURSE_QUICK="1" if quick else "0", PYTHONHASHSEED="0", PYDEVD_DISABLE_FILE_VALIDATION="1"):
            client.execute()
        store_stills(nb)
    finally:
        if write:
            nbformat.write(nb, path)
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


def main(paths: list[str], quick: bool = False) -> int:
    books = [Path(p) for p in paths] if paths else course_notebooks()
    if not books:
        print("No notebooks found.")
        return 1
    failed = 0
    for book in books:
        mode = "quick" if quick else "full"
        print(f"executing {book} ({mode} mode) ...", flush=True)
        try:
            seconds = execute_notebook(book, quick=quick)
        except Exception as exc:  # noqa: BLE001 - report and continue with the next notebook
            failed += 1
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            print(f"  FAILED: {first}", flush=True)
            continue
        print(f"  done in {seconds:.1f} s", flush=True)
    return 1 if failed else 0
