"""Offline reveal.js lecture decks, one per lecture of the README's lecture plan: ``python -m vae_course slides
OUT_DIR`` writes ``OUT_DIR/lecture-1.html`` ... and ``index.html`` (used by no notebook; the README documents the
command, and :mod:`~vae_course.teaching.slides` runs it).

**Lecture decks** are authored, not extracted: each lecture of the README's lecture plan ("### A lecture plan") has a
short text of its own, ``lectures/N_name.md`` (CONTRIBUTING.md, "The lecture decks", says why). Its front matter
names the lecture, its title and its notebooks; slides are separated by a line ``---``; a line ``. . .`` reveals what
follows on the next click (a fragment, as in Quarto); ``::: notes`` ... ``:::`` holds the speaker notes (key ``s``),
where ``{{answers NN}}`` puts in the instructor's answers of notebook NN (its cells tagged ``answer``). A figure is
``![caption](figure:LABEL)``: the build finds the one cell of the lecture's notebooks tagged ``figure:LABEL`` and
embeds the picture that ``python -m vae_course execute`` stored in its output, so a deck always shows the notebooks'
current figures; a widget's stored still comes with the notebook cell to run for the live view. A label that no cell
carries stops the build with one sentence. Decks are 1280x720; their CSS keeps body text at 32 px and figures sized
to fill what the slide leaves (tests/browser/test_decks_browser.py checks both in Chromium).

The decks load reveal.js and MathJax from ``OUT_DIR/_static/`` (``vae_course.teaching.web_assets``), so a deck works
opened from disk with no network.
"""
from __future__ import annotations

import html
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..config import REPO_ROOT
from . import web_assets
from .website import IMAGE_MIMES, NOTEBOOKS, README, WIDGET_MIME

LECTURES = REPO_ROOT / "lectures"
PLAN_HEADING = "### A lecture plan"  # the README's table of lectures, the decks' source of truth
DECK_SIZE = (1280, 720)  # reveal.js's slide size, in CSS pixels: a 720p projector shows it at scale 1
FIGURE_TAG = "figure:"  # a cell tagged figure:LABEL holds the figure that ![caption](figure:LABEL) embeds
ANSWERS = re.compile(r"\{\{\s*answers\s+(\d\d)\s*\}\}")
PAUSE = ". . ."  # a line of its own: what follows comes on the next click
TICK_POINTS = 10.0  # matplotlib's default tick-label size (the course sets no other), for the tick-size estimate

LECTURE_CSS = """
:root { --r-main-font-size: 32px; --r-heading1-size: 58px; --r-heading2-size: 44px; --r-heading3-size: 36px;
  --r-heading-text-transform: none; --r-block-margin: 14px; --r-heading-margin: 0 0 14px 0;
  --r-heading-line-height: 1.15; }
.reveal .slides { text-align: left; }
.reveal .slides section > .vae-slide { box-sizing: border-box; height: 720px; width: 1280px; padding: 10px 28px 12px;
  display: flex; flex-direction: column; overflow: hidden; }
.vae-slide > .vae-part { flex: 0 0 auto; display: flex; flex-direction: column; min-height: 0; }
.vae-slide > .vae-part > * { flex: 0 0 auto; }
.vae-slide > .vae-part > :not(.vae-figure) { margin-left: 20px; margin-right: 20px; }
.vae-slide > .vae-part.vae-grow { flex: 1 1 0; }
.vae-slide > .vae-part > .vae-figure { flex: 1 1 0; min-height: 0; }
.reveal .vae-figure { margin: 0; display: flex; flex-direction: column; align-items: center; }
.reveal .vae-figure img { flex: 1 1 0; min-height: 0; width: 100%; max-width: 100%; max-height: none; margin: 0;
  object-fit: contain; }
.reveal .vae-figure figcaption, .reveal .vae-live { font-size: 26px; line-height: 1.25; color: #333;
  text-align: center; margin-top: 6px; }
.reveal .vae-live { background: #eef3fa; border-left: 6px solid #5b8bd0; padding: 4px 12px; text-align: left; }
.reveal .vae-slide ul, .reveal .vae-slide ol { margin: 0 0 0 1.1em; display: block; }
.reveal .vae-slide li { margin: 4px 0; }
.reveal .vae-slide p { margin: 8px 0; line-height: 1.3; }
.reveal .vae-slide pre { width: 100%; box-shadow: none; margin: 8px 0; font-size: 26px; line-height: 1.3; }
.reveal .vae-slide pre code, .reveal .vae-slide code { font-size: 26px; max-height: none; }
.reveal .vae-slide mjx-container[display="true"] { margin: 10px 0 !important; }
.reveal .vae-title { justify-content: center; }
.reveal .vae-title h1 { margin-bottom: 24px; }
.reveal .vae-title p { color: #444; }
.reveal .slide-number { font-size: 20px; }
"""

