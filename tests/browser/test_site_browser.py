"""The static website and a slide deck in a real browser: headless Chromium (Playwright), offline.

The public site is built from the course's stored outputs (``vae_course.teaching.build_site``; its build time is
printed), served by a static file server on 127.0.0.1, and walked from the home page through every notebook page by
the "next" links. Its search box finds notebook 04 for "reparameterization"; no page holds a line of a solution
region (longer than 30 characters); the instructor's site (``instructor=True``) holds them all. A deck (notebook 02) is built and opened from disk (``file://``). Every request to anywhere but
127.0.0.1 or ``file://`` is blocked and counted, and must number 0; so must failed requests, HTTP errors and
JavaScript errors.

Each page: MathJax typeset the math (its ``mjx-container`` elements are there, no ``mjx-merror``, no raw ``$$`` left
in the text), every ``<img>`` loaded (``naturalWidth > 0``) and there is one per stored figure, no widget error text
and no widget boxes, one note per left-out widget output. Screenshots (notebook 02's derivation, notebook 06's
explorer section, the deck) go to ``$VAE_COURSE_SCREENSHOTS`` or tests/browser/screenshots/; the paths are printed.

Run only these:  pytest -o addopts="" -m browser -s tests/browser/test_site_browser.py
Skipped (with the reason) when Playwright or Chromium is missing; see conftest.py.
"""
from __future__ import annotations

import functools
import http.server
import threading
import time
from pathlib import Path

import nbformat
import pytest

from vae_course.teaching import slides, website

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = website.course_notebooks(REPO / "notebooks")
IMAGE_MIMES = website.IMAGE_MIMES

# Text of every rendered markdown cell without its typeset math and code: where raw TeX would show if MathJax failed.
PAGE_STATE_JS = """async () => {
    await MathJax.startup.promise;
    const text = [];
    for (const md of document.querySelectorAll('.jp-RenderedMarkdown, .jp-RenderedHTMLCommon')) {
        const clone = md.cloneNode(true);
        clone.querySelectorAll('mjx-container, code, pre, mjx-assistive-mml').forEach(e => e.remove());
        text.push(clone.textContent);
    }
    const imgs = [...document.images];
    return {
        math: document.querySelectorAll('mjx-container').length,
        mathErrors: document.querySelectorAll('mjx-merror').length,
        text: text.join('\\n'),
        body: document.body.innerText,
        images: imgs.length,
        brokenImages: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 60)),
        widgetBoxes: document.querySelectorAll('.jupyter-widgets, .widget-area, .jp-OutputArea-output:empty').length,
        notes: document.querySelectorAll('.""" + website.NOTE_CLASS + """').length,
    };
}"""


