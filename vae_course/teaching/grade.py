"""Grade student notebooks: run each in a fresh kernel and collect every checker's machine-readable verdict.

Used by ``python -m vae_course grade SUBMISSION [SUBMISSION ...] [--csv PATH] [--timeout SECONDS]`` (README,
"Teaching with this course"). The grader's own test, ``tests/test_grade.py``, grades the solved edition, the student
edition and a wrong answer of one course notebook.

Each checker in :mod:`vae_course.teaching.exercises` returns a result whose display carries its verdict in the output's
metadata, ``{"vae_course": {"exercise": NAME, "verdict": "PASS" | "FAIL" | "TODO" | "REFERENCE"}}``, so grading
never parses prose (``REFERENCE``: the learner's code called the package's answer while it was checked). A checker
cell that raised is an ``ERROR`` for the exercises of its ``check_*`` calls. An exercise of the submission's course
notebook (its file name ``NN_...`` or title ``# NN · ...``) that gave no verdict in a run that finished is
``MISSING`` (its checker was deleted or commented out). A submission that raises elsewhere, hangs or is not a
notebook, and any other file in a submissions folder, is reported in its row; none stops the grader. Each row has
``score`` (PASS count / exercises), ``passed``, ``exercises``, per exercise its verdict and ``NAME reason`` (a
FAIL's case and largest difference, an ERROR's exception, what a REFERENCE called), and a detail.

Submissions are untrusted code. Each runs in :class:`vae_course.teaching.sandbox.Sandbox`: a throwaway folder holding
only a copy of it, a scrubbed environment, resource limits, as a uid of its own when the grader runs as root, and
every process it started killed when it ends. Only verdicts signed by the checkers the grader wrapped before any
learner code ran count (an unsigned ``vae_course`` record is reported as forged); every submission is read before
any runs, and the installed package is checked after each one. CSV cells are escaped against formula injection.
Ctrl-C stops grading with the rows so far written (exit status 130).
"""
from __future__ import annotations

import csv
import os
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .sandbox import ARM_CELL, Limits, Sandbox

__all__ = ["GradingInterrupted", "Report", "VERDICTS", "checker_names", "csv_cell", "csv_problem", "display_names",
           "format_table", "grade_all", "grade_notebook", "main", "submissions", "table", "verdicts_of", "write_csv"]

VERDICTS = ("PASS", "FAIL", "TODO", "REFERENCE", "ERROR")  # the verdicts a cell can give (ERROR: the cell raised)
MISSING = "MISSING"  # an exercise of the notebook whose checker gave no verdict in a run that finished
_CHECK_CALL = re.compile(r"\b(check_\w+)\s*\(")


@dataclass
class Report:
    """One submission's row: its status (``ok``, ``raised``, ``timeout``, ``forged``, ``not a notebook``), verdicts,
    the reason of each verdict that is not a PASS, and the exercises its course notebook has (``expected``; empty
    when the notebook is not one of the course's)."""

    name: str
    status: str = "ok"
    verdicts: dict[str, str] = field(default_factory=dict)
    detail: str = ""
    reasons: dict[str, str] = field(default_factory=dict)
    expected: list[str] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(v == "PASS" for v in self.verdicts.values())

    @property
    def exercises(self) -> int:
        return len(set(self.expected) | set(self.verdicts))


def checker_names(source: str) -> list[str]:
    """The exercises a code cell checks, in order: its ``check_*(`` calls mapped to exercise names by the registry
    (``check_mc_marginal(`` -> ``mc_log_marginal``); a ``check_`` function that is no course checker is ignored."""
    from .exercises import exercise_of_checker

    names = (exercise_of_checker(call) for call in _CHECK_CALL.findall(source))
    return list(dict.fromkeys(n for n in names if n))