LECTURE_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="_static/{reveal}/dist/reveal.css">
<link rel="stylesheet" href="_static/{reveal}/dist/theme/white.css">
<style>{css}</style>
{mathjax}</head>
<body>
<div class="reveal"><div class="slides">
{slides}
</div></div>
<script src="_static/{reveal}/dist/reveal.js"></script>
<script src="_static/{reveal}/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({{width: {width}, height: {height}, margin: 0, minScale: 0.2, maxScale: 2.0, center: false,
                   hash: true, controls: true, progress: true, slideNumber: "c/t", transition: "fade",
                   plugins: [RevealNotes]}});
</script>
</body>
</html>
"""

INDEX_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>VAE course: lecture decks</title><link rel="icon" href="data:,">
<style>body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem;
  line-height: 1.5; }} td, th {{ padding: 0.3rem 0.8rem; text-align: left; }} a {{ color: #1a4f8b; }}</style>
</head>
<body>
<h1>Variational Autoencoders: lecture decks</h1>
<p>One deck per lecture of the README's lecture plan. Open one in a browser (no network needed): the arrow keys
move, <kbd>s</kbd> opens the speaker view with the notes and the instructor's answers, <kbd>Esc</kbd> shows all
slides.</p>
<table>
<tr><th>lecture</th><th>title</th><th>notebooks</th><th>slides</th></tr>
{rows}
</table>
</body>
</html>
"""


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


class DeckError(ValueError):
    """A lecture text or the lecture plan is wrong; the message says where and what to do."""


@dataclass
class LectureSlide:
    parts: list[str]  # markdown, one per click (the first shows with the slide)
    notes: str = ""  # markdown of the speaker notes


@dataclass
class Lecture:
    number: int
    title: str
    notebooks: list[str]  # two-digit numbers, as in the README's plan: ["00", "01"]
    source: Path
    slides: list[LectureSlide] = field(default_factory=list)


def lecture_plan(readme_text: str) -> dict[int, list[str]]:
    """``{lecture number: [its notebooks' two-digit numbers]}`` from the README's "### A lecture plan" table."""
    if PLAN_HEADING not in readme_text:
        raise DeckError(f"the README has no {PLAN_HEADING!r} section, which lists the lectures the decks follow")
    section = readme_text.split(PLAN_HEADING, 1)[1].split("\n#", 1)[0]
    plan = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 2 and cells[0].isdigit():
            plan[int(cells[0])] = re.findall(r"\b(\d\d)\b", cells[1])
    if not plan:
        raise DeckError(f"the README's {PLAN_HEADING!r} section has no table rows of the form | 1 | 00 name, ... |")
    return plan


def parse_lecture(text: str, source: Path) -> Lecture:
    """A lecture text (front matter, then slides separated by ``---`` lines) as a :class:`Lecture`."""
    m = re.match(r"---\n(.*?)\n---\n", text, re.S)
    if not m:
        raise DeckError(f"{source.name} does not start with its front matter (---, lecture:, title:, notebooks:, ---)")
    meta = dict(re.findall(r"^(\w+):\s*(.+?)\s*$", m.group(1), re.M))
    missing = [k for k in ("lecture", "title", "notebooks") if k not in meta]
    if missing or not meta.get("lecture", "").isdigit():
        raise DeckError(f"{source.name}'s front matter lacks {', '.join(missing) or 'a whole-number lecture'}")
    lecture = Lecture(int(meta["lecture"]), meta["title"], re.findall(r"\d\d", meta["notebooks"]), source)
    for chunk in re.split(r"^---[ \t]*$", text[m.end():], flags=re.M):
        if not chunk.strip():
            continue
        notes = "\n\n".join(n.strip() for n in re.findall(r"^::: *notes[ \t]*\n(.*?)^:::[ \t]*$", chunk, re.M | re.S))
        body = re.sub(r"^::: *notes[ \t]*\n.*?^:::[ \t]*$", "", chunk, flags=re.M | re.S)
        parts = [p.strip() for p in re.split(rf"^{re.escape(PAUSE)}[ \t]*$", body, flags=re.M)]
        lecture.slides.append(LectureSlide([p for p in parts if p], notes))
    return lecture


