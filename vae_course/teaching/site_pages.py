"""What the static website's pages are made of, apart from the notebook's own cells (used by no notebook; the
``python -m vae_course site`` command of :mod:`~vae_course.teaching.website` builds with it, and the README documents
that command).

* The **public** copy of a solved notebook (:func:`public_notebook`): the student edition's cells
  (``vae_course.teaching.student_edition``), each solution region as its stub, no instructor's answers (cells tagged
  ``answer``), every stored output put back except one that would print a line of a solution (a "compare with the
  package" cell's source listing, say), which becomes a note.
* Each notebook page's table of contents (:func:`page_toc`), its ``##`` and ``###`` headings.
* The search index (:func:`index_search`): pagefind, built into ``OUT_DIR/pagefind/``; it needs a web server.
* The pages made from the README (:func:`readme_sections`, :func:`link_pages`) and a notebook's title.
"""
from __future__ import annotations

import copy
import html
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from . import web_assets

TOC_MARK = "<!-- vae-toc -->"
SEARCH_DIR = "pagefind"  # pagefind's bundle, below the site's folder
SOLUTION_LINE_CHARS = 30  # a line of a solution region longer than this never shows on the public site
OUTPUT_NOTE = ("<div class=\"vae-banner\">This output shows code that solves an exercise ({notebooks}), so the public "
               "site leaves it out; run the notebook to see it.</div>")


def notebook_title(nb) -> str:
    """The text of the notebook's first ``# `` heading, without markdown emphasis (or an empty string)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return re.sub(r"[*_`]", "", line[2:]).strip()
    return ""


def solution_lines(nb) -> set[str]:
    """The lines (stripped) of ``nb``'s solution regions longer than ``SOLUTION_LINE_CHARS``, less those that also
    stand outside every region (a line the notebook shows anyway is no secret)."""
    from .student_edition import _MARKER

    inside, outside = set(), set()
    for cell in nb.cells:
        region = False
        for line in cell.source.splitlines():
            if m := _MARKER.match(line):
                region = m["kind"] == "BEGIN"
                continue
            text = line.strip()
            if len(text) > SOLUTION_LINE_CHARS:
                (inside if region else outside).add(text)
    return inside - outside


def _output_text(output) -> str:
    if output.get("output_type") == "stream":
        text = output.get("text", "")
    elif output.get("output_type") == "error":
        text = "\n".join(output.get("traceback", []))
    else:
        text = "\n".join("".join(v) if isinstance(v, list) else str(v) for k, v in output.get("data", {}).items()
                         if k.startswith("text/") or k.endswith("json"))
    return "".join(text) if isinstance(text, list) else text


def public_notebook(nb, name: str = "notebook", secret: dict[str, str] | None = None):
    """The page-ready public copy of the solved notebook ``nb``: the student edition's cells (solution regions as
    stubs, no instructor's answers: ``student_edition.student_notebook``), with every stored output put back, except
    an output that holds a solution line, which becomes a note. ``secret``: ``{line: the notebook it solves}``, default
    ``nb``'s own solution lines; the site passes the whole course's, since one notebook may print code that solves
    another's exercise. Returns ``(copy, outputs replaced)``."""
    from .student_edition import student_notebook

    secret = {line: name for line in solution_lines(nb)} if secret is None else secret
    student = student_notebook(nb, name=name)
    originals = {cell.get("id"): cell for cell in nb.cells}
    cells, replaced = [], 0
    for cell in student.cells:
        if "student-edition" in cell.get("metadata", {}).get("tags", []):
            continue  # the edition's own first cell ("how to check your work") is not for a web page
        original = originals.get(cell.get("id"))
        if cell.cell_type == "code" and original is not None:
            cell.execution_count = original.get("execution_count")
            cell.outputs = []
            for output in original.get("outputs", []):
                text = _output_text(output)
                solved = sorted({where for line, where in secret.items() if line in text})
                if solved:
                    note = OUTPUT_NOTE.format(notebooks=", ".join(html.escape(n) for n in solved))
                    cell.outputs.append(nbformat.v4.new_output("display_data", data={"text/html": note}))
                    replaced += 1
                else:
                    cell.outputs.append(copy.deepcopy(output))
        cells.append(cell)
    student.cells = cells
    if "widgets" in nb.metadata:  # the widget state names the widgets for their notes (without_widgets)
        student.metadata["widgets"] = copy.deepcopy(nb.metadata["widgets"])
    return student, replaced


