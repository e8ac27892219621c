"""The course as a static website: ``python -m vae_course site OUT_DIR [--instructor]`` (used by no notebook; the
README documents it).

One HTML page per notebook of ``notebooks/``, in course order, rendered by nbconvert's HTML exporter (its JupyterLab
template) from the outputs that ``python -m vae_course execute`` stored: nothing is executed. A home page holds the
README's course overview, a second page its "Teaching with this course" section, a third the results tables of
``docs/results.md``. Every page has a sidebar (the whole course) with a search box, its own table of contents,
previous/next links and a link to download its student notebook. Math is typeset by a local MathJax 3
(``vae_course.teaching.web_assets``), so the site loads no file from outside its folder and works offline, from
``file://`` or any static web server; search (pagefind, an index built into ``OUT_DIR/pagefind/``) needs the server.

The **public** site (the default) shows every stored output and figure but no solution: each solution region shows
the stub of the student edition (``vae_course.teaching.student_edition``), the instructor's answers (cells tagged
``answer``) are left out, and an output that would print a line of a solution (a "compare with the package" cell's
source listing, say) is replaced by a note. ``--instructor`` builds the complete site, solutions and answers included.
The public copy of a notebook, each page's table of contents, the search index and the pages made from the README
come from :mod:`~vae_course.teaching.site_pages`; this module lays the pages out and writes the site.

Widgets need a kernel, so their outputs are left out: each becomes a short note that the live view runs in
JupyterLab, and the view's static twin (every interactive view has one, a figure on the same page) stands in.
Why nbconvert and not Sphinx or Jupyter Book: CONTRIBUTING.md, "The website and the slides".
"""
from __future__ import annotations

import copy
import html
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..config import REPO_ROOT
from . import web_assets
from .execute import course_notebooks
from .site_pages import (OUTPUT_NOTE, SEARCH_DIR, SOLUTION_LINE_CHARS, TOC_MARK, index_search, link_pages,  # noqa: F401
                         notebook_title, page_toc, public_notebook, readme_sections, solution_lines)

REPO = REPO_ROOT
NOTEBOOKS = REPO / "notebooks"
README = REPO / "README.md"
RESULTS = "docs/results.md"  # the results page's markdown, relative to the README's folder
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
NOTE_CLASS = "vae-widget-note"
TEACHING_HEADING = "Teaching with this course"

CSS = """
body.vae-site { margin: 0; padding: 0; display: flex; align-items: flex-start; background: #fff; }
.vae-sidebar { position: sticky; top: 0; height: 100vh; overflow-y: auto; box-sizing: border-box; width: 17rem;
  flex: 0 0 17rem; padding: 1rem 0.8rem; border-right: 1px solid #ddd; background: #f7f7f7;
  font-family: var(--jp-ui-font-family); font-size: 0.9rem; }
.vae-sidebar .vae-brand { font-weight: 600; font-size: 1rem; margin-bottom: 0.8rem; display: block; color: #222; }
.vae-sidebar ol, .vae-sidebar ul { list-style: none; margin: 0 0 1rem 0; padding: 0; }
.vae-sidebar li a { display: block; padding: 0.25rem 0.4rem; border-radius: 3px; color: #1a4f8b;
  text-decoration: none; }
.vae-sidebar li a:hover { background: #e8eef6; }
.vae-sidebar li a[aria-current="page"] { background: #dbe6f3; font-weight: 600; color: #111; }
.vae-main { flex: 1 1 auto; min-width: 0; max-width: 72rem; padding: 0.5rem 1.5rem 2rem 1.5rem; }
.vae-pager { display: flex; justify-content: space-between; gap: 1rem; margin: 0.6rem 0;
  font-family: var(--jp-ui-font-family); font-size: 0.9rem; }
.vae-pager a { color: #1a4f8b; text-decoration: none; }
.vae-pager a:hover { text-decoration: underline; }
.vae-banner, .vae-widget-note { border-left: 4px solid #5b8bd0; background: #eef3fa; padding: 0.5rem 0.8rem;
  margin: 0.4rem 0; font-family: var(--jp-ui-font-family); font-size: 0.9rem; color: #222; }
.vae-toc { margin: 0.6rem 0; padding: 0.4rem 0.8rem; border: 1px solid #ddd; border-radius: 4px; background: #fafafa;
  font-family: var(--jp-ui-font-family); font-size: 0.9rem; }
.vae-toc summary { cursor: pointer; font-weight: 600; }
.vae-toc ul { margin: 0.3rem 0 0.2rem 0; padding-left: 0.4rem; list-style: none; }
.vae-toc li.vae-toc-3 { margin-left: 1.2rem; }
.vae-toc a, .vae-downloads a { color: #1a4f8b; text-decoration: none; }
.vae-toc a:hover, .vae-downloads a:hover { text-decoration: underline; }
.vae-downloads { margin: 0.4rem 0; font-family: var(--jp-ui-font-family); font-size: 0.9rem; }
.vae-search { margin: 0 0 0.8rem 0; --pagefind-ui-scale: 0.75; --pagefind-ui-font: var(--jp-ui-font-family); }
.vae-search-offline { display: none; font-size: 0.8rem; color: #555; }
@media (max-width: 900px) { body.vae-site { display: block; } .vae-sidebar { position: static; height: auto;
  width: auto; border-right: none; border-bottom: 1px solid #ddd; } }
"""