def read_lectures(folder: Path = LECTURES, readme: Path = README) -> list[Lecture]:
    """The lecture texts of ``folder``, checked against the README's lecture plan (same lectures, same notebooks)."""
    plan = lecture_plan(Path(readme).read_text(encoding="utf-8"))
    lectures = sorted((parse_lecture(p.read_text(encoding="utf-8"), p) for p in Path(folder).glob("*.md")
                       if p.name[:1].isdigit()), key=lambda lec: lec.number)
    found = {lec.number: lec for lec in lectures}
    if sorted(found) != sorted(plan) or len(found) != len(lectures):
        raise DeckError(f"the README's lecture plan has lectures {sorted(plan)} but {folder} has decks for "
                        f"{[lec.number for lec in lectures]}: write one lectures/N_name.md per lecture of the plan")
    for lec in lectures:
        if lec.notebooks != plan[lec.number]:
            raise DeckError(f"{lec.source.name} names notebooks {', '.join(lec.notebooks)} but the README's lecture "
                            f"plan gives lecture {lec.number} notebooks {', '.join(plan[lec.number])}: make them agree")
    return lectures


@dataclass
class Figure:
    label: str
    notebook: Path
    cell_index: int
    mime: str
    data: str  # base64 (PNG, JPEG) or text (SVG)
    dpi: float | None  # the PNG's stored resolution (matplotlib writes it; the widget stills have none)
    live: str = ""  # for a widget's still: where the live view runs

    def html(self, caption: str) -> str:
        src = (f"data:{self.mime};base64,{self.data}" if self.mime != "image/svg+xml" else
               "data:image/svg+xml;charset=utf-8," + urllib.parse.quote(self.data))
        dpi = f' data-dpi="{self.dpi:.1f}"' if self.dpi else ""
        cap = f"<figcaption>{caption}</figcaption>" if caption else ""
        live = f'<div class="vae-live">{self.live}</div>' if self.live else ""
        return (f'<figure class="vae-figure" data-label="{html.escape(self.label)}"><img src="{src}" '
                f'alt="{html.escape(self.label)}"{dpi}>{cap}</figure>{live}')


def _heading_before(nb, index: int) -> str:
    for cell in reversed(nb.cells[:index]):
        if cell.cell_type == "markdown":
            heads = [line.lstrip("#").strip() for line in cell.source.splitlines() if line.startswith("#")]
            if heads:
                return heads[-1]
    return ""


def find_figure(label: str, notebooks: dict[Path, object], where: str) -> Figure:
    """The stored picture of the one cell tagged ``figure:label`` among ``notebooks`` (``{path: notebook}``)."""
    import base64
    import io

    tag = FIGURE_TAG + label
    hits = [(path, i, cell) for path, nb in notebooks.items() for i, cell in enumerate(nb.cells)
            if tag in _tags(cell)]
    names = ", ".join(p.name for p in notebooks)
    if not hits:
        raise DeckError(f"{where}: no cell of {names} is tagged {tag!r}: tag the cell whose stored output is that "
                        f"figure, or fix the label")
    if len(hits) > 1:
        raise DeckError(f"{where}: {len(hits)} cells are tagged {tag!r} ({', '.join(f'{p.name} cell {i}' for p, i, _ in hits)}): "
                        f"a label names one cell")
    path, index, cell = hits[0]
    pictures = [(mime, out["data"][mime], WIDGET_MIME in out["data"]) for out in cell.get("outputs", [])
                for mime in IMAGE_MIMES if mime in out.get("data", {})]
    if not pictures:
        raise DeckError(f"{where}: {path.name} cell {index} (tagged {tag!r}) has no stored picture: run "
                        f"`python -m vae_course execute notebooks/{path.name}` first")
    mime, data, widget = pictures[-1]
    data = "".join(data) if isinstance(data, list) else data
    dpi = None
    if mime == "image/png":
        from PIL import Image

        info = Image.open(io.BytesIO(base64.b64decode(data))).info.get("dpi")
        dpi = float(info[0]) if info else None
    live = ""
    if widget:
        nb = notebooks[path]
        heading = _heading_before(nb, index)
        count = cell.get("execution_count")
        live = (f"Live: open <code>notebooks/{html.escape(path.name)}</code> in JupyterLab and run the cell "
                f"{f'[{count}] ' if count else ''}under “{html.escape(heading)}”; drag its sliders.")
    return Figure(label, path, index, mime, data, dpi, live)