def verdicts_of(nb, *, key: bytes | None = None, run: str = "", reasons: dict[str, str] | None = None
                ) -> tuple[dict[str, str], list[str], list[str]]:
    """``({exercise: verdict}, [errors outside checker cells], [forged records])`` from an executed notebook.

    Only a ``vae_course`` record signed with ``key`` for ``run`` (:func:`vae_course.teaching.sandbox.verify`) counts;
    any other is listed as forged (``key=None``: every record is). ``reasons``, a dict, receives the reason of each
    verdict that is not a PASS (:func:`reason_of` of the checker's line; an ERROR's exception)."""
    from .exercises.core import reason_of
    from .exercises.registry import without_comments
    from .sandbox import verify

    verdicts: dict[str, str] = {}
    errors: list[str] = []
    forged: list[str] = []
    reasons = {} if reasons is None else reasons
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        names = checker_names(without_comments(cell.source))
        raised = None
        for out in cell.get("outputs", []):
            record = out.get("metadata", {}).get("vae_course") if out.get("output_type") in (
                "execute_result", "display_data") else None
            if isinstance(record, dict) and key is not None and verify(key, run, record) \
                    and record.get("verdict") in VERDICTS:
                name = str(record.get("exercise"))
                verdicts[name] = record["verdict"]
                if record["verdict"] == "PASS":
                    reasons.pop(name, None)
                else:
                    reasons[name] = reason_of(str(out.get("data", {}).get("text/plain", "")), name, record["verdict"])
            elif record is not None:
                forged.append(f"cell {index} showed a verdict that no checker of the grader made (ignored)")
            if out.get("output_type") == "error":
                evalue = str(out.get("evalue") or "").strip().splitlines()
                raised = f"cell {index} raised {out.get('ename')}: {evalue[0][:150] if evalue else ''}".rstrip(": ")
        if raised:
            missing = [n for n in names if n not in verdicts]
            for n in missing:
                verdicts[n] = "ERROR"
                reasons[n] = raised
            if not missing:
                errors.append(raised)
    return verdicts, errors, forged


def grade_notebook(path: str | os.PathLike, *, timeout: float = 600, quick: bool = True, source: bytes | None = None,
                   limits: Limits | None = None, interrupted: list | None = None) -> Report:
    """Execute one submission in a fresh sandboxed kernel (quick mode by default) and return its :class:`Report`.

    ``source``: the notebook's bytes, read beforehand (default: read ``path`` now); ``interrupted``: a list that
    Ctrl-C appends to (after killing the kernel) instead of letting nbclient swallow it."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    path = Path(path)
    report = Report(path.name)
    try:
        source = path.read_bytes() if source is None else source
        nb = nbformat.reads(source.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is "not a notebook"
        first = str(exc).strip().splitlines()
        report.status, report.detail = "not a notebook", f"{type(exc).__name__}: {first[0][:120] if first else ''}"
        return report
    nb.cells.insert(0, nbformat.v4.new_code_cell(ARM_CELL))
    with Sandbox(source, _safe_name(path.name), quick=quick, timeout=timeout, limits=limits) as box:
        deadline = time.monotonic() + timeout
        client = NotebookClient(nb, km=box.kernel_manager(), allow_errors=True, record_timing=False,
                                timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
                                resources={"metadata": {"path": str(box.folder)}})
        if interrupted is not None:
            box.on_interrupt = lambda: (interrupted.append(signal.SIGINT), box.kill_all())
        try:
            client.execute()
        except (CellTimeoutError, TimeoutError):
            report.status, report.detail = "timeout", f"still running after {timeout:g} s"
        except DeadKernelError:
            report.status, report.detail = "raised", f"the kernel died{_last_log_line(box)}"
        except Exception as exc:  # noqa: BLE001 - the grader never stops on a submission
            report.status, report.detail = "raised", f"{type(exc).__name__}: {exc}"
    armed = nb.cells.pop(0)
    if report.status == "ok" and not any(o.get("output_type") == "execute_result" for o in armed.get("outputs", [])):
        report.status, report.detail = "raised", "the grader's first cell did not run, so no verdict can be trusted"
        return report
    report.verdicts, errors, forged = verdicts_of(nb, key=box.key, run=box.token, reasons=report.reasons)
    from .exercises.registry import course_number, notebook_exercises

    report.expected = notebook_exercises(course_number(nb, path.name))
    if report.status == "ok":  # the run finished: a checker that gave no verdict was deleted or commented out
        for name in report.expected:
            if name not in report.verdicts:
                report.verdicts[name] = MISSING
                report.reasons[name] = "no checker of this exercise ran: was its checker cell deleted or commented out?"
    if errors and report.status == "ok":
        report.status, report.detail = "raised", errors[0]
    if forged and report.status in ("ok", "raised"):  # forging is what the teacher must see first
        report.status, report.detail = "forged", forged[0]
    return report


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "submission.ipynb"


def _last_log_line(box: Sandbox) -> str:
    try:
        lines = (box.root / "kernel.log").read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    line = lines[-1] if lines else ""
    return f" ({line[:150]})" if line.startswith("the sandbox could not") else ""


def submissions(paths: list[str | os.PathLike], *, others: bool = False) -> list[Path]:
    """Expand folders into the notebooks they hold, in subfolders too (sorted, Jupyter's checkpoints left out);
    keep files as given. ``others``: also every other file in the folders (hidden files and Jupyter's checkpoints
    left out), so that the grader can list them as not notebooks."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(n for n in p.rglob("*") if n.is_file() and (others or n.suffix == ".ipynb")
                              and ".ipynb_checkpoints" not in n.parts
                              and not any(part.startswith(".") for part in n.relative_to(p).parts)))
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