def expected(path: Path) -> dict:
    nb = nbformat.read(path, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    return {
        "images": sum(1 for o in outputs if any(m in o.get("data", {}) for m in IMAGE_MIMES)),
        "widgets": sum(1 for o in outputs if website.WIDGET_MIME in o.get("data", {})),
        "math": any("$" in c.source for c in nb.cells if c.cell_type == "markdown"),
        "title": website.notebook_title(nb),
    }


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no line per request on the test's output
        pass


@pytest.fixture(scope="module")
def site(web_assets_fetched, tmp_path_factory):
    """The course's site, built once (the build time is printed), served on 127.0.0.1."""
    out = tmp_path_factory.mktemp("site")
    report = website.build_site(out, NOTEBOOKS)  # the public site
    handler = functools.partial(QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", report
    finally:
        server.shutdown()
        server.server_close()


def check_page(page, path: Path) -> dict:
    want = expected(path)
    state = page.evaluate(PAGE_STATE_JS)
    name = path.stem
    assert page.title().startswith(want["title"]), f"{name}: title {page.title()!r}"
    if want["math"]:
        assert state["math"] > 0, f"{name}: MathJax typeset nothing"
    assert state["mathErrors"] == 0, f"{name}: {state['mathErrors']} TeX errors (mjx-merror)"
    assert "$$" not in state["text"], f"{name}: raw $$ left in the text"
    assert "\\begin{" not in state["text"], f"{name}: a raw \\begin{{...}} left in the text"
    assert state["images"] == want["images"] and not state["brokenImages"], \
        f"{name}: {state['images']} images for {want['images']} figures; not loaded: {state['brokenImages']}"
    assert "Error displaying widget" not in state["body"] and "Loading widget" not in state["body"], name
    assert state["widgetBoxes"] == 0, f"{name}: {state['widgetBoxes']} widget boxes or empty outputs"
    assert state["notes"] == want["widgets"], f"{name}: {state['notes']} notes for {want['widgets']} widgets"
    return state


def test_every_notebook_page_from_the_home_page(offline_tab, site, announce, screenshots):
    url, report = site
    announce(f"site: built {len(report.pages)} pages from {len(NOTEBOOKS)} notebooks in {report.seconds:.1f} s")
    tab = offline_tab(1400, 1000, allow=("http://127.0.0.1:",), http_errors=True)
    page = tab.page
    try:
        page.goto(f"{url}/index.html", wait_until="load")
        home = page.evaluate(PAGE_STATE_JS)
        assert "Variational Autoencoders" in home["body"]
        pages = [f"{p.stem}.html" for p in NOTEBOOKS]
        sidebar = page.eval_on_selector_all(".vae-sidebar .vae-notebooks a", "els => els.map(e => e.href)")
        assert [u.rsplit("/", 1)[1] for u in sidebar] == pages  # every notebook, in course order
        table = [u.rsplit("/", 1)[1] for u in
                 page.eval_on_selector_all(".jp-RenderedMarkdown table a", "els => els.map(e => e.href)")]
        assert table and table == [p for p in pages if p in table]  # the README's table: links to pages, in order
        page.click(f".vae-sidebar .vae-notebooks a[href='{NOTEBOOKS[0].stem}.html']")
        visited, math_total = [], 0
        started = time.perf_counter()
        for path in NOTEBOOKS:
            page.wait_for_load_state("load")
            assert page.url.endswith(f"/{path.stem}.html"), f"expected {path.stem}, at {page.url}"
            math_total += check_page(page, path)["math"]
            visited.append(path.stem)
            if path.stem == "02_elbo":
                page.evaluate("document.querySelector('h2[id^=\"2.-Derivation\"]').scrollIntoView()")
                shot = screenshots / "site_02_derivation.png"
                page.screenshot(path=str(shot))
                announce(f"screenshot: {shot}")
            if path.stem == "06_latent_space_explorer":
                page.evaluate("document.querySelector('h2[id^=\"1.-The-explorer\"]').scrollIntoView()")
                shot = screenshots / "site_06_explorer.png"
                page.screenshot(path=str(shot))
                announce(f"screenshot: {shot}")
            nxt = page.locator("a.vae-next").first
            if path != NOTEBOOKS[-1]:
                nxt.click()
            else:
                assert nxt.count() == 0, "the last page has a next link"
        assert visited == [p.stem for p in NOTEBOOKS]
        tab.assert_clean()
        announce(f"site: {len(visited)} notebook pages and the home page checked in {time.perf_counter() - started:.1f}"
                 f" s ({math_total} typeset formulas, 0 requests blocked)")
    finally:
        tab.context.close()


def test_a_slide_deck_from_disk(web_assets_fetched, offline_tab, tmp_path, announce, screenshots):
    started = time.perf_counter()
    [deck] = slides.build_slides(tmp_path, [REPO / "notebooks" / "02_elbo.ipynb"])
    announce(f"slides: built {deck.name} in {time.perf_counter() - started:.1f} s")
    tab = offline_tab(1400, 1000, allow=("http://127.0.0.1:",), http_errors=True)
    page = tab.page
    try:
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(deck.as_uri(), wait_until="load")
        page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=30_000)
        assert page.evaluate("Reveal.getIndices().h") == 0
        total = page.evaluate("Reveal.getHorizontalSlides().length")
        assert total >= 5
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => Reveal.getIndices().h === 1", timeout=10_000)
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => Reveal.getIndices().h === 2", timeout=10_000)
        state = page.evaluate("""async () => {
            await MathJax.startup.promise;
            const clone = document.querySelector('.reveal .slides').cloneNode(true);
            clone.querySelectorAll('mjx-container, code, pre').forEach(e => e.remove());
            return {math: document.querySelectorAll('mjx-container').length,
                    errors: document.querySelectorAll('mjx-merror').length,
                    visibleMath: Reveal.getCurrentSlide().querySelectorAll('mjx-container').length,
                    text: clone.textContent};
        }""")
        assert state["math"] > 0 and state["visibleMath"] > 0 and state["errors"] == 0, state["math"]
        assert "$$" not in state["text"]
        page.wait_for_timeout(700)  # the slide transition
        shot = screenshots / "slides_02_elbo.png"
        page.screenshot(path=str(shot))
        announce(f"screenshot: {shot}")
        tab.assert_clean()
        announce(f"slides: reveal.js ready, {total} slides, ArrowRight moved 0 -> 1 -> 2, {state['math']} formulas, "
                 f"0 requests blocked")
    finally:
        tab.context.close()


def page_text(path: Path) -> str:
    """A page's text as a reader sees it: tags gone, entities decoded, lines kept (code keeps its lines)."""
    import html
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


def test_no_solution_on_the_public_site_and_all_on_the_instructors(site, tmp_path, announce):
    """Every line of every solution region (longer than 30 characters) is absent from every public page, and
    present on the instructor's page of its notebook; every figure is on both."""
    _, report = site
    started = time.perf_counter()
    instructor = website.build_site(tmp_path / "instructor", NOTEBOOKS, instructor=True)
    announce(f"site: the instructor's site built in {time.perf_counter() - started:.1f} s")
    public_texts = {p.slug: page_text(report.out_dir / f"{p.slug}.html") for p in report.pages}
    counted = 0
    for path in NOTEBOOKS:  # a notebook's solution must not show on any page (one may print code that solves another's)
        nb = nbformat.read(path, as_version=4)
        secret = website.solution_lines(nb)
        counted += len(secret)
        for slug, text in public_texts.items():
            leaked = [line for line in secret if line in text]
            assert not leaked, f"the public page {slug}.html shows solution lines of {path.name}: {leaked[:3]}"
        teacher = page_text(instructor.out_dir / f"{path.stem}.html")
        missing = [line for line in secret if line not in teacher]
        assert not missing, f"the instructor's page of {path.name} lacks solution lines: {missing[:3]}"
        answers = [c for c in nb.cells if "answer" in c.get("metadata", {}).get("tags", [])]
        figures = expected(path)["images"]
        for out in (report.out_dir, instructor.out_dir):
            page = (out / f"{path.stem}.html").read_text(encoding="utf-8")
            assert page.count('src="data:image/') >= figures, f"{out.name}/{path.stem}.html lost figures"
        if answers:
            first = answers[0].source.strip().splitlines()[-1].strip()[:60]
            assert first not in public_texts[path.stem] and first in teacher, path.name
    assert counted >= 50, f"only {counted} solution lines in the course: is the marker convention still in use?"
    announce(f"site: {counted} solution lines checked on {len(public_texts)} public pages: none shown; all on the "
             f"instructor's pages")


def test_search_finds_notebook_04(offline_tab, site, announce):
    url, _ = site
    tab = offline_tab(1400, 1000, allow=("http://127.0.0.1:",), http_errors=True)
    page = tab.page
    try:
        page.goto(f"{url}/index.html", wait_until="load")
        page.fill("#vae-search input", "reparameterization")
        page.wait_for_selector(".pagefind-ui__result-link", timeout=20_000)
        page.wait_for_timeout(500)
        links = page.eval_on_selector_all(".pagefind-ui__result-link", "els => els.map(e => e.href)")
        assert any("/04_reparameterization.html" in link for link in links[:3]), links[:5]
        page.locator(".pagefind-ui__result-link").first.click()
        page.wait_for_load_state("load")
        assert "/04_reparameterization.html" in page.url
        tab.assert_clean()
        announce(f"site: search for 'reparameterization' gave {len(links)} results, first {links[0].rsplit('/', 1)[1]}")
    finally:
        tab.context.close()
