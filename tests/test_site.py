"""The static website, the slide decks and the slide-metadata convention (vae_course.teaching.website, .slides, .web_assets).

Fast tests on small made-up notebooks (and on copies of the course's notebooks for the convention). The real site
and a real deck are opened in headless Chromium by tests/browser/test_site_browser.py. Building needs the local
MathJax and reveal.js (fetched once with npm into $VAE_COURSE_VENDOR or ~/.cache/vae_course/vendor): without npm and
without that cache, the tests that build skip with the reason; with npm, a failed fetch fails them.
"""
from __future__ import annotations

import base64
import hashlib
import io
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from vae_course.__main__ import main
from vae_course.teaching import slides, web_assets, website

REPO = Path(__file__).resolve().parent.parent
SENTINEL = "stored-output-7c1f: made by a past run, not by this build"


def _png() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (12, 8), color=128).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _widget_output(model_id: str, text: str):
    return new_output("display_data", data={website.WIDGET_MIME: {"model_id": model_id, "version_major": 2,
                                                                  "version_minor": 0}, "text/plain": text})


def _course(folder: Path) -> list[Path]:
    """Three small notebooks: math, a stored output and a figure; two widgets (a view, a progress bar); headings."""
    folder.mkdir(parents=True, exist_ok=True)
    a = new_notebook(cells=[
        new_markdown_cell("# 00 · Alpha *page*\n\nThe identity $$\\log p(x) = \\mathcal L(q) + \\mathrm{KL}$$."),
        new_code_cell("print('this would print something else if it ran')", outputs=[
            new_output("stream", name="stdout", text=SENTINEL + "\n")]),
        new_code_cell("plt.show()", outputs=[new_output("display_data", data={"image/png": _png(),
                                                                                "text/plain": "<Figure>"})]),
    ])
    b = new_notebook(cells=[
        new_markdown_cell("# 01 · Beta\n\n## 1. A view\n\nInline $z \\sim \\mathcal N(0, I)$."),
        new_code_cell("view", outputs=[_widget_output("box", "HBox(children=(FloatSlider(value=0.0),))")]),
        new_code_cell("fit(...)", outputs=[_widget_output("bar", "  0%|          | 0/10 [00:00<?, ?it/s]")]),
        new_code_cell("explorer", outputs=[_widget_output("box", "HBox(...)")]),
    ])
    b.cells[-1].outputs[0]["data"]["image/png"] = _png()  # a view that stored a still picture of itself
    b.metadata["widgets"] = {website.WIDGET_STATE_MIME: {"version_major": 2, "version_minor": 0, "state": {
        "box": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_slider"]}},
        "slider": {"model_name": "FloatSliderModel", "state": {"value": 0.0}},
        "bar": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_progress"]}},
        "progress": {"model_name": "FloatProgressModel", "state": {"value": 0}},
    }}}
    c = new_notebook(cells=[
        new_markdown_cell("# 02 · Gamma"),
        new_markdown_cell("### A sub-part\n\nText."),
        new_code_cell("\n".join(f"x{i} = {i}" for i in range(20))),
        new_markdown_cell("$$\n\\begin{aligned} a &= b \\\\ &= c \\end{aligned}\n$$"),
        new_code_cell("assert True"),
    ])
    paths = []
    for name, nb in (("00_alpha", a), ("01_beta", b), ("02_gamma", c)):
        path = folder / f"{name}.ipynb"
        nbformat.write(nb, path)
        paths.append(path)
    return paths


README = """# The course

An intro paragraph about the course.

## Start

Install things.

## The notebooks

| # | notebook | what |
|---|---|---|
| 00 | `00_alpha.ipynb` | alpha, see [the guide](CONTRIBUTING.md) and [nbval](https://example.org/nbval) |
| 01 | `01_beta.ipynb` | beta |

## Teaching with this course

A 90-minute lecture plan.

## Tests

Run pytest.
"""


@pytest.fixture(scope="module")
def assets():
    """The local MathJax and reveal.js; skip (with the reason) only where npm is missing and nothing is cached."""
    try:
        for name in web_assets.PACKAGES:
            web_assets.fetch(name)
    except web_assets.AssetError as exc:
        if shutil.which("npm") is None:
            pytest.skip(f"site/slides build skipped: {exc}")
        raise


@pytest.fixture(scope="module")
def built(tmp_path_factory, assets):
    base = tmp_path_factory.mktemp("site")
    paths = _course(base / "notebooks")
    readme = base / "README.md"
    readme.write_text(README, encoding="utf-8")
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    report = website.build_site(base / "out", paths, readme=readme)
    return report, paths, before