PAGE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}{{ resources.vae.mathjax | safe }}{%- endblock html_head_js_mathjax -%}
{% block extra_css %}<link rel="icon" href="data:,">
<link rel="stylesheet" href="pagefind/pagefind-ui.css">
<style type="text/css">{{ resources.vae.css | safe }}</style>{% endblock extra_css %}
{%- block body_header -%}
<body class="jp-Notebook vae-site" data-jp-theme-light="true" data-jp-theme-name="JupyterLab Light">
{{ resources.vae.sidebar | safe }}
<main class="vae-main" data-pagefind-body>
{{ resources.vae.pager | safe }}
{{ resources.vae.banner | safe }}
{{ resources.vae.downloads | safe }}
{{ resources.vae.toc_mark | safe }}
{%- endblock body_header -%}
{% block body_footer %}
{{ resources.vae.pager | safe }}
</main>
<script src="pagefind/pagefind-ui.js"></script>
<script>
if (location.protocol === "file:") {
  document.querySelector(".vae-search-offline").style.display = "block";
} else {
  new PagefindUI({element: "#vae-search", showSubResults: true, showImages: false, resetStyles: false,
                  baseUrl: new URL(".", location.href).pathname});
}
</script>
</body>
{% endblock body_footer %}
"""
DOWNLOADS = "notebooks"  # the student notebooks, below the site's folder (the solved ones in notebooks/solved/)


@dataclass
class Page:
    slug: str  # the file name without .html
    title: str
    source: Path | None = None  # the notebook, or None for the pages made from the README
    widgets_left_out: int = 0
    outputs_left_out: int = 0  # outputs that would show a solution line (public site only)


@dataclass
class SiteReport:
    out_dir: Path
    pages: list[Page] = field(default_factory=list)
    seconds: float = 0.0
    instructor: bool = False
    search_seconds: float = 0.0


def _widget_models(state: dict, model_id: str, seen: set | None = None) -> list[str]:
    """The model names of a widget and of every widget below it (from the notebook's saved widget state)."""
    seen = set() if seen is None else seen
    if model_id in seen or model_id not in state:
        return []
    seen.add(model_id)
    entry = state[model_id]
    names = [entry.get("model_name", "")]
    for value in entry.get("state", {}).values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item.startswith("IPY_MODEL_"):
                names += _widget_models(state, item[len("IPY_MODEL_"):], seen)
    return names


def widget_note(output, state: dict, notebook_name: str) -> str:
    """The HTML that stands in for one widget output on a static page."""
    model_id = output["data"][WIDGET_MIME].get("model_id", "")
    names = _widget_models(state, model_id)
    text = str(output["data"].get("text/plain", ""))
    if any("Progress" in n for n in names) or re.match(r"\s*\d+%\|", text):
        return (f'<div class="{NOTE_CLASS}">A progress bar (a widget) stood here while the cell ran. It moves when '
                f'you run the notebook in JupyterLab.</div>')
    live = (f'It runs live in JupyterLab: open <code>notebooks/{html.escape(notebook_name)}</code> there and run '
            f'the cells.')
    if any(mime in output["data"] for mime in IMAGE_MIMES):
        return (f'<div class="{NOTE_CLASS}"><b>Interactive view</b>, above as a still picture of its widgets as '
                f'the notebook stored them. {live}</div>')
    return (f'<div class="{NOTE_CLASS}"><b>Interactive view.</b> {live} A static page has no kernel to run it, so '
            f'its static twin, a figure on this page, shows what it draws.</div>')


def without_widgets(nb, notebook_name: str):
    """A copy of ``nb`` whose widget outputs are notes (see ``widget_note``) and which holds no widget state.

    A widget output that carries a still picture of itself (``vae_course.views.snapshot``) keeps the picture, with
    the note under it. Returns ``(copy, number of widget outputs replaced)``. ``nb`` itself is not changed.
    """
    nb = copy.deepcopy(nb)
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE_MIME, {}).get("state", {})
    replaced = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_MIME not in data:
                outputs.append(output)
                continue
            picture = {m: data[m] for m in IMAGE_MIMES if m in data}
            if picture:
                outputs.append(nbformat.v4.new_output("display_data", data=picture,
                                                      metadata=copy.deepcopy(output.get("metadata", {}))))
            outputs.append(nbformat.v4.new_output("display_data",
                                                  data={"text/html": widget_note(output, state, notebook_name)}))
            replaced += 1
        cell.outputs = outputs
    nb.metadata.pop("widgets", None)
    return nb, replaced