def score(report: Report) -> str:
    """PASS count / exercises, as a decimal with three digits ("" for a row with no exercise)."""
    return f"{report.passed / report.exercises:.3f}" if report.exercises else ""


def table(reports: list[Report], *, reasons: bool = True) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the submissions-by-exercise table: submission, status, score, passed, exercises, then
    per exercise its verdict (``-``: none, the run stopped before it) and, with ``reasons``, a column
    ``EXERCISE reason``, then the detail."""
    exercises = list(dict.fromkeys(name for r in reports for name in [*r.expected, *r.verdicts]))
    per = [(e, f"{e} reason") if reasons else (e,) for e in exercises]
    header = ["submission", "status", "score", "passed", "exercises", *(c for cols in per for c in cols), "detail"]
    rows = []
    for r in reports:
        cells = []
        for e in exercises:
            cells.append(r.verdicts.get(e, "-"))
            if reasons:
                cells.append(r.reasons.get(e, "") if r.verdicts.get(e, "PASS") != "PASS" else "")
        rows.append([r.name, r.status, score(r), str(r.passed), str(r.exercises), *cells, r.detail])
    return header, rows


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """``value`` as a CSV cell that no spreadsheet reads as a formula: a leading ``=``, ``+``, ``-``, ``@``, tab or
    carriage return gets a ``'`` in front (OWASP's advice); the table's own ``-`` (no verdict) stays as it is."""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) and text != "-" else text


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """The table for the terminal: the reason columns become lines under it (``name, exercise: reason``), as do the
    details (``name: detail``)."""
    keep = [i for i, h in enumerate(header[:-1]) if not h.endswith(" reason") and h not in ("passed", "exercises")]
    shown = [[row[i] for i in keep] for row in rows]
    widths = [max(len(str(x)) for x in col) for col in zip([header[i] for i in keep], *shown)]
    lines = ["  ".join(str(header[i]).ljust(w) for i, w in zip(keep, widths)).rstrip()]
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip() for row in shown]
    lines += [f"{row[0]}: {row[-1]}" for row in rows if row[-1]]
    lines += [f"{row[0]}, {h[:-len(' reason')]}: {row[i]}" for row in rows for i, h in enumerate(header)
              if h.endswith(" reason") and row[i]]
    return "\n".join(lines)