class _Refs(HTMLParser):
    """Every URL a page loads (script/img/iframe src, link href) and every link (a href)."""

    def __init__(self):
        super().__init__()
        self.loads, self.links = [], []
        self.sidebar, self.current, self.prev, self.next = [], [], [], []  # hrefs, by where they are
        self._nav = None

    def handle_endtag(self, tag):
        if tag == "nav":
            self._nav = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "nav":
            self._nav = classes[0] if classes else ""
        if tag == "a" and self._nav == "vae-sidebar":
            self.sidebar.append(attrs.get("href"))
            if attrs.get("aria-current") == "page":
                self.current.append(attrs.get("href"))
        if tag == "a" and "vae-prev" in classes:
            self.prev.append(attrs.get("href"))
        if tag == "a" and "vae-next" in classes:
            self.next.append(attrs.get("href"))
        if tag in ("script", "img", "iframe", "source", "video", "audio") and attrs.get("src"):
            self.loads.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.loads.append(attrs["href"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


def refs(path: Path) -> _Refs:
    parser = _Refs()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_one_page_per_notebook_in_course_order_with_sidebar_and_pager(built):
    report, paths, _ = built
    out = report.out_dir
    assert [p.slug for p in report.pages] == ["index", "teaching", "00_alpha", "01_beta", "02_gamma"]
    assert report.pages[2].title == "00 · Alpha page"  # markdown emphasis dropped
    for i, page in enumerate(report.pages):
        found = refs(out / f"{page.slug}.html")
        assert found.sidebar == [f"{slug}.html" for slug in ("index", "index", "teaching", "00_alpha", "01_beta",
                                                              "02_gamma")]
        assert found.current == [f"{page.slug}.html"]
        assert found.prev == ([f"{report.pages[i - 1].slug}.html"] * 2 if i else [])  # the pager: top and bottom
        assert found.next == ([f"{report.pages[i + 1].slug}.html"] * 2 if i + 1 < len(report.pages) else [])


def test_the_site_loads_nothing_from_outside_itself(built):
    report, _, _ = built
    out = report.out_dir
    pages = sorted(out.glob("*.html"))
    assert len(pages) == 5
    for page in pages:
        text = page.read_text(encoding="utf-8")
        found = refs(page)
        for url in found.loads:
            assert not re.match(r"(https?:)?//", url), f"{page.name} loads {url}"
            if not url.startswith("data:"):
                assert (out / url.split("?")[0]).is_file(), f"{page.name} loads {url}, which is not in the site"
        for url in found.links:
            if not re.match(r"[a-z]+:|#", url):
                assert (out / url.split("#")[0]).is_file(), f"{page.name} links to {url}, which is not in the site"
        assert not re.search(r"@import\s+url\(\s*['\"]?(https?:)?//", text)
        assert "cdnjs" not in text and "unpkg" not in text and "require.js" not in text
        assert web_assets.MATHJAX_SCRIPT in text
    assert (out / "_static" / web_assets.MATHJAX_SCRIPT).is_file()
    assert len(list((out / "_static" / "mathjax/es5/output/chtml/fonts/woff-v2").glob("*.woff"))) >= 20


def test_pages_show_the_stored_outputs_and_nothing_is_executed(built, tmp_path, monkeypatch):
    report, paths, before = built
    alpha = (report.out_dir / "00_alpha.html").read_text(encoding="utf-8")
    assert SENTINEL in alpha and "this would print something else" in alpha
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', alpha)) == 1
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths} == before  # sources untouched

    import nbclient

    def refuse(*args, **kwargs):
        raise AssertionError("the site build started a kernel")

    monkeypatch.setattr(nbclient.NotebookClient, "execute", refuse)
    monkeypatch.setattr(nbclient.NotebookClient, "async_execute", refuse)
    again = website.build_site(tmp_path / "again", paths[:1], readme=None)
    assert SENTINEL in (again.out_dir / "00_alpha.html").read_text(encoding="utf-8")


def test_widget_outputs_become_notes_and_no_widget_state_is_embedded(built):
    report, _, _ = built
    beta = (report.out_dir / "01_beta.html").read_text(encoding="utf-8")
    assert [p.widgets_left_out for p in report.pages] == [0, 0, 0, 3, 0]
    assert website.WIDGET_MIME not in beta and website.WIDGET_STATE_MIME not in beta
    assert "jupyter-widgets" not in beta and "FloatSlider(value" not in beta and "HBox(" not in beta
    notes = re.findall(rf'<div class="{website.NOTE_CLASS}">(.*?)</div>', beta, re.S)  # (only a class: kept)
    assert len(notes) == 3
    assert "runs live in JupyterLab" in notes[0] and "notebooks/01_beta.ipynb" in notes[0]
    assert "static twin" in notes[0]
    assert "progress bar" in notes[1]
    assert "still picture" in notes[2] and "runs live in JupyterLab" in notes[2]
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', beta)) == 1  # the stored picture stays
    assert "Error displaying widget" not in beta


def test_without_widgets_leaves_the_notebook_alone(tmp_path):
    nb = nbformat.read(_course(tmp_path)[1], as_version=4)
    copy, replaced = website.without_widgets(nb, "01_beta.ipynb")
    assert replaced == 3 and "widgets" in nb.metadata and "widgets" not in copy.metadata
    assert [len(c.get("outputs", [])) for c in copy.cells] == [0, 1, 1, 2]  # the picture, then the note
    assert website.WIDGET_MIME in nb.cells[1].outputs[0]["data"]
    assert [c.id for c in copy.cells] == [c.id for c in nb.cells]


def test_home_page_is_the_readme_overview_and_teaching_has_its_own_page(built):
    report, _, _ = built
    home = (report.out_dir / "index.html").read_text(encoding="utf-8")
    assert "An intro paragraph about the course." in home
    assert 'href="00_alpha.html"' in home and 'href="01_beta.html"' in home  # the table's names are links
    assert "CONTRIBUTING.md" not in home and "the guide" in home  # a link to a file outside the site: text only
    assert 'href="https://example.org/nbval"' in home
    assert "Install things." not in home and "Run pytest." not in home  # other README sections stay out
    assert 'href="teaching.html"' in home
    teaching = (report.out_dir / "teaching.html").read_text(encoding="utf-8")
    assert "A 90-minute lecture plan." in teaching and "An intro paragraph" not in teaching


RESULTS = """# Results of the course

A sentence before the tables, see [notebook 00](../notebooks/00_alpha.ipynb) and [the guide](../CONTRIBUTING.md).

## A table

| model | test NLL |
|---|---:|
| made-up model | 123.45 |
"""


def test_results_page_from_docs_results_md(tmp_path, assets):
    """docs/results.md beside the README becomes results.html, after the teaching page; links to it point there."""
    paths = _course(tmp_path / "notebooks")[:2]
    readme = tmp_path / "README.md"
    readme.write_text(README.replace("An intro paragraph about the course.",
                                     "An intro paragraph about the course; the [results page](docs/results.md)."),
                      encoding="utf-8")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "results.md").write_text(RESULTS, encoding="utf-8")
    report = website.build_site(tmp_path / "out", paths, readme=readme)
    assert [p.slug for p in report.pages] == ["index", "teaching", "results", "00_alpha", "01_beta"]
    assert report.pages[2].title == "Results of the course"
    page = (report.out_dir / "results.html").read_text(encoding="utf-8")
    assert "made-up model" in page and "123.45" in page and "<table" in page
    assert 'href="00_alpha.html"' in page and "CONTRIBUTING.md" not in page  # a notebook page; a file: text only
    found = refs(report.out_dir / "results.html")
    assert found.current == ["results.html"] and found.prev == ["teaching.html"] * 2
    assert found.next == ["00_alpha.html"] * 2
    assert 'href="results.html"' in (report.out_dir / "index.html").read_text(encoding="utf-8")
    # without the file (or with readme=None) there is no results page
    (tmp_path / "docs" / "results.md").unlink()
    assert "results" not in [p.slug for p in website.build_site(tmp_path / "out2", paths, readme=readme).pages]


