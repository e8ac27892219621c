"""The package's layer rule, read from the source with ``ast`` (nothing is imported or executed).

CONTRIBUTING.md ("Architecture") lists the layers, bottom to top: the foundation (``config``, ``data``), then one
package per layer (``models``, ``objectives``, ``theory``, ``evaluation``, ``training``, ``views``, ``teaching``). A
package imports only from itself and the packages below it; nothing else sits at the top level; there are no import
circles; no module is longer than ``MAX_LINES``. Imports inside functions count too: a lazy import is still a
dependency.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "vae_course"
PACKAGE_DIR = Path(__file__).resolve().parent.parent / PACKAGE
MAX_LINES = 400

# Package (or top-level module) -> layer, bottom to top. The top level holds the foundation and seven packages, one
# per layer; a package imports only from itself and the packages below it (issue 26).
LAYERS = {
    "config": 0, "data": 0,
    "models": 1, "objectives": 2, "theory": 3, "evaluation": 4, "training": 5, "views": 6, "teaching": 7,
    "__main__": 8,  # the command line sits on top of everything
}
LAYER_NAMES = {0: "foundation", 1: "models", 2: "objectives", 3: "theory", 4: "evaluation", 5: "training",
               6: "views", 7: "teaching", 8: "command line"}
PACKAGES = [name for name, layer in LAYERS.items() if 1 <= layer <= 7]
TOP_LEVEL_FILES = {"__init__.py", "__main__.py", "config.py", "data.py"}


def module_name(path: Path, root: Path = PACKAGE_DIR) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def package_modules(root: Path = PACKAGE_DIR) -> dict[str, Path]:
    """``{"vae_course.models.mlp": path, ...}`` for every ``.py`` file of the package."""
    return {module_name(p, root): p for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts}


def layer_of(module: str) -> int | None:
    """The layer of a module of the package: that of its package (or top-level module). The package's own
    ``__init__`` (the map and a version string) sits at the bottom."""
    parts = module.split(".")
    if len(parts) == 1:
        return -1
    return LAYERS.get(parts[1])


def imports_of(module: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """The package modules ``module`` imports, with line numbers: absolute or relative, at the top or in a function.

    ``from . import x`` counts as importing the module ``x`` when there is one, else the package it names.
    """
    is_package = path.name == "__init__.py"
    here = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = [f"{target}.{alias.name}" for alias in node.names]
            targets = [s for s in subs if s in known] or [target]
        else:
            continue
        for target in targets:
            if target != PACKAGE and not target.startswith(PACKAGE + "."):
                continue  # torch, numpy, the standard library
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]  # ``import vae_course.models.mlp.VAE``-like: the module part
            if target != module:
                found.append((target, node.lineno))
    return found


def import_graph(root: Path = PACKAGE_DIR) -> dict[str, list[tuple[str, int]]]:
    modules = package_modules(root)
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def unmapped_modules(graph) -> list[str]:
    return [f"{m} has no layer: put it in one of the packages {', '.join(PACKAGES)} (or add a layer to LAYERS in "
            f"tests/test_architecture.py and to CONTRIBUTING.md's Architecture section)" for m in graph
            if layer_of(m) is None]


def upward_imports(graph) -> list[str]:
    problems = []
    for module, targets in graph.items():
        low = layer_of(module)
        for target, line in targets:
            high = layer_of(target)
            if low is not None and high is not None and high > low:
                problems.append(f"upward import: {module} (layer {low}, {LAYER_NAMES.get(low, 'package')}) imports "
                                f"{target} (layer {high}, {LAYER_NAMES[high]}) at line {line}: a package imports only "
                                f"from itself and the packages below it")
    return problems


def import_circles(graph) -> list[str]:
    """One message per circle (each reported once, starting at its alphabetically first module)."""
    edges = {m: sorted({t for t, _ in targets}) for m, targets in graph.items()}
    circles, seen = [], set()

    def visit(start, node, path, on_path):
        for nxt in edges.get(node, ()):
            if nxt == start:
                cycle = path + [start]
                key = frozenset(zip(cycle, cycle[1:]))
                if key not in seen:
                    seen.add(key)
                    circles.append("import circle: " + " -> ".join(cycle))
            elif nxt not in on_path and nxt > start:  # each circle is found from its smallest module only
                visit(start, nxt, path + [nxt], on_path | {nxt})

    for start in sorted(edges):
        visit(start, start, [start], {start})
    return circles


def long_modules(root: Path = PACKAGE_DIR, limit: int = MAX_LINES) -> list[str]:
    out = []
    for name, path in package_modules(root).items():
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > limit:
            out.append(f"{path.relative_to(root.parent)} has {n} lines, over the {limit}-line limit: split it")
    return out


def stray_top_level(root: Path = PACKAGE_DIR) -> list[str]:
    """Anything at the top of the package besides the foundation files and the seven packages."""
    out = []
    for path in sorted(root.iterdir()):
        if path.name == "__pycache__" or path.name in TOP_LEVEL_FILES:
            continue
        if path.is_dir() and path.name in PACKAGES:
            continue
        if path.suffix == ".py" or path.is_dir() and any(path.rglob("*.py")):
            out.append(f"vae_course/{path.name} sits at the top level: only {', '.join(sorted(TOP_LEVEL_FILES))} and "
                       f"the packages {', '.join(PACKAGES)} do; move it into the package of its layer")
    return out


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_every_module_has_a_layer(graph):
    problems = unmapped_modules(graph)
    assert not problems, "\n".join(problems)


def test_no_import_goes_up_a_layer(graph):
    problems = upward_imports(graph)
    assert not problems, "\n".join(problems)


def test_no_import_circles(graph):
    problems = import_circles(graph)
    assert not problems, "\n".join(problems)


def test_the_top_level_holds_the_foundation_and_seven_packages():
    problems = stray_top_level()
    assert not problems, "\n".join(problems)
    assert all((PACKAGE_DIR / name / "__init__.py").exists() for name in PACKAGES)


def test_no_module_is_over_the_line_limit():
    problems = long_modules()
    assert not problems, "\n".join(problems)


def test_contributing_lists_every_layer_name():
    text = (PACKAGE_DIR.parent / "CONTRIBUTING.md").read_text(encoding="utf-8")
    section = text.split("## Architecture", 1)[-1].split("\n## ", 1)[0]
    present = [name for name in LAYERS if name != "__main__" and
               ((PACKAGE_DIR / f"{name}.py").exists() or (PACKAGE_DIR / name).is_dir())]
    missing = [name for name in present if f"`{name}`" not in section]
    assert "## Architecture" in text and not missing, \
        f"CONTRIBUTING.md's Architecture section does not name: {', '.join(missing)}"


# --- the checker itself can fail: a tiny fake package with a circle, an upward import and a long module -------------
def _fake_package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / PACKAGE
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_the_checks_catch_a_circle_an_upward_import_and_a_long_module(tmp_path):
    root = _fake_package(tmp_path, {
        "__init__.py": "",
        "config.py": "",
        "training/__init__.py": "",
        "training/fit_loop.py": "from ..evaluation.collapse import kl_weight\n",  # training -> evaluation: fine
        "evaluation/__init__.py": "",
        "evaluation/collapse.py": "def f():\n    from ..training.fit_loop import fit\n",  # upward, lazily: counts
        "models/__init__.py": "from .mlp import VAE\n",
        "models/mlp.py": "from ..config import x\n" + "\n" * MAX_LINES,
        "losses.py": "",  # a stray top-level module
    })
    graph = import_graph(root)
    assert ("vae_course.evaluation.collapse", 1) in graph["vae_course.training.fit_loop"]
    assert graph["vae_course.models"] == [("vae_course.models.mlp", 1)]
    assert graph["vae_course.models.mlp"] == [("vae_course.config", 1)]
    assert upward_imports(graph) == [
        "upward import: vae_course.evaluation.collapse (layer 4, evaluation) imports vae_course.training.fit_loop "
        "(layer 5, training) at line 2: a package imports only from itself and the packages below it"]
    assert import_circles(graph) == ["import circle: vae_course.evaluation.collapse -> vae_course.training.fit_loop "
                                     "-> vae_course.evaluation.collapse"]
    assert long_modules(root) == [f"vae_course/models/mlp.py has {MAX_LINES + 1} lines, over the {MAX_LINES}-line "
                                  f"limit: split it"]
    assert unmapped_modules(graph) == [
        "vae_course.losses has no layer: put it in one of the packages models, objectives, theory, evaluation, "
        "training, views, teaching (or add a layer to LAYERS in tests/test_architecture.py and to CONTRIBUTING.md's "
        "Architecture section)"]
    assert stray_top_level(root) == [
        "vae_course/losses.py sits at the top level: only __init__.py, __main__.py, config.py, data.py and the packages "
        "models, objectives, theory, evaluation, training, views, teaching do; move it into the package of its layer"]