def _sidebar(pages: list[Page], current: str) -> str:
    def item(page: Page) -> str:
        here = ' aria-current="page"' if page.slug == current else ""
        return f'<li><a href="{page.slug}.html"{here}>{html.escape(page.title)}</a></li>'

    extra = [p for p in pages if p.source is None]
    course = [p for p in pages if p.source is not None]
    search = ('<div class="vae-search" role="search"><div id="vae-search"></div><p class="vae-search-offline">Search '
              'works when the site is served, e.g. <code>python -m http.server -d SITE_FOLDER</code>.</p></div>')
    return (f'<nav class="vae-sidebar" aria-label="Course"><a class="vae-brand" href="index.html">VAE course</a>'
            f'{search}<ul>{"".join(item(p) for p in extra)}</ul>'
            f'<ol class="vae-notebooks">{"".join(item(p) for p in course)}</ol></nav>')


def _pager(pages: list[Page], index: int) -> str:
    prev = (f'<a class="vae-prev" rel="prev" href="{pages[index - 1].slug}.html">&larr; '
            f'{html.escape(pages[index - 1].title)}</a>') if index > 0 else "<span></span>"
    nxt = (f'<a class="vae-next" rel="next" href="{pages[index + 1].slug}.html">'
           f'{html.escape(pages[index + 1].title)} &rarr;</a>') if index + 1 < len(pages) else "<span></span>"
    return f'<nav class="vae-pager" aria-label="Previous and next">{prev}{nxt}</nav>'