def test_the_repositorys_results_page_is_built(tmp_path, assets):
    """The real README and docs/results.md: every section of the results page is on results.html."""
    notebook = website.course_notebooks()[0]
    report = website.build_site(tmp_path / "out", [notebook])
    assert [p.slug for p in report.pages] == ["index", "teaching", "results", notebook.stem]
    text = (REPO / "docs" / "results.md").read_text(encoding="utf-8")
    page = (report.out_dir / "results.html").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert len(headings) >= 5
    missing = [h for h in headings if html_text(h) not in page]
    assert not missing, f"results.html lacks the sections {missing}"
    assert page.count("<table") == text.count("\n|---")  # every table rendered
    assert 'href="results.html"' in (report.out_dir / "index.html").read_text(encoding="utf-8")


def html_text(markdown_heading: str) -> str:
    """A heading as it appears in the page's text (its markdown code marks and escapes gone)."""
    import html as _html

    return _html.escape(markdown_heading.replace("`", ""), quote=False)


def test_link_pages_rewrites_only_what_it_should():
    slugs = {"05_train_vae"}
    text = "`05_train_vae.ipynb`, `99_none.ipynb`, [x](notebooks/05_train_vae.ipynb), [y](a.md), [z](#top), " \
           "[w](https://e.org), ![img](pic.png)"
    assert website.link_pages(text, slugs) == (
        "[`05_train_vae.ipynb`](05_train_vae.html), `99_none.ipynb`, [x](05_train_vae.html), y, [z](#top), "
        "[w](https://e.org), ![img](pic.png)")
    assert website.link_pages("[r](docs/results.md), [s](results.md#top), [t](docs/other.md)", slugs,
                              {"results.md": "results.html"}) == "[r](results.html), [s](results.html), t"