def page_toc(body: str) -> str:
    """The table of contents of a rendered page: its ``##`` and ``###`` headings, linked to their anchors."""
    items = []
    for level, anchor, inner in re.findall(r'<h([23]) id="([^"]+)"[^>]*>(.*?)</h\1>', body, flags=re.S):
        text = re.sub(r"<[^>]+>", "", re.sub(r'<a class="anchor-link".*?</a>', "", inner, flags=re.S)).strip()
        if text:
            items.append(f'<li class="vae-toc-{level}"><a href="#{anchor}">{text}</a></li>')
    if not items:
        return ""
    return (f'<nav class="vae-toc" aria-label="On this page" data-pagefind-ignore><details open><summary>On this page'
            f'</summary><ul>{"".join(items)}</ul></details></nav>')


def index_search(out: Path) -> float:
    """Build the pagefind search index of the site in ``out`` (into ``out/pagefind/``); return the seconds taken."""
    start = time.perf_counter()
    try:
        import pagefind  # noqa: F401  (the package that carries the pagefind binary)
    except ImportError:
        raise web_assets.AssetError("the site's search needs pagefind: pip install 'pagefind[extended]' (it is in "
                                    "requirements.txt)") from None
    done = subprocess.run([sys.executable, "-m", "pagefind", "--site", str(out), "--output-subdir", SEARCH_DIR,
                           "--keep-index-url", "--force-language", "en", "--exclude-selectors", ".anchor-link", "--silent"],
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or not (out / SEARCH_DIR / "pagefind-ui.js").is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise web_assets.AssetError(f"pagefind could not index {out} (exit {done.returncode}): {' / '.join(tail)}")
    return time.perf_counter() - start


def readme_sections(text: str) -> tuple[str, dict[str, str]]:
    """``(the part before the first "## " heading, {heading: its section's markdown})`` of a README."""
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return parts[0], {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def link_pages(markdown: str, slugs: set[str], pages: dict[str, str] | None = None) -> str:
    """Point the README's notebook names at their pages; relative links to files that are not pages keep their text.

    `` `05_train_vae.ipynb` `` becomes a link to ``05_train_vae.html``; so does a link to ``notebooks/05_….ipynb``.
    ``pages`` maps the file name of a markdown file that is a page of its own to that page: ``{"results.md":
    "results.html"}`` points ``[results](docs/results.md)`` there. Links to the web and to anchors are kept as they are.
    """
    pages = pages or {}

    def code(m):
        return f"[`{m.group(1)}.ipynb`]({m.group(1)}.html)" if m.group(1) in slugs else m.group(0)

    def link(m):
        label, target = m.group(1), m.group(2)
        if re.match(r"[a-z]+:|#", target):
            return m.group(0)
        path = target.split("#")[0]
        stem = Path(path).stem
        if path.endswith(".html") and (stem in slugs or stem in ("index", "teaching", "results")):
            return m.group(0)
        if Path(path).name in pages:
            return f"[{label}]({pages[Path(path).name]})"
        return f"[{label}]({stem}.html)" if path.endswith(".ipynb") and stem in slugs else label

    markdown = re.sub(r"(?<!\[)`(\d\d_\w+)\.ipynb`", code, markdown)
    return re.sub(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", link, markdown)


# The names the package exports (vae_course.teaching); the rest is used as site_pages.public_notebook etc.
__all__ = ["link_pages", "readme_sections"]
