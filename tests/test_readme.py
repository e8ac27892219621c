"""README.md, CONTRIBUTING.md and docs/: the README stays short, keeps the commands CI runs, and no page (nor the
package or a notebook) still names the partial MNIST copy that the course trained on before it had all 60,000
training images (issues 23 and 26).

Plain text checks on the files as committed: nothing is imported or run.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
CONTRIBUTING = REPO / "CONTRIBUTING.md"
DOCS = REPO / "docs"
RESULTS = DOCS / "results.md"
MAX_README_LINES = 250
OLD_SIZE = re.compile(r"22[,\u202f ]?699")  # the old size, with a comma, a thin space, a space or nothing
PLACEHOLDER = "⟨rerun⟩"  # a figure still to be copied from a re-run's stored output
TEXT_SUFFIXES = {".py", ".md", ".ipynb", ".txt", ".cfg", ".toml", ".json", ".html", ".j2", ".css", ".js", ".yml", ".sh", ""}


def _text_files(*roots: Path) -> list[Path]:
    files = []
    for root in roots:
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            files += [p for p in sorted(root.rglob("*")) if p.is_file() and p.suffix in TEXT_SUFFIXES
                      and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts]
    return files


def _pages() -> list[Path]:
    return _text_files(README, CONTRIBUTING, DOCS)


def test_readme_is_at_most_250_lines():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines, more than {MAX_README_LINES}: move details to CONTRIBUTING.md or "
        f"docs/results.md.")


def test_readme_keeps_the_commands_ci_runs():
    text = README.read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -r requirements.txt" in ci and re.search(r'^pytest\b.* -m ""', ci, flags=re.MULTILINE), \
        ".ci/run no longer runs `pip install -r requirements.txt` and `pytest ... -m \"\"`: update this test and the " \
        "README together"
    for command in ("pip install -r requirements.txt", 'pytest -m ""'):
        assert command in text, f"README.md no longer shows {command!r}, which .ci/run runs"
    assert re.search(r"^pip install -r requirements\.txt && pytest\b", text, flags=re.MULTILINE), \
        "README.md's second command is no longer `pip install -r requirements.txt && pytest`"


def test_readme_lists_every_notebook_and_links_the_results_page():
    text = README.read_text(encoding="utf-8")
    notebooks = sorted(p.name for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert notebooks, "no course notebooks found"
    missing = [name for name in notebooks if f"`{name}`" not in text]
    assert not missing, f"README.md's notebook table lacks {missing}"
    assert "(docs/results.md)" in text and RESULTS.is_file()


def test_every_results_table_names_the_notebook_cell_that_prints_it():
    text = RESULTS.read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.MULTILINE)[1:]
    assert sections, "docs/results.md has no sections"
    for section in sections:
        title = section.splitlines()[0]
        if "|---" in section:
            assert re.search(r"Printed by notebook \[?\d\d", section), \
                f"docs/results.md, {title!r}: say which notebook cell prints its table ('Printed by notebook NN, ...')"


def test_contributing_names_every_module_of_each_package():
    """CONTRIBUTING.md's Architecture table lists, per package, exactly the modules (and subpackages) it holds."""
    text = CONTRIBUTING.read_text(encoding="utf-8")
    section = text.split("## Architecture", 1)[-1].split("\n## ", 1)[0]
    rows = {m.group(1): set(re.findall(r"`(\w+)/?`", m.group(2)))
            for m in re.finditer(r"^\| \d \| `(\w+)` \| ([^|]+) \|", section, flags=re.MULTILINE)}
    package_dir = REPO / "vae_course"
    packages = sorted(p.name for p in package_dir.iterdir() if (p / "__init__.py").is_file())
    assert sorted(rows) == packages, f"the table's packages {sorted(rows)} are not the package's {packages}"
    for name, listed in rows.items():
        folder = package_dir / name
        held = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
        held |= {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()}
        assert listed == held, (f"CONTRIBUTING.md's row for {name} lists {sorted(listed - held)} that it lacks and "
                                f"misses {sorted(held - listed)}")


def test_the_readmes_python_imports_what_the_package_has():
    """Every `from vae_course... import ...` line of the README's code blocks runs (training is left out: slow)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    imports = [line for block in blocks for line in block.splitlines() if re.match(r"(from|import) vae_course", line)]
    assert imports, "the README shows no import from vae_course"
    for line in imports:
        exec(compile(line, "README.md", "exec"), {})  # noqa: S102 - a fixed line of our own README


@pytest.mark.parametrize("word", ["prefix"])
def test_the_pages_do_not_describe_a_partial_training_set(word):
    hits = [f"{p.relative_to(REPO)}:{i}" for p in _pages()
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if word in line.lower()]
    assert not hits, f"{word!r} (of a partial training set) in {hits}: the course trains on all 60,000 images"


def test_nothing_names_the_old_training_set_size():
    """Issue 23: nothing in the repository names it (pages, package, notebooks, benchmarks, tests, CI, settings)."""
    roots = (README, CONTRIBUTING, DOCS, REPO / "vae_course", REPO / "notebooks", REPO / "benchmarks", REPO / "tests",
             REPO / ".ci", *sorted(REPO.glob("*.py")), *sorted(REPO.glob("*.toml")), *sorted(REPO.glob("*.txt")),
             *sorted(REPO.glob("*.yml")))
    hits = []
    for path in _text_files(*roots):
        for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OLD_SIZE.search(line):
                hits.append(f"{path.relative_to(REPO)}:{i}")
    assert not hits, (f"the old partial training set's size is still named in {len(hits)} place(s): "
                      f"{hits[:20]}; the course trains on all 60,000 MNIST training images (issue 23).")


def test_no_figure_is_left_to_be_filled_in():
    hits = {str(p.relative_to(REPO)): p.read_text(encoding="utf-8").count(PLACEHOLDER) for p in _pages()}
    hits = {name: n for name, n in hits.items() if n}
    assert not hits, (f"{PLACEHOLDER} still stands for {sum(hits.values())} figure(s) in {hits}: copy each from "
                      f"the stored output of the cell named beside it, or remove the row.")
