"""Static checks of the stored notebooks (reads the .ipynb JSON; runs no kernel).

For every notebook in notebooks/:
- it was executed top to bottom: the code cells with source carry execution counts 1, 2, ..., n in order;
- at least half of its *text-output cells* are compared by nbval, i.e. not excluded by a tag
  (``nbval-ignore-output``, ``nbval-skip``) or by a ``# NBVAL_IGNORE_OUTPUT`` / ``# NBVAL_SKIP`` comment. Strict
  nbval would compare more, but a notebook that ignores most of what it prints tests little;
and every notebook numbered 01-10 holds at least one cell tagged ``solution`` (the exercise; 00 is the setup check).

A *text-output cell* is a code cell with at least one stored output whose content is text: a ``stream`` output
(stdout or stderr), or an ``execute_result``/``display_data`` with a text MIME type (text/plain, text/html, ...) that
is not a widget view. A plot's ``display_data`` counts (nbval compares its text/plain, e.g. ``<Figure ...>``), but
a widget display does not (its text/plain is a placeholder nbval cannot hold fixed). Errors do not count.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
BOOKS = sorted(p for p in NOTEBOOKS.glob("*.ipynb"))

MIN_CHECKED_FRACTION = 0.5
TEXT_MIME = ("text/plain", "text/html", "text/markdown", "text/latex")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

# How nbval reads the same markers (nbval.plugin.comment_markers / metadata_tags). A comment wins over a tag.
_COMMENT_MARKERS = {"NBVAL_IGNORE_OUTPUT": ("check", False), "PYTEST_VALIDATE_IGNORE_OUTPUT": ("check", False),
                    "NBVAL_CHECK_OUTPUT": ("check", True), "NBVAL_SKIP": ("skip", True)}
_TAG_MARKERS = {"nbval-ignore-output": ("check", False), "pytest-validate-ignore-output": ("check", False),
                "nbval-check-output": ("check", True), "nbval-skip": ("skip", True)}


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def compared_by_nbval(cell) -> bool:
    """True when strict nbval (``--nbval``) compares this code cell's outputs."""
    options = {"check": True, "skip": False}
    tags = cell.get("metadata", {}).get("tags", [])
    for tag in tags if isinstance(tags, list) else []:
        if tag in _TAG_MARKERS:
            key, value = _TAG_MARKERS[tag]
            options[key] = value
    for line in _source(cell).splitlines():
        line = line.strip()
        if line.startswith("#"):
            marker = _COMMENT_MARKERS.get(line.lstrip("#").strip())
            if marker:
                options[marker[0]] = marker[1]
    return options["check"] and not options["skip"]


def is_text_output(out) -> bool:
    kind = out.get("output_type")
    if kind == "stream":
        return bool(_source({"source": out.get("text", "")}))
    if kind in ("execute_result", "display_data"):
        data = out.get("data", {})
        return WIDGET_MIME not in data and any(m in data for m in TEXT_MIME)
    return False


def notebook_number(path: Path) -> int | None:
    m = re.match(r"(\d\d)_", path.name)
    return int(m.group(1)) if m else None


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        pytest.fail(f"notebooks/{path.name} is not valid JSON: {exc}")


def _code_cells(nb: dict) -> list[tuple[int, dict]]:
    return [(i, c) for i, c in enumerate(nb.get("cells", [])) if c.get("cell_type") == "code"]


@pytest.mark.parametrize("path", BOOKS, ids=[p.name for p in BOOKS])
def test_notebook_was_executed_in_order(path):
    cells = [(i, c) for i, c in _code_cells(_load(path)) if _source(c).strip()]
    counts = [c.get("execution_count") for _, c in cells]
    never = [i for (i, c) in cells if c.get("execution_count") is None]
    assert not never, (f"notebooks/{path.name} is not executed: code cells {never[:10]} have no execution count. "
                       f"Run `python -m vae_course execute notebooks/{path.name}`.")
    assert counts == list(range(1, len(counts) + 1)), (
        f"notebooks/{path.name}: execution counts are {counts[:15]}{'...' if len(counts) > 15 else ''}, not "
        f"1..{len(counts)} in order. Run `python -m vae_course execute notebooks/{path.name}`.")


@pytest.mark.parametrize("path", BOOKS, ids=[p.name for p in BOOKS])
def test_half_of_text_output_cells_are_checked_by_nbval(path):
    text_cells = [(i, c) for i, c in _code_cells(_load(path))
                  if any(is_text_output(o) for o in c.get("outputs", []))]
    if not text_cells:
        pytest.fail(f"notebooks/{path.name} has no code cell with stored text output: nbval checks nothing in it "
                    f"(is it executed?)")
    ignored = [i for i, c in text_cells if not compared_by_nbval(c)]
    checked = len(text_cells) - len(ignored)
    assert checked >= MIN_CHECKED_FRACTION * len(text_cells), (
        f"notebooks/{path.name}: only {checked} of its {len(text_cells)} code cells with text output are compared "
        f"by nbval (need at least {MIN_CHECKED_FRACTION:.0%}); cells {ignored} (index among all cells) are tagged "
        f"nbval-ignore-output/nbval-skip or carry # NBVAL_IGNORE_OUTPUT/# NBVAL_SKIP. Print mode-independent facts "
        f"(shapes, closed-form values, checker PASS lines) in untagged cells.")


EXERCISE_BOOKS = [p for p in BOOKS if (notebook_number(p) or 0) >= 1]


@pytest.mark.parametrize("path", EXERCISE_BOOKS, ids=[p.name for p in EXERCISE_BOOKS])
def test_notebook_has_a_solution_cell(path):
    tagged = [i for i, c in enumerate(_load(path).get("cells", []))
              if "solution" in (c.get("metadata", {}).get("tags") or [])]
    assert tagged, (f"notebooks/{path.name} has no cell tagged `solution`: every notebook after 00 needs an exercise "
                    f"whose learner function sits in a cell tagged `solution`, followed by its checker.")