def test_the_site_command(built, tmp_path, capsys):
    _, paths, _ = built
    out = tmp_path / "cli"
    assert main(["site", str(out), "--notebooks", str(paths[0].parent)]) == 0
    printed = capsys.readouterr().out
    # the repository's README (home, teaching) and docs/results.md (results), then the three notebooks
    assert "wrote 6 pages" in printed and "01_beta.html" in printed and "(3 widget outputs left out)" in printed
    assert "results.html" in printed and (out / "results.html").is_file()
    assert (out / "02_gamma.html").is_file()
    afile = tmp_path / "a_file"
    afile.write_text("x")
    assert main(["site", str(afile), "--notebooks", str(paths[0].parent)]) == 1
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main(["site", str(out), "--notebooks", str(tmp_path / "empty")]) == 1
    assert "no course notebooks" in capsys.readouterr().err


def test_course_notebooks_are_the_numbered_ones_in_order(tmp_path):
    for name in ("10_k.ipynb", "02_b.ipynb", "_scratch.ipynb", "notes.ipynb", "00_a.ipynb"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in website.course_notebooks(tmp_path)] == ["00_a.ipynb", "02_b.ipynb", "10_k.ipynb"]


# ------------------------------------------------------------------------------------------------ web assets
def test_fetch_without_npm_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_COURSE_VENDOR", str(tmp_path / "vendor"))
    monkeypatch.setattr(web_assets.shutil, "which", lambda name: None)
    with pytest.raises(web_assets.AssetError, match="npm is not installed"):
        web_assets.fetch("reveal.js")
    with pytest.raises(web_assets.AssetError):
        website.build_site(tmp_path / "out", [], readme=None)