def _markdown(text: str) -> str:
    """Markdown to HTML as nbconvert renders a notebook's cell (math kept for MathJax), without heading anchors."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    out = markdown2html_mistune(text)
    out = re.sub(r'<a class="anchor-link" href="[^"]*">[^<]*</a>', "", out)
    return re.sub(r'(<h[1-6]) id="[^"]*"', r"\1", out)


def _answers(text: str, notebooks_dir: Path, where: str) -> str:
    """``text`` with each ``{{answers NN}}`` replaced by notebook NN's instructor's answers (cells tagged answer)."""
    def answers(m):
        paths = sorted(Path(notebooks_dir).glob(f"{m.group(1)}_*.ipynb"))
        if not paths:
            raise DeckError(f"{where}: {{{{answers {m.group(1)}}}}} names no notebook in {notebooks_dir}")
        nb = nbformat.read(paths[0], as_version=4)
        found = [c.source for c in nb.cells if c.cell_type == "markdown" and "answer" in _tags(c)]
        if not found:
            raise DeckError(f"{where}: {paths[0].name} has no cell tagged 'answer' for {{{{answers {m.group(1)}}}}}")
        return f"**Answers ({paths[0].name}):**\n\n" + "\n\n".join(found)

    return ANSWERS.sub(answers, text)


def render_lecture(lecture: Lecture, notebooks_dir: Path = NOTEBOOKS, mathjax: str = "") -> str:
    """The HTML of one lecture's deck (figures embedded; reveal.js and MathJax from ``_static/``)."""
    paths = [p for n in lecture.notebooks for p in sorted(Path(notebooks_dir).glob(f"{n}_*.ipynb"))]
    missing = [n for n in lecture.notebooks if not any(p.name.startswith(f"{n}_") for p in paths)]
    if missing:
        raise DeckError(f"{lecture.source.name}: no notebook {', '.join(missing)} in {notebooks_dir}")
    notebooks = {p: nbformat.read(p, as_version=4) for p in paths}
    sections = []
    for number, slide in enumerate(lecture.slides, 1):
        where = f"{lecture.source.parent.name}/{lecture.source.name}, slide {number}"
        parts = []
        for k, part in enumerate(slide.parts):
            body = _markdown(part)

            def figure(m):
                return find_figure(html.unescape(m.group(1)), notebooks, where).html(m.group(2))

            body, figures = re.subn(r'<p><img src="figure:([^"]+)" alt="([^"]*)" ?/?></p>', figure, body)
            if "figure:" in body:
                raise DeckError(f"{where}: write a figure as a paragraph of its own: ![caption](figure:LABEL)")
            classes = "vae-part" + (" vae-grow" if figures else "") + (" fragment" if k else "")
            parts.append(f'<div class="{classes}">{body}</div>')
        notes = f'<aside class="notes">{_markdown(_answers(slide.notes, notebooks_dir, where))}</aside>' \
            if slide.notes else ""
        kind = " vae-title" if slide.parts and slide.parts[0].lstrip().startswith("# ") else ""
        sections.append(f'<section data-slide="{number}"><div class="vae-slide{kind}">{"".join(parts)}</div>'
                        f"{notes}</section>")
    return LECTURE_PAGE.format(title=html.escape(f"Lecture {lecture.number}: {lecture.title} · VAE course"),
                               reveal=web_assets.REVEAL_PREFIX, css=LECTURE_CSS, mathjax=mathjax,
                               slides="\n".join(sections), width=DECK_SIZE[0], height=DECK_SIZE[1])


def build_lectures(out_dir, lectures_dir: Path = LECTURES, notebooks_dir: Path = NOTEBOOKS,
                   readme: Path = README) -> list[Path]:
    """Write ``lecture-N.html`` for each lecture of the README's plan, ``index.html`` and ``_static/``; return the
    decks. Raises :class:`DeckError` (one sentence) for a lecture text that strays from the plan or a missing
    figure label."""
    lectures = read_lectures(lectures_dir, readme)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    web_assets.install(out / "_static", ("mathjax", "reveal.js"))
    mathjax = web_assets.mathjax_html("_static")
    decks, rows = [], []
    for lec in lectures:
        deck = out / f"lecture-{lec.number}.html"
        deck.write_text(render_lecture(lec, notebooks_dir, mathjax), encoding="utf-8")
        decks.append(deck)
        rows.append(f'<tr><td>{lec.number}</td><td><a href="{deck.name}">{html.escape(lec.title)}</a></td>'
                    f'<td>{", ".join(lec.notebooks)}</td><td>{len(lec.slides)}</td></tr>')
    (out / "index.html").write_text(INDEX_PAGE.format(rows="\n".join(rows)), encoding="utf-8")
    return decks


# The package (vae_course.teaching) exports none of these names: the lecture decks' API is used as
# lecture_decks.build_lectures etc. (vae_course.teaching.slides imports it too, for the ``slides`` command).
__all__ = []  # type: list[str]
