"""Offline reveal.js lecture decks, a deck per notebook, and the slide metadata convention (used by no notebook; the
README documents the commands).

    python -m vae_course slides OUT_DIR                    # one deck per lecture: OUT_DIR/lecture-1.html ... index.html
    python -m vae_course slides OUT_DIR NOTEBOOK ...       # one deck per notebook: OUT_DIR/NN_name.slides.html
    python -m vae_course tag-slides [NOTEBOOK ...]         # write the convention into the notebooks' metadata
    python -m vae_course tag-slides --check                # exit 1 if a notebook's metadata strays from it

**Lecture decks** (no NOTEBOOK named) are authored texts, ``lectures/N_name.md``, one per lecture of the README's
lecture plan: :mod:`~vae_course.teaching.lecture_decks` builds them (its docstring describes the format); this module
re-exports its names (``slides.build_lectures``, ``slides.DeckError``, ...) and runs the command.

A **notebook's deck** is made by nbconvert's slides exporter from the stored outputs (nothing is executed). Both
kinds load reveal.js and MathJax from ``OUT_DIR/_static/`` (``vae_course.teaching.web_assets``), so a deck works
opened from disk with no network. Widget outputs become a note, as on the website
(``vae_course.teaching.without_widgets``).

The convention (``slide_type``; CONTRIBUTING.md, "The website and the slides"), cell by cell:
* the first cell, and every markdown cell that holds a ``#`` or ``##`` heading (a section starts in it): ``slide``;
* a markdown cell whose headings are all ``###`` or deeper: ``subslide``;
* a markdown cell holding display math (``$$``, ``\\begin{align}``...) and no heading: ``fragment``, one derivation
  step per click; a short code cell right after a fragment (its check) is a ``fragment`` too;
* a code cell longer than ``LONG_CODE_LINES`` lines: ``subslide``, its own vertical slide with its output;
* a plain markdown cell (no heading, no display math) after ``MAX_CELLS_PER_SLIDE`` cells shown on the current
  slide: ``subslide``, so that no slide grows too tall to read;
* instructors' answers (cells tagged ``answer``): ``notes`` (reveal.js speaker notes, key ``s``);
* the learner's exercise cells (tagged ``solution``) and empty cells: ``skip``;
* everything else: ``-`` (continues the slide above).
A cell tagged ``slide-manual`` keeps whatever ``slide_type`` it has. ``slides`` applies the convention on the fly,
in memory, to a notebook that carries no ``slideshow`` metadata at all.
"""
from __future__ import annotations

import copy
import re
import sys
import time
from pathlib import Path

import nbformat

from . import web_assets
# The lecture decks' names, importable from here as before (slides.build_lectures, slides.DeckError, ...).
from .lecture_decks import (  # noqa: F401
    ANSWERS, DECK_SIZE, FIGURE_TAG, INDEX_PAGE, LECTURE_CSS, LECTURE_PAGE, LECTURES, PAUSE, PLAN_HEADING, TICK_POINTS,
    DeckError, Figure, Lecture, LectureSlide, build_lectures, find_figure, lecture_plan, parse_lecture, read_lectures,
    render_lecture)
from .website import IMAGE_MIMES, NOTEBOOKS, README, WIDGET_MIME, course_notebooks, without_widgets  # noqa: F401

LONG_CODE_LINES = 15
MAX_CELLS_PER_SLIDE = 4  # a plain markdown cell after this many shown cells starts a sub-slide
MANUAL_TAG = "slide-manual"
SLIDE_TYPES = ("slide", "subslide", "fragment", "skip", "notes", "-")
_DISPLAY_MATH = re.compile(r"\$\$|\\begin\{(align|aligned|equation|gather|split)\*?\}")

DECK_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}<link rel="icon" href="data:,">{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{{ resources.vae.mathjax | safe }}
<style type="text/css">
.vae-widget-note { border-left: 4px solid #5b8bd0; background: #eef3fa; padding: 0.4em 0.7em; font-size: 0.8em; }
.reveal .slides section { text-align: left; }
</style>
{%- endblock html_head_js_mathjax -%}
{% block footer_js %}
<script src="{{ resources.reveal.url_prefix }}/dist/reveal.js"></script>
<script src="{{ resources.reveal.url_prefix }}/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({controls: true, progress: true, history: true, transition: "slide", slideNumber: "c/t",
                   width: 1280, height: 800, plugins: [RevealNotes]});
