"""Grade student notebooks: run each in a fresh kernel and collect every checker's machine-readable verdict.

Used by ``python -m vae_course grade SUBMISSION [SUBMISSION ...] [--csv PATH] [--timeout SECONDS]`` (README,
"Teaching with this course"). The grader's own test, ``tests/test_grade.py``, grades the solved edition, the student
edition and a wrong answer of one course notebook.

Each checker in :mod:`vae_course.teaching.exercises` returns a result whose display carries its verdict in the output's
metadata, ``{"vae_course": {"exercise": NAME, "verdict": "PASS" | "FAIL" | "TODO"}}``, so grading never parses
prose. A checker cell that raised instead is an ``ERROR`` for the exercises of the ``check_*`` calls in it, mapped to
exercise names by :mod:`vae_course.teaching.exercises.registry`. A submission that raises elsewhere,
hangs past the time limit or is not a notebook is reported as such in its row; it never stops the grader.
"""
from __future__ import annotations

import csv
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

VERDICTS = ("PASS", "FAIL", "TODO", "ERROR")
_CHECK_CALL = re.compile(r"\b(check_\w+)\s*\(")


@dataclass
class Report:
    """One submission's row: its status (``ok``, ``raised``, ``timeout``, ``not a notebook``) and verdicts."""

    name: str
    status: str = "ok"
    verdicts: dict[str, str] = field(default_factory=dict)
    detail: str = ""


def checker_names(source: str) -> list[str]:
    """The exercises a code cell checks, in order: its ``check_*(`` calls mapped to exercise names by the registry
    (``check_mc_marginal(`` -> ``mc_log_marginal``); a ``check_`` function that is no course checker is ignored."""
    from .exercises import exercise_of_checker

    names = (exercise_of_checker(call) for call in _CHECK_CALL.findall(source))
    return list(dict.fromkeys(n for n in names if n))


def verdicts_of(nb) -> tuple[dict[str, str], list[str]]:
    """``({exercise: verdict}, [errors outside checker cells])`` from an executed nbformat notebook."""
    verdicts: dict[str, str] = {}
    errors: list[str] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        names = checker_names(cell.source)
        raised = None
        for out in cell.get("outputs", []):
            record = out.get("metadata", {}).get("vae_course") if out.get("output_type") in (
                "execute_result", "display_data") else None
            if isinstance(record, dict) and record.get("verdict") in VERDICTS:
                verdicts[str(record.get("exercise"))] = record["verdict"]
            if out.get("output_type") == "error":
                evalue = str(out.get("evalue") or "").strip().splitlines()
                raised = f"cell {index} raised {out.get('ename')}: {evalue[0][:150] if evalue else ''}".rstrip(": ")
        if raised:
            missing = [n for n in names if n not in verdicts]
            for n in missing:
                verdicts[n] = "ERROR"
            if not missing:
                errors.append(raised)
    return verdicts, errors


def grade_notebook(path: str | os.PathLike, *, timeout: float = 600, quick: bool = True) -> Report:
    """Execute one submission in a fresh kernel (quick mode by default) and return its :class:`Report`."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from .execute import _env

    path = Path(path)
    report = Report(path.name)
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is "not a notebook"
        first = str(exc).strip().splitlines()
        report.status, report.detail = "not a notebook", f"{type(exc).__name__}: {first[0][:120] if first else ''}"
        return report
    deadline = time.monotonic() + timeout
    client = NotebookClient(nb, kernel_name="python3", allow_errors=True, record_timing=False,
                            timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    try:
        with _env(VAE_COURSE_QUICK="1" if quick else "0", PYTHONHASHSEED="0", PYDEVD_DISABLE_FILE_VALIDATION="1"):
            client.execute()
    except (CellTimeoutError, TimeoutError):
        report.status, report.detail = "timeout", f"still running after {timeout:g} s"
    except DeadKernelError as exc:
        report.status, report.detail = "raised", f"the kernel died: {exc}"
    except Exception as exc:  # noqa: BLE001 - the grader never stops on a submission
        report.status, report.detail = "raised", f"{type(exc).__name__}: {exc}"
    report.verdicts, errors = verdicts_of(nb)
    if errors and report.status == "ok":
        report.status, report.detail = "raised", errors[0]
    return report


def submissions(paths: list[str | os.PathLike]) -> list[Path]:
    """Expand folders into the notebooks they hold, in subfolders too (sorted, Jupyter's checkpoints left out);
    keep files as given."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(n for n in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in n.parts))
        else:
            out.append(p)
    return out


def display_names(paths: list[Path]) -> list[str]:
    """Each submission's name in the table: its file name, or its path below the submissions' common folder when
    file names repeat (``alice/03_kl_divergence.ipynb``, ``bob/03_kl_divergence.ipynb``)."""
    names = [p.name for p in paths]
    if len(set(names)) == len(names):
        return names
    full = [p.resolve() for p in paths]
    base = Path(os.path.commonpath([str(f.parent) for f in full]))
    return [str(f.relative_to(base)) for f in full]


def table(reports: list[Report]) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the submissions-by-exercise table."""
    exercises = list(dict.fromkeys(name for r in reports for name in r.verdicts))
    header = ["submission", "status", *exercises, "detail"]
    rows = [[r.name, r.status, *(r.verdicts.get(e, "-") for e in exercises), r.detail] for r in reports]
    return header, rows


def format_table(header: list[str], rows: list[list[str]]) -> str:
    shown = [row[:-1] for row in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header[:-1], *shown)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(header[:-1], widths)).rstrip()]
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip() for row in shown]
    lines += [f"{row[0]}: {row[-1]}" for row in rows if row[-1]]
    return "\n".join(lines)


def grade_all(paths: list[str | os.PathLike], *, csv_path: str | os.PathLike | None = "grades.csv",
          timeout: float = 600, quick: bool = True) -> list[Report]:
    """Grade every submission, print the table, and write it as CSV to ``csv_path`` (None: don't write)."""
    reports = []
    found = submissions(paths)
    for p, name in zip(found, display_names(found)):
        if not p.exists():
            reports.append(Report(name, "not a notebook", detail="no such file"))
            continue
        report = grade_notebook(p, timeout=timeout, quick=quick)
        report.name = name
        reports.append(report)
    header, rows = table(reports)
    print(format_table(header, rows))
    if csv_path is not None:
        with open(csv_path, "w", newline="") as f:
            csv.writer(f).writerows([header, *rows])
    return reports


def main(paths: list[str], *, csv_path: str = "grades.csv", timeout: float = 600) -> int:
    if not paths:
        print("error: name at least one notebook or folder to grade.")
        return 2
    try:
        grade_all(paths, csv_path=csv_path, timeout=timeout)
    except OSError as exc:
        print(f"error: could not write the CSV table: {exc}")
        return 1
    print(f"wrote {csv_path}")
    return 0