def test_a_filled_cache_is_used_without_npm(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_COURSE_VENDOR", str(tmp_path))
    version, _ = web_assets.PACKAGES["mathjax"]
    folder = tmp_path / f"mathjax-{version}"
    (folder / "es5").mkdir(parents=True)
    (folder / "es5" / "tex-chtml-full.js").write_text("// stand-in")
    (folder / ".complete").write_text("")
    monkeypatch.setattr(web_assets.shutil, "which", lambda name: None)
    assert web_assets.fetch("mathjax") == folder
    web_assets.install(tmp_path / "static", ("mathjax",))
    assert (tmp_path / "static" / web_assets.MATHJAX_SCRIPT).read_text() == "// stand-in"
    assert not (tmp_path / "static" / "mathjax" / ".complete").exists()


def test_only_listed_tarball_paths_are_unpacked():
    kept = ("dist/reveal.js", "dist/theme/fonts/")
    assert web_assets._wanted("package/dist/reveal.js", kept) == "dist/reveal.js"
    assert web_assets._wanted("package/dist/theme/fonts/a.woff", kept) == "dist/theme/fonts/a.woff"
    for bad in ("package/dist/reveal.esm.js", "package/../etc/passwd", "/package/dist/reveal.js",
                "other/dist/reveal.js", "package/dist/theme/fonts/../../../x"):
        assert web_assets._wanted(bad, kept) is None, bad


# ---------------------------------------------------------------------------------------- slide convention
def _expected(cell) -> str | None:
    """The convention, restated from CONTRIBUTING.md for the cases that do not depend on the cells around."""
    tags = cell.metadata.get("tags", [])
    text = cell.source.strip()
    if "answer" in tags:
        return "notes"
    if not text or "solution" in tags:
        return "skip"
    if cell.cell_type == "markdown" and re.search(r"^#{1,2} ", text, re.M) and "```" not in text:
        return "slide"
    if cell.cell_type == "code" and len(text.splitlines()) > slides.LONG_CODE_LINES:
        return "subslide"
    return None


@pytest.mark.parametrize("path", website.course_notebooks(), ids=lambda p: p.stem)
def test_tag_slides_on_a_copy_of_each_course_notebook(path, tmp_path):
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    nb = nbformat.read(copy, as_version=4)
    before = nbformat.read(copy, as_version=4)
    slides.tag_slides(nb)
    types = [c.metadata["slideshow"]["slide_type"] for c in nb.cells]
    assert types[0] == "slide" and set(types) <= set(slides.SLIDE_TYPES)
    for i, cell in enumerate(nb.cells[1:], 1):
        want = _expected(cell)
        if want is not None:
            assert types[i] == want, f"cell {i}: {cell.source[:60]!r} is {types[i]!r}, not {want!r}"
    assert types.count("slide") >= 4  # title, sections, summary
    assert slides.tag_slides(nb) == 0  # idempotent
    for old, new in zip(before.cells, nb.cells):  # only the slideshow key changed
        assert (old.id, old.cell_type, old.source, old.get("outputs")) == \
            (new.id, new.cell_type, new.source, new.get("outputs"))
        assert {k: v for k, v in new.metadata.items() if k != "slideshow"} == \
            {k: v for k, v in old.metadata.items() if k != "slideshow"}
    assert copy.read_bytes() == path.read_bytes()  # tag_slides works in memory


def test_tag_slides_rules_on_a_made_up_notebook(tmp_path):
    nb = nbformat.read(_course(tmp_path)[2], as_version=4)
    manual = new_markdown_cell("## kept", metadata={"tags": [slides.MANUAL_TAG], "slideshow": {"slide_type": "-"}})
    nb.cells += [new_markdown_cell("p1"), new_markdown_cell("p2"), new_markdown_cell("p3"), manual,
                 new_markdown_cell("```\n# a comment, not a heading\n```"), new_code_cell(""),
                 new_markdown_cell("answers", metadata={"tags": ["answer"]})]
    slides.tag_slides(nb)
    assert [c.metadata["slideshow"]["slide_type"] for c in nb.cells] == [
        "slide", "subslide", "subslide", "fragment", "fragment",  # title, ###, long code, derivation, its check
        "-", "subslide", "-",  # p2: a plain cell after 4 shown cells starts a sub-slide
        "-", "-",  # the manual cell keeps its "-"; a "#" inside a code fence is no heading
        "skip", "notes"]


def test_tag_slides_command_writes_then_checks(tmp_path, capsys):
    paths = _course(tmp_path)
    assert main(["tag-slides", "--check", *map(str, paths)]) == 1
    assert "differ from the slide convention" in capsys.readouterr().out
    ids = [c.id for c in nbformat.read(paths[0], as_version=4).cells]
    assert main(["tag-slides", *map(str, paths)]) == 0
    assert [c.id for c in nbformat.read(paths[0], as_version=4).cells] == ids
    assert main(["tag-slides", "--check", *map(str, paths)]) == 0
    assert "3 notebooks follow the slide convention" in capsys.readouterr().out
    assert main(["tag-slides", str(tmp_path / "missing.ipynb")]) == 1


# -------------------------------------------------------------------------------------------------- decks
def test_decks_are_offline_and_use_the_convention_when_untagged(tmp_path, assets):
    paths = _course(tmp_path / "nb")
    tagged = nbformat.read(paths[2], as_version=4)
    for cell in tagged.cells:  # the stored metadata wins: one slide only
        cell.metadata["slideshow"] = {"slide_type": "-"}
    tagged.cells[0].metadata["slideshow"] = {"slide_type": "slide"}
    nbformat.write(tagged, tmp_path / "nb" / "03_tagged.ipynb")
    decks = slides.build_slides(tmp_path / "decks", [paths[2], tmp_path / "nb" / "03_tagged.ipynb", paths[1]])
    assert [d.name for d in decks] == ["02_gamma.slides.html", "03_tagged.slides.html", "01_beta.slides.html"]
    for deck in decks:
        found = refs(deck)
        assert found.loads, deck.name
        for url in found.loads:
            assert not re.match(r"(https?:)?//", url), f"{deck.name} loads {url}"
            if not url.startswith("data:"):
                assert (deck.parent / url).is_file(), f"{deck.name} loads {url}, which is not beside it"
        text = deck.read_text(encoding="utf-8")
        assert "Reveal.initialize" in text and "jquery.min.js" not in text.lower() and "require(" not in text
    gamma = decks[0].read_text(encoding="utf-8")
    assert gamma.count("<section") == 4  # slide(s) + 2 sub-slides: nested sections
    assert 'class="fragment"' in gamma
    assert decks[1].read_text(encoding="utf-8").count("<section") == 2  # one slide, one vertical stack
    beta = decks[2].read_text(encoding="utf-8")
    assert website.WIDGET_MIME not in beta and "runs live in JupyterLab" in beta


def test_the_slides_command(tmp_path, capsys, assets):
    paths = _course(tmp_path / "nb")
    assert main(["slides", str(tmp_path / "out"), str(paths[0])]) == 0
    assert "wrote 1 deck" in capsys.readouterr().out
    assert (tmp_path / "out" / "00_alpha.slides.html").is_file()
    assert (tmp_path / "out" / "_static" / web_assets.REVEAL_PREFIX / "dist" / "reveal.js").is_file()
    assert main(["slides", str(tmp_path / "out"), str(tmp_path / "nb" / "nope.ipynb")]) == 1
    assert "no such notebook" in capsys.readouterr().err


# ------------------------------------------------------------------------- public and instructor's sites (issue 25)
SOLUTION = "    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)  # the secret line"
ANSWER = "The instructor's answer: the KL is zero only at mu = 0 and sigma = 1."
PREDICTION = "my_prediction = 'the instructor value of this prediction'"


def _exercise_notebook(folder: Path) -> Path:
    """A notebook with an exercise (a solution region in a function), a prediction (a top-level region), a markdown
    region, an answer cell, a figure, and a cell that prints the solution's source (as "compare with the package")."""
    folder.mkdir(parents=True, exist_ok=True)
    nb = new_notebook(cells=[
        new_markdown_cell("# 03 · Exercise page\n\n## 1. The KL\n\nText about $\\mathrm{KL}$."),
        new_code_cell(f"def kl(mu, logvar):\n    \"\"\"The KL.\"\"\"\n    ### BEGIN SOLUTION\n{SOLUTION}\n"
                      "    ### END SOLUTION", metadata={"tags": ["solution"]}),
        new_code_cell(f"my_prediction = None\n### BEGIN SOLUTION\n{PREDICTION}\n### END SOLUTION",
                      metadata={"tags": ["solution"]}),
        new_markdown_cell("### 1.1 Predict\n\n### BEGIN SOLUTION\nThe predicted curve rises, then falls, like a hump.\n"
                          "### END SOLUTION"),
        new_code_cell("plt.show()", outputs=[new_output("display_data", data={"image/png": _png(),
                                                                                "text/plain": "<Figure>"})]),
        new_code_cell("print(inspect.getsource(kl))", outputs=[new_output("stream", name="stdout",
                                                                         text=SOLUTION + "\nprinted-ok\n")]),
        new_code_cell("print('a plain output')", outputs=[new_output("stream", name="stdout", text="a plain output\n")]),
        new_markdown_cell("## Check your understanding\n\n1. Where is the KL zero?"),
        new_markdown_cell(ANSWER, metadata={"tags": ["answer"]}),
    ])
    path = folder / "03_exercise.ipynb"
    nbformat.write(nb, path)
    return path


def page_text(path: Path) -> str:
    """A page's text as a reader sees it (tags gone, entities decoded), lines kept."""
    import html as _html

    return _html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def both_sites(tmp_path_factory, assets):
    base = tmp_path_factory.mktemp("editions")
    path = _exercise_notebook(base / "notebooks")
    public = website.build_site(base / "public", [path], readme=None)
    instructor = website.build_site(base / "instructor", [path], readme=None, instructor=True)
    return path, public, instructor


def test_the_public_site_shows_stubs_and_outputs_but_no_solution(both_sites):
    path, public, _ = both_sites
    page = public.out_dir / "03_exercise.html"
    text = page_text(page)
    for secret in (SOLUTION.strip(), PREDICTION, ANSWER, "like a hump"):
        assert secret not in text, f"the public page shows {secret!r}"
    assert website.solution_lines(nbformat.read(path, as_version=4)) == {SOLUTION.strip(), PREDICTION,
                                                                         "The predicted curve rises, then falls, like a hump."}
    assert 'raise NotImplementedError("your code here")' in text and "my_prediction = None" in text
    assert "Your answer here." in text
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', page.read_text(encoding="utf-8"))) == 1
    assert "a plain output" in text and "printed-ok" not in text  # the output that prints the solution: a note
    assert "solves an exercise (03_exercise.ipynb)" in text and public.pages[-1].outputs_left_out == 1
    assert "Check your understanding" in text and "Where is the KL zero?" in text  # the question stays


def test_the_instructors_site_has_the_solutions_and_answers(both_sites):
    _, _, instructor = both_sites
    text = page_text(instructor.out_dir / "03_exercise.html")
    for shown in (SOLUTION.strip(), PREDICTION, ANSWER, "printed-ok", "like a hump"):
        assert shown in text
    assert "NotImplementedError" not in text and instructor.instructor


def test_each_notebook_page_has_its_toc_and_downloads(both_sites):
    path, public, instructor = both_sites
    html_text_ = (public.out_dir / "03_exercise.html").read_text(encoding="utf-8")
    toc = re.search(r'<nav class="vae-toc".*?</nav>', html_text_, re.S).group(0)
    anchors = re.findall(r'href="#([^"]+)"', toc)
    assert [a.split("-")[0] for a in anchors] == ["1.", "1.1", "Check"]  # the ## and ### headings, in order
    for anchor in anchors:
        assert f'id="{anchor}"' in html_text_
    student = nbformat.read(public.out_dir / "notebooks" / "03_exercise.ipynb", as_version=4)
    assert SOLUTION.strip() not in nbformat.writes(student) and all(not c.get("outputs") for c in student.cells
                                                                     if c.cell_type == "code")
    link = re.search(r'<a[^>]*href="notebooks/03_exercise.ipynb"[^>]*>', html_text_)
    assert link and "download" in link.group(0) and "notebooks/solved" not in html_text_
    assert not (public.out_dir / "notebooks" / "solved").exists()
    solved = instructor.out_dir / "notebooks" / "solved" / "03_exercise.ipynb"
    assert SOLUTION.strip() in solved.read_text(encoding="utf-8")
    assert 'href="notebooks/solved/03_exercise.ipynb"' in (instructor.out_dir / "03_exercise.html").read_text(
        encoding="utf-8")


def test_every_page_is_indexed_for_search(both_sites):
    _, public, _ = both_sites
    out = public.out_dir
    assert (out / "pagefind" / "pagefind-ui.js").is_file() and (out / "pagefind" / "pagefind-entry.json").is_file()
    import json

    entry = json.loads((out / "pagefind" / "pagefind-entry.json").read_text(encoding="utf-8"))
    assert sum(lang["page_count"] for lang in entry["languages"].values()) == len(public.pages)
    for page in public.pages:
        text = (out / f"{page.slug}.html").read_text(encoding="utf-8")
        assert "data-pagefind-body" in text and 'id="vae-search"' in text and "pagefind/pagefind-ui.js" in text


def test_a_public_build_over_an_instructors_leaves_no_solved_notebook(both_sites, tmp_path):
    path, _, _ = both_sites
    out = tmp_path / "site"
    website.build_site(out, [path], readme=None, instructor=True)
    assert (out / "notebooks" / "solved" / path.name).is_file()
    website.build_site(out, [path], readme=None)
    assert not (out / "notebooks" / "solved").exists()
    assert SOLUTION.strip() not in page_text(out / "03_exercise.html")


# --------------------------------------------------------------------------------------- lecture decks (issue 25)
PLAN_README = """# A course

### A lecture plan

| lecture | notebooks | the idea |
|---|---|---|
| 1 | 00 alpha, 01 beta | first |
| 2 | 02 gamma | second |
"""

LECTURE_1 = """---
lecture: 1
title: The first lecture
notebooks: 00, 01
---

# The first lecture

Lecture 1

---

## A derivation

$$a = b$$

. . .

$$= c$$

::: notes
Talk about $a$.

{{answers 00}}
:::

---

## A figure

![The stored figure](figure:alpha-plot)

---

## A live view

![The view](figure:beta-view)
"""

LECTURE_2 = """---
lecture: 2
title: The second lecture
notebooks: 02
---

# Second

---

## Text only

- one point
"""


def _lecture_course(base: Path) -> tuple[Path, Path, Path]:
    """Made-up notebooks with figure tags and an answer, two lecture texts, and a README with their plan."""
    paths = _course(base / "notebooks")
    a = nbformat.read(paths[0], as_version=4)
    a.cells[2].metadata["tags"] = ["figure:alpha-plot"]
    a.cells.append(new_markdown_cell("The answer to question 1 is 42.", metadata={"tags": ["answer"]}))
    nbformat.write(a, paths[0])
    b = nbformat.read(paths[1], as_version=4)
    b.cells[3].metadata["tags"] = ["figure:beta-view"]
    nbformat.write(b, paths[1])
    lectures = base / "lectures"
    lectures.mkdir()
    (lectures / "1_first.md").write_text(LECTURE_1, encoding="utf-8")
    (lectures / "2_second.md").write_text(LECTURE_2, encoding="utf-8")
    readme = base / "README.md"
    readme.write_text(PLAN_README, encoding="utf-8")
    return base / "notebooks", lectures, readme


def test_the_lecture_plan_is_read_from_the_readme():
    assert slides.lecture_plan(PLAN_README) == {1: ["00", "01"], 2: ["02"]}
    plan = slides.lecture_plan(slides.README.read_text(encoding="utf-8"))
    assert sorted(plan) == list(range(1, len(plan) + 1)) and len(plan) >= 7
    planned, course = sorted(n for ns in plan.values() for n in ns), [p.name[:2] for p in website.course_notebooks()]
    assert planned == course, (f"the README's lecture plan covers notebooks {planned}, the course has {course}: give "
                               f"each notebook a lecture (a row of the plan, and its deck in lectures/N_name.md)")
    with pytest.raises(slides.DeckError, match="no '### A lecture plan' section"):
        slides.lecture_plan("# nothing")


def test_the_repositorys_lectures_follow_the_readmes_plan():
    lectures = slides.read_lectures()
    assert [lec.number for lec in lectures] == sorted(slides.lecture_plan(slides.README.read_text(encoding="utf-8")))
    for lec in lectures:
        assert lec.slides[0].parts[0].startswith("# "), f"{lec.source.name}: no title slide"
        labels = re.findall(r"\(figure:([\w-]+)\)", lec.source.read_text(encoding="utf-8"))
        assert labels, f"{lec.source.name} shows no figure"


def test_lecture_decks_embed_figures_by_label_with_fragments_and_notes(tmp_path, assets):
    notebooks, lectures, readme = _lecture_course(tmp_path)
    decks = slides.build_lectures(tmp_path / "out", lectures, notebooks, readme)
    assert [d.name for d in decks] == ["lecture-1.html", "lecture-2.html"]
    one = decks[0].read_text(encoding="utf-8")
    assert one.count("<section") == 4 and one.count('class="vae-part fragment"') == 1
    assert '<figure class="vae-figure" data-label="alpha-plot"><img src="data:image/png;base64,' in one
    assert f'base64,{nbformat.read(notebooks / "00_alpha.ipynb", as_version=4).cells[2].outputs[0]["data"]["image/png"]}' in one
    assert 'data-label="beta-view"' in one and "Live: open <code>notebooks/01_beta.ipynb</code>" in one
    notes = re.findall(r'<aside class="notes">(.*?)</aside>', one, re.S)
    assert len(notes) == 1 and "Answers (00_alpha.ipynb)" in notes[0] and "42" in notes[0]
    assert "plt.show()" not in one  # no code from the notebooks on a slide
    for url in refs(decks[0]).loads:
        assert url.startswith("data:") or (decks[0].parent / url).is_file(), url
    index = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert 'href="lecture-1.html"' in index and 'href="lecture-2.html"' in index and "The first lecture" in index


def test_a_missing_figure_label_stops_the_build_with_one_sentence(tmp_path, assets, capsys, monkeypatch):
    notebooks, lectures, readme = _lecture_course(tmp_path)
    text = (lectures / "1_first.md").read_text(encoding="utf-8")
    (lectures / "1_first.md").write_text(text.replace("figure:alpha-plot", "figure:no-such-plot"), encoding="utf-8")
    with pytest.raises(slides.DeckError) as err:
        slides.build_lectures(tmp_path / "out", lectures, notebooks, readme)
    message = str(err.value)
    assert message == ("lectures/1_first.md, slide 3: no cell of 00_alpha.ipynb, 01_beta.ipynb is tagged 'figure:no-such-plot': "
                       "tag the cell whose stored output is that figure, or fix the label")
    monkeypatch.setattr(slides.build_lectures, "__defaults__", (lectures, notebooks, readme))
    assert main(["slides", str(tmp_path / "cli")]) == 1
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert err_lines == [f"error: {message}."]


def test_the_decks_follow_the_plan_or_say_so(tmp_path, assets):
    notebooks, lectures, readme = _lecture_course(tmp_path)
    (lectures / "2_second.md").unlink()
    with pytest.raises(slides.DeckError, match=r"lecture plan has lectures \[1, 2\] but .* has decks for \[1\]"):
        slides.build_lectures(tmp_path / "out", lectures, notebooks, readme)
    (lectures / "2_second.md").write_text(LECTURE_2.replace("notebooks: 02", "notebooks: 01"), encoding="utf-8")
    with pytest.raises(slides.DeckError, match="names notebooks 01 but the README's lecture plan gives lecture 2 "
                                               "notebooks 02"):
        slides.build_lectures(tmp_path / "out", lectures, notebooks, readme)


def test_the_slides_command_builds_the_lecture_decks(tmp_path, assets, capsys, monkeypatch):
    notebooks, lectures, readme = _lecture_course(tmp_path)
    monkeypatch.setattr(slides.build_lectures, "__defaults__", (lectures, notebooks, readme))
    assert main(["slides", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "wrote 2 lecture decks" in printed and "lecture-1.html" in printed
    assert (tmp_path / "out" / "index.html").is_file()


def test_the_site_command_builds_either_edition(both_sites, tmp_path, capsys):
    path, _, _ = both_sites
    assert main(["site", str(tmp_path / "public"), "--notebooks", str(path.parent)]) == 0
    assert "the public site, without solutions" in capsys.readouterr().out
    assert SOLUTION.strip() not in page_text(tmp_path / "public" / "03_exercise.html")
    assert main(["site", str(tmp_path / "teacher"), "--notebooks", str(path.parent), "--instructor"]) == 0
    assert "the instructor's site, with the solutions" in capsys.readouterr().out
    assert SOLUTION.strip() in page_text(tmp_path / "teacher" / "03_exercise.html")