def write_csv(path: str | os.PathLike, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([[csv_cell(x) for x in row] for row in [header, *rows]])


class GradingInterrupted(KeyboardInterrupt):
    """Ctrl-C during grading; ``reports`` holds the rows graded so far (already printed and written)."""

    def __init__(self, reports: list[Report]):
        super().__init__()
        self.reports = reports


def _package_state() -> dict[str, tuple[int, int]]:
    """Size and modification time of every file of the installed package (to notice a submission changing it)."""
    root = Path(__file__).resolve().parents[1]
    return {str(p): (s.st_size, s.st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()
            and "__pycache__" not in p.parts for s in [p.stat()]}


def csv_problem(csv_path: str | os.PathLike, found: list[Path]) -> str | None:
    """Why ``csv_path`` must not receive the table (a submission, or a notebook), or None."""
    target = Path(csv_path)
    if any(target.resolve() == p.resolve() for p in found):
        return f"--csv {csv_path} is one of the submissions: give the table another name, such as grades.csv"
    if target.suffix == ".ipynb":
        return f"--csv {csv_path} is a notebook's name: give the table another name, such as grades.csv"
    if target.is_file():
        try:
            head = target.read_bytes()[:4096].lstrip()
        except OSError:
            return None
        if head.startswith(b"{") and (b'"cells"' in head or b'"nbformat"' in head):
            return f"--csv {csv_path} is an existing notebook: give the table another name, such as grades.csv"
    return None


def grade_all(paths: list[str | os.PathLike], *, csv_path: str | os.PathLike | None = "grades.csv",
              timeout: float = 600, quick: bool = True, limits: Limits | None = None) -> list[Report]:
    """Grade every submission, print the table, and write it as CSV to ``csv_path`` (None: don't write).

    Every submission is read before any runs (so that none can change another); after each, the installed package
    must be unchanged, or grading stops with a ``RuntimeError`` naming the submission. Ctrl-C stops grading:
    the rows so far are printed and written, then :class:`GradingInterrupted` is raised."""
    found = submissions(paths, others=True)
    if csv_path is not None and (problem := csv_problem(csv_path, [p for p in found if p.suffix == ".ipynb"])):
        raise ValueError(problem + ".")
    if csv_path is not None:  # the table itself, written into the submissions folder by an earlier run
        found = [p for p in found if not (p.exists() and Path(csv_path).exists() and p.samefile(csv_path))]
    given = {Path(p) for p in paths}
    sources: dict[Path, bytes | None] = {}
    for p in found:
        if p.suffix != ".ipynb" and p not in given:
            continue  # a file found in a folder that is not a notebook: listed, not run
        try:
            sources[p] = p.read_bytes()
        except OSError:
            sources[p] = None
    package = _package_state()
    reports: list[Report] = []
    interrupted, stopped = [], None

    def stop(signum, frame):  # Ctrl-C between kernels (during one, the sandbox's handler kills it)
        interrupted.append(signum)

    previous = signal.signal(signal.SIGINT, stop) if threading.current_thread() is threading.main_thread() else None
    try:
        for p, name in zip(found, display_names(found)):
            if interrupted:
                break
            if p not in sources:
                reports.append(Report(name, "not a notebook", detail="not an .ipynb file (listed, not graded)"))
                continue
            if sources[p] is None:
                reports.append(Report(name, "not a notebook", detail="no such file" if not p.exists()
                                      else "could not be read"))
                continue
            print(f"grading {name} ...", file=sys.stderr, flush=True)
            report = grade_notebook(p, timeout=timeout, quick=quick, source=sources[p], limits=limits,
                                    interrupted=interrupted)
            if interrupted:  # its row is incomplete: left out
                break
            report.name = name
            reports.append(report)
            if _package_state() != package:
                stopped = RuntimeError(f"the installed package vae_course changed while {name} was graded: "
                                       f"reinstall it and grade in a container or as root (see the README); grading "
                                       f"stopped.")
                break
    except KeyboardInterrupt:
        interrupted.append(signal.SIGINT)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    header, rows = table(reports)
    print(format_table(header, rows))
    if csv_path is not None:
        write_csv(csv_path, header, rows)
    if interrupted:
        raise GradingInterrupted(reports)
    if stopped is not None:
        raise stopped
    return reports


def main(paths: list[str], *, csv_path: str = "grades.csv", timeout: float = 600) -> int:
    if not paths:
        print("error: name at least one notebook or folder to grade.")
        return 2
    found = submissions(paths)
    if not found:
        others = submissions(paths, others=True)
        listed = f" (only {', '.join(p.name for p in others[:5])}{' ...' if len(others) > 5 else ''})" if others else ""
        print(f"error: no notebooks (.ipynb files) in {', '.join(paths)}{listed}: name notebooks or folders that "
              f"hold them.")
        return 1
    if problem := csv_problem(csv_path, found):
        print(f"error: {problem}.")
        return 2
    try:
        reports = grade_all(paths, csv_path=csv_path, timeout=timeout)
    except GradingInterrupted as exc:
        print(f"interrupted: grading stopped after {len(exc.reports)} of {len(found)} submissions; their rows are "
              f"in {csv_path}.")
        return 130
    except KeyboardInterrupt:
        print("interrupted: grading stopped before any table was written.")
        return 130
    except OSError as exc:
        print(f"error: could not write the CSV table: {exc}")
        return 1
    except RuntimeError as exc:
        print(f"error: {exc}")
        return 1
    print(f"wrote {csv_path} ({len(reports)} submission{'s' if len(reports) != 1 else ''})")
    return 0
