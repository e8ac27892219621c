"""Wall time of every course notebook, in quick mode and in full mode, as a markdown table for the README.

    python benchmarks/bench_notebooks.py                      # all notebooks, quick then full
    python benchmarks/bench_notebooks.py --quick-only         # only quick mode (VAE_COURSE_QUICK=1)
    python benchmarks/bench_notebooks.py --full-only 03 06    # some notebooks (number, name or path)

Goals: the whole course runs in <= 5 minutes in quick mode and <= 15 minutes in full mode. Run it on a quiet machine.

Each notebook runs exactly as ``python -m vae_course execute`` runs it (``vae_course.teaching.execute_notebook``: a
fresh kernel from this Python, working directory = the notebook's folder, ``PYTHONHASHSEED=0``), but on a COPY: the
notebook folder is copied into a temp dir per mode and the copies run with ``write=False``, so the repo's notebooks
and their stored outputs are never touched. The time includes the kernel start.

Checkpoints: each mode gets its own empty ``VAE_COURSE_CHECKPOINTS`` temp folder and the notebooks run in course
order, so a notebook that loads a model saved by an earlier one finds it (as for a learner working through the
course), and quick-mode checkpoints never leak into full mode or into the repo's ``checkpoints/``. With a subset of
notebooks, a notebook whose producer is not in the subset trains its own model or fails, as it would for a learner;
``--checkpoints DIR`` uses DIR instead (the notebooks may write there). Data comes from ``$VAE_COURSE_DATA``.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

from vae_course.config import data_root
from vae_course.teaching import NOTEBOOK_DIR, course_notebooks, execute_notebook

TARGET_S = {"quick": 5 * 60, "full": 15 * 60}
IGNORE = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")


def resolve(args: list[str]) -> list[Path]:
    """Notebook paths from numbers ('06'), names ('06_latent_space_explorer[.ipynb]') or paths; all if empty."""
    if not args:
        return course_notebooks()
    books = []
    for arg in args:
        path = Path(arg)
        if path.is_file():
            books.append(path.resolve())
            continue
        matches = [p for p in course_notebooks() if p.name == arg or p.stem == arg or p.name.startswith(f"{arg}_")]
        if len(matches) != 1:
            raise SystemExit(f"{arg!r} names {len(matches)} notebooks in {NOTEBOOK_DIR.name}/: give a number like 06, "
                             f"a notebook name or a path.")
        books.append(matches[0].resolve())
    return books


def fmt(seconds: float | None) -> str:
    return "-" if seconds is None else ("FAILED" if seconds < 0 else f"{seconds:.1f}")


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:04.1f} s"


def run_mode(books: list[Path], mode: str, workdir: Path, checkpoints: str | None, timeout: int) -> dict[Path, float]:
    """Execute copies of ``books`` in course order; seconds per notebook (-1 for a failure)."""
    copies: dict[Path, Path] = {}
    for i, folder in enumerate(sorted({b.parent for b in books})):
        target = workdir / mode / f"{i}_{folder.name}"
        shutil.copytree(folder, target, ignore=IGNORE)
        for b in books:
            if b.parent == folder:
                copies[b] = target / b.name
    ckpt = checkpoints or str(workdir / mode / "checkpoints")
    Path(ckpt).mkdir(parents=True, exist_ok=True)
    old = os.environ.get("VAE_COURSE_CHECKPOINTS")
    os.environ["VAE_COURSE_CHECKPOINTS"] = ckpt
    times: dict[Path, float] = {}
    try:
        for book in books:
            try:
                seconds = execute_notebook(copies[book], quick=(mode == "quick"), timeout=timeout, write=False)
            except Exception as exc:  # noqa: BLE001 - report it in the table and go on with the next notebook
                lines = str(exc).strip().splitlines()
                print(f"[{mode}] {book.name}: FAILED: {lines[-1] if lines else type(exc).__name__}", file=sys.stderr,
                      flush=True)
                times[book] = -1.0
                continue
            print(f"[{mode}] {book.name}: {seconds:.1f} s", file=sys.stderr, flush=True)
            times[book] = seconds
    finally:
        if old is None:
            os.environ.pop("VAE_COURSE_CHECKPOINTS", None)
        else:
            os.environ["VAE_COURSE_CHECKPOINTS"] = old
    return times


def table(books: list[Path], results: dict[str, dict[Path, float]]) -> str:
    modes = [m for m in ("quick", "full") if m in results]
    lines = ["| notebook | " + " | ".join(f"{m} s" for m in modes) + " |",
             "|---|" + "---:|" * len(modes)]
    for book in books:
        lines.append(f"| {book.stem} | " + " | ".join(fmt(results[m].get(book)) for m in modes) + " |")
    totals = {m: sum(t for t in results[m].values() if t >= 0) for m in modes}
    failed = {m: sum(1 for t in results[m].values() if t < 0) for m in modes}
    lines.append("| **total** | " + " | ".join(
        f"**{totals[m]:.1f}**" + (f" ({failed[m]} failed)" if failed[m] else "") for m in modes) + " |")
    lines.append("| target | " + " | ".join(f"<= {TARGET_S[m]}" for m in modes) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick-only", action="store_true", help="time quick mode only")
    group.add_argument("--full-only", action="store_true", help="time full mode only")
    parser.add_argument("--checkpoints", default=None,
                        help="use this checkpoint folder instead of a fresh temp folder per mode")
    parser.add_argument("--timeout", type=int, default=1800, help="per-cell timeout in seconds (default 1800)")
    parser.add_argument("notebooks", nargs="*", help="numbers (06), names or paths; default: all in notebooks/")
    args = parser.parse_args(argv)

    books = resolve(args.notebooks)
    if not books:
        print("No notebooks found.", file=sys.stderr)
        return 1
    modes = ["quick"] if args.quick_only else ["full"] if args.full_only else ["quick", "full"]

    import torch

    data = data_root()
    print(f"{platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"GPU: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}")
    print(f"data: {'$VAE_COURSE_DATA' if os.environ.get('VAE_COURSE_DATA') else 'the default ./data'} "
          f"({'found' if (data / 'MNIST' / 'raw').is_dir() else 'MNIST/raw NOT FOUND'}); "
          f"checkpoints: {'--checkpoints folder' if args.checkpoints else 'a fresh temp folder per mode'}")

    results: dict[str, dict[Path, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_notebooks_") as tmp:
        for mode in modes:
            results[mode] = run_mode(books, mode, Path(tmp), args.checkpoints, args.timeout)

    print()
    print(table(books, results))
    print()
    ok = True
    for mode in modes:
        total = sum(t for t in results[mode].values() if t >= 0)
        failed = sum(1 for t in results[mode].values() if t < 0)
        verdict = "FAILED notebooks" if failed else ("within" if total <= TARGET_S[mode] else "OVER")
        ok &= not failed and total <= TARGET_S[mode]
        scope = "all notebooks" if not args.notebooks else f"{len(books)} notebook(s)"
        print(f"{mode} mode, {scope}: {minutes(total)} (target <= {TARGET_S[mode] // 60} min): {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