def make_exporter():
    """An nbconvert HTML exporter (JupyterLab template, light theme) with the site's page template."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", theme="light", extra_loaders=[DictLoader({"vae_page.html.j2":
                                                                                     PAGE_TEMPLATE})],
                        template_file="vae_page.html.j2")


def build_site(out_dir, notebooks=None, readme: Path | None = README, results: Path | None = None, *,
               instructor: bool = False) -> SiteReport:
    """Write the site into ``out_dir``: ``index.html``, ``teaching.html`` (if the README has that section),
    ``results.html`` (if there is a results file), one ``NN_name.html`` per notebook, the student notebooks in
    ``notebooks/`` (and the solved ones in ``notebooks/solved/`` for the ``instructor``'s site), ``_static/`` (MathJax)
    and ``pagefind/`` (the search index). ``notebooks``: paths, default ``course_notebooks()``. ``results``: a
    markdown file, default ``docs/results.md`` beside the README. The public site (not ``instructor``) shows no
    solution and no instructor's answer (:func:`public_notebook`).
    """
    from .student_edition import student_notebook

    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    web_assets.install(out / "_static", ("mathjax",))
    paths = [Path(p) for p in (course_notebooks() if notebooks is None else notebooks)]
    sources = [(p, nbformat.read(p, as_version=4)) for p in paths]
    readme_text = Path(readme).read_text(encoding="utf-8") if readme is not None and Path(readme).is_file() else ""
    head, sections = readme_sections(readme_text)
    if results is None and readme is not None:
        results = Path(readme).parent / RESULTS
    results_text = Path(results).read_text(encoding="utf-8") if results is not None and Path(results).is_file() else ""

    pages = [Page("index", "Home")]
    if TEACHING_HEADING in sections:
        pages.append(Page("teaching", TEACHING_HEADING))
    if results_text:
        title = re.search(r"^# (.+)$", results_text, flags=re.MULTILINE)
        pages.append(Page("results", title.group(1).strip() if title else "Results"))
    pages += [Page(p.stem, notebook_title(nb) or p.stem, p) for p, nb in sources]
    slugs = {p.stem for p, _ in sources}

    overview = head.strip() or "# Variational Autoencoders"
    if "The notebooks" in sections:
        overview += "\n\n## The notebooks\n" + sections["The notebooks"]
    else:  # no README table: list the pages
        overview += "\n\n## The notebooks\n\n" + "\n".join(f"1. [{p.title}]({p.slug}.html)" for p in pages
                                                         if p.source is not None)
    if TEACHING_HEADING in sections:
        overview += f"\n\nLecturers: see [{TEACHING_HEADING}](teaching.html)."
    markdown = {"index": overview, "teaching": f"# {TEACHING_HEADING}\n" + sections.get(TEACHING_HEADING, ""),
                "results": results_text}
    page_files = {Path(RESULTS).name: "results.html"} if results_text else {}
    notebooks_by_slug = {p.stem: nb for p, nb in sources}
    secret = {line: p.name for p, nb in sources for line in solution_lines(nb)}  # the course's, for every page

    exporter = make_exporter()
    mathjax = web_assets.mathjax_html("_static")
    downloads_dir = out / DOWNLOADS
    if not instructor and (downloads_dir / "solved").exists():
        shutil.rmtree(downloads_dir / "solved")  # an instructor's build wrote here before: no solved notebook stays
    (downloads_dir / "solved" if instructor else downloads_dir).mkdir(parents=True, exist_ok=True)
    for index, page in enumerate(pages):
        banner = downloads = ""
        if page.source is None:
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(link_pages(markdown[page.slug],
                                                                                           slugs, page_files))])
        else:
            name = page.source.name
            solved = notebooks_by_slug[page.slug]
            nbformat.write(student_notebook(solved, name=name), downloads_dir / name)
            links = [f'<a href="{DOWNLOADS}/{html.escape(name)}" download>the student notebook</a> (no solutions, '
                     f'no outputs: run it in JupyterLab)']
            if instructor:
                nbformat.write(solved, downloads_dir / "solved" / name)
                links.append(f'<a href="{DOWNLOADS}/solved/{html.escape(name)}" download>the solved notebook</a>')
            downloads = (f'<div class="vae-downloads" data-pagefind-ignore>Download <code>{html.escape(name)}</code>: '
                         f'{"; ".join(links)}.</div>')
            if instructor:
                shown = solved
                edition = "This is the <b>instructor's</b> site: it shows the solutions and the instructor's answers."
            else:
                shown, page.outputs_left_out = public_notebook(solved, name, secret)
                edition = ("The exercises show the stub of the student edition and the instructor's answers are left "
                           "out; every stored figure and output is here.")
            nb, page.widgets_left_out = without_widgets(shown, name)
            banner = (f'<div class="vae-banner" data-pagefind-ignore>This page shows the outputs that <code>python -m '
                      f'vae_course execute</code> stored in <code>notebooks/{html.escape(name)}</code>. {edition} To '
                      f'run the code and move the sliders, open the notebook in JupyterLab.</div>')
        nb.metadata["title"] = f"{page.title} · VAE course" if page.slug != "index" else "VAE course"
        resources = {"vae": {"css": CSS, "mathjax": mathjax, "sidebar": _sidebar(pages, page.slug),
                             "pager": _pager(pages, index), "banner": banner, "downloads": downloads,
                             "toc_mark": TOC_MARK}}
        body, _ = exporter.from_notebook_node(nb, resources=resources)
        body = body.replace(TOC_MARK, page_toc(body) if page.source is not None else "", 1)
        (out / f"{page.slug}.html").write_text(body, encoding="utf-8")
    seconds = time.perf_counter() - start
    search = index_search(out)
    return SiteReport(out, pages, seconds + search, instructor, search)


def main(out_dir: str, notebooks_dir: str | None = None, *, force: bool = False, instructor: bool = False) -> int:
    """The ``site`` command: build (the public site, or the ``instructor``'s), then print one line per page and the
    build time; 1 with an error line. Writes only into an empty folder or one that ``site`` wrote before, unless
    ``force``."""
    from .output_folder import claim_output_folder

    folder = Path(notebooks_dir) if notebooks_dir else NOTEBOOKS
    notebooks = course_notebooks(folder)
    if not notebooks:
        print(f"error: no course notebooks (NN_name.ipynb) in {folder}", file=sys.stderr)
        return 1
    out = Path(out_dir)
    if problem := claim_output_folder(out, "site", force=force):
        print(f"error: {problem}.", file=sys.stderr)
        return 1
    report, status = web_assets.build_for_cli(out, lambda folder: build_site(folder, notebooks,
                                                                             instructor=instructor))
    if status:
        return status
    for page in report.pages:
        notes = [f"{page.widgets_left_out} widget outputs left out"] if page.widgets_left_out else []
        if page.outputs_left_out:
            notes.append(f"{page.outputs_left_out} outputs showing solution code left out")
        suffix = f" ({'; '.join(notes)})" if notes else ""
        print(f"  {page.slug}.html  {page.title}{suffix}")
    edition = ("the instructor's site, with the solutions and answers" if instructor else
               "the public site, without solutions or instructor's answers (--instructor: with them)")
    print(f"wrote {len(report.pages)} pages to {out} in {report.seconds:.1f} s ({edition}; search index "
          f"{report.search_seconds:.1f} s); open {out / 'index.html'}, or serve the folder for search: "
          f"python -m http.server -d {out}")
    return 0


__all__ = ["build_site", "course_notebooks", "without_widgets", "SiteReport"]