// A slide taller than the screen scrolls (nbconvert's reveal_scroll, without jQuery).
function vaeScrollTallSlides() {
  var limit = document.querySelector('.reveal').offsetHeight * 0.95;
  document.querySelectorAll('.reveal .slides section section, .reveal .slides > section').forEach(function (s) {
    if (s.querySelector('section') === null && s.scrollHeight > limit) {
      s.style.height = '95vh'; s.style.overflowY = 'auto'; s.style.marginTop = '20px';
    }
  });
}
Reveal.on('ready', vaeScrollTallSlides);
Reveal.on('slidechanged', vaeScrollTallSlides);
</script>
{% endblock footer_js %}
"""


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _headings(markdown: str) -> list[int]:
    """The levels of the ATX headings (``## Title``) of a markdown text, outside fenced code blocks."""
    levels, fenced = [], False
    for line in markdown.splitlines():
        if re.match(r"\s*(```|~~~)", line):
            fenced = not fenced
        elif not fenced and (m := re.match(r"(#{1,6})\s+\S", line)):
            levels.append(len(m.group(1)))
    return levels


def convention(nb) -> list[str | None]:
    """The ``slide_type`` the convention gives each cell of ``nb`` (None: a ``slide-manual`` cell, left alone)."""
    types: list[str | None] = []
    previous, shown = None, 0  # the last shown cell's (type, slide_type); cells shown on the current (sub)slide
    for i, cell in enumerate(nb.cells):
        source = cell.source.strip()
        tags = _tags(cell)
        headings = _headings(source) if cell.cell_type == "markdown" else []
        if MANUAL_TAG in tags:
            kind = None
        elif "answer" in tags:
            kind = "notes"
        elif i == 0:
            kind = "slide"
        elif not source or "solution" in tags:
            kind = "skip"
        elif cell.cell_type == "markdown":
            if any(level <= 2 for level in headings):
                kind = "slide"
            elif headings:
                kind = "subslide"
            elif _DISPLAY_MATH.search(source):
                kind = "fragment"
            else:
                kind = "subslide" if shown >= MAX_CELLS_PER_SLIDE else "-"
        elif len(source.splitlines()) > LONG_CODE_LINES:
            kind = "subslide"
        else:
            kind = "fragment" if previous == ("markdown", "fragment") else "-"
        types.append(kind)
        if kind not in (None, "skip", "notes"):
            previous = (cell.cell_type, kind)
            shown = 1 if kind in ("slide", "subslide") else shown + 1
    return types


def tag_slides(nb) -> int:
    """Set ``cell.metadata.slideshow.slide_type`` on every cell of ``nb`` by the convention (in place).

    Sources, outputs, ids and every other metadata key are kept. Returns how many cells changed.
    """
    changed = 0
    for cell, kind in zip(nb.cells, convention(nb)):
        if kind is None:
            continue
        slideshow = cell.metadata.setdefault("slideshow", {})
        if slideshow.get("slide_type") != kind:
            slideshow["slide_type"] = kind
            changed += 1
    return changed


def has_slide_metadata(nb) -> bool:
    return any("slide_type" in cell.get("metadata", {}).get("slideshow", {}) for cell in nb.cells)


def deck_notebook(nb, name: str):
    """The notebook that a deck is made of: ``nb``'s stored slide types (the convention where it has none), its
    widget outputs replaced by notes. ``nb`` itself is not changed."""
    nb = copy.deepcopy(nb)
    if not has_slide_metadata(nb):
        tag_slides(nb)
    nb, _ = without_widgets(nb, name)
    return nb


def make_exporter():
    """nbconvert's slides exporter with the course's deck template and the local reveal.js."""
    from jinja2 import DictLoader
    from nbconvert import SlidesExporter

    return SlidesExporter(template_name="reveal", extra_loaders=[DictLoader({"vae_deck.html.j2": DECK_TEMPLATE})],
                          template_file="vae_deck.html.j2", reveal_url_prefix=f"_static/{web_assets.REVEAL_PREFIX}",
                          reveal_theme="white", reveal_transition="slide")


def build_slides(out_dir, notebooks=None) -> list[Path]:
    """Write one deck per notebook into ``out_dir`` (``NN_name.slides.html``) and ``_static/``; return the decks."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    web_assets.install(out / "_static", ("mathjax", "reveal.js"))
    exporter = make_exporter()
    mathjax = web_assets.mathjax_html("_static")
    decks = []
    for path in [Path(p) for p in (course_notebooks() if notebooks is None else notebooks)]:
        nb = deck_notebook(nbformat.read(path, as_version=4), path.name)
        nb.metadata["title"] = path.stem
        body, _ = exporter.from_notebook_node(nb, resources={"vae": {"mathjax": mathjax}})
        deck = out / f"{path.stem}.slides.html"
        deck.write_text(body, encoding="utf-8")
        decks.append(deck)
    return decks


def _notebook_paths(names: list[str]) -> list[Path] | str:
    """The notebooks named (default: the whole course), or what is wrong with them (one clause)."""
    paths = [Path(n) for n in names] if names else course_notebooks()
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        return f"no such notebook: {', '.join(missing)}"
    if not paths:
        return "no course notebooks found"
    return paths


def main(out_dir: str, names: list[str], *, force: bool = False) -> int:
    """The ``slides`` command: the lecture decks (no ``names``), or one deck per notebook named. Writes only into an
    empty folder or one that ``slides`` wrote before, unless ``force``."""
    from .output_folder import claim_output_folder

    paths = _notebook_paths(names) if names else []
    if isinstance(paths, str):
        print(f"error: {paths}", file=sys.stderr)
        return 1
    out = Path(out_dir)
    if problem := claim_output_folder(out, "slides", force=force):
        print(f"error: {problem}.", file=sys.stderr)
        return 1
    start = time.perf_counter()
    try:
        decks, status = web_assets.build_for_cli(
            out, (lambda folder: build_slides(folder, paths)) if names else build_lectures)
    except DeckError as exc:
        print(f"error: {exc}.", file=sys.stderr)
        return 1
    if status:
        return status
    for deck in decks:
        print(f"  {deck.name}")
    what = "deck" if names else "lecture deck"
    listing = "" if names else f" (their list: {out / 'index.html'})"
    print(f"wrote {len(decks)} {what}{'s' if len(decks) != 1 else ''} to {out} in {time.perf_counter() - start:.1f} s"
          f"{listing}; open one in a browser (no network needed): arrow keys move, s opens the speaker view")
    return 0


def tag_main(names: list[str], check: bool = False) -> int:
    """The ``tag-slides`` command: write the convention into the notebooks (in place), or with ``check`` only say
    which notebooks stray from it (exit status 1 if any)."""
    paths = _notebook_paths(names)
    if isinstance(paths, str):
        print(f"error: {paths}", file=sys.stderr)
        return 1
    strays = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        changed = tag_slides(nb)
        if check:
            if changed:
                strays += 1
                print(f"{path}: {changed} cell{'s' if changed != 1 else ''} differ from the slide convention "
                      f"(run: python -m vae_course tag-slides {path})")
        elif changed:
            nbformat.write(nb, path)
            print(f"{path}: set the slide type of {changed} cell{'s' if changed != 1 else ''}")
        else:
            print(f"{path}: already follows the slide convention")
    if check and not strays:
        print(f"{len(paths)} notebook{'s' if len(paths) != 1 else ''} follow the slide convention")
    return 1 if strays else 0


# The names the package exports (vae_course.teaching); the lecture decks' API is used as slides.build_lectures etc.
__all__ = ["DECK_TEMPLATE", "LONG_CODE_LINES", "MANUAL_TAG", "MAX_CELLS_PER_SLIDE", "SLIDE_TYPES", "build_slides",
           "convention", "deck_notebook", "has_slide_metadata", "make_exporter", "tag_main", "tag_slides"]
