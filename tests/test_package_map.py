"""The package map and the packages' exports (issue 26).

* ``vae_course/__init__.py``'s docstring is the map of the package: every module is named there.
* Each layer package's ``__init__`` exports every public name of its modules (a module's ``main``, its command-line
  entry, excepted), so notebooks import from packages: ``from vae_course.training import fit``.
* No re-export shim is left: every name a package exports is defined in one of its own modules.
"""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import vae_course

PACKAGE_DIR = Path(vae_course.__file__).resolve().parent
PACKAGES = ["models", "objectives", "theory", "evaluation", "training", "views", "teaching"]


def all_modules(root: Path = PACKAGE_DIR) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts:
            out.append(".".join(["vae_course", *parts]))
    return out


def missing_from_map(docstring: str, modules: list[str]) -> list[str]:
    named = set(re.findall(r":mod:`~?(vae_course(?:\.\w+)*)`", docstring))
    return [m for m in modules if m not in named]


def public_names(path: Path) -> list[str]:
    """Names a module defines at its top level (functions, classes, constants), not those it imports; its
    ``__all__`` where it has one."""
    names = []
    body = ast.parse(path.read_text(encoding="utf-8")).body
    for node in body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return [n for n in ast.literal_eval(node.value) if n != "main"]
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [n for n in names if not n.startswith("_") and n != "main"]


def test_every_module_is_on_the_map():
    missing = missing_from_map(vae_course.__doc__, all_modules())
    assert not missing, ("vae_course/__init__.py's docstring (the map) does not name: " + ", ".join(missing)
                         + "; add each as :mod:`vae_course.<package>.<module>` with one line on what it holds")


def test_the_map_check_can_fail():
    doc = ":mod:`vae_course.models` and :mod:`~vae_course.models.mlp`"
    assert missing_from_map(doc, ["vae_course.models", "vae_course.models.mlp"]) == []
    assert missing_from_map(doc, ["vae_course.models.mlp", "vae_course.models.conv"]) == ["vae_course.models.conv"]


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_exports_the_public_names_of_its_modules(package):
    pkg = importlib.import_module(f"vae_course.{package}")
    exported = set(pkg.__all__)
    missing = {}
    for path in sorted((PACKAGE_DIR / package).glob("*.py")):
        if path.name != "__init__.py":
            lost = [n for n in public_names(path) if n not in exported]
            if lost:
                missing[path.stem] = lost
    assert not missing, f"vae_course.{package}.__all__ lacks {missing}: import them in its __init__"
    undefined = [n for n in pkg.__all__ if not hasattr(pkg, n)]
    assert not undefined, f"vae_course.{package}.__all__ names {undefined}, which it does not define"


@pytest.mark.parametrize("package", PACKAGES)
def test_no_package_re_exports_a_name_from_elsewhere(package):
    """Every exported function or class is defined inside the package (one home per name, no shims)."""
    pkg = importlib.import_module(f"vae_course.{package}")
    strays = [n for n in pkg.__all__ if isinstance(getattr(pkg, n), type) or callable(getattr(pkg, n))
              if getattr(getattr(pkg, n), "__module__", pkg.__name__).split(".")[:2] not in
              (["vae_course", package], ["typing"], ["collections"])]
    assert not strays, f"vae_course.{package} exports {strays}, defined in another package"


def test_notebook_imports_work_from_packages():
    """A few of the names the notebooks import, from the packages the map gives them."""
    from vae_course.evaluation import active_units, evaluate, iwae_bound  # noqa: F401
    from vae_course.objectives import gaussian_kl, kl_weight, model_elbo  # noqa: F401
    from vae_course.teaching import exercises
    from vae_course.training import fit, load_or_train  # noqa: F401
    from vae_course.views import browser_decoder, latent_explorer, show_images  # noqa: F401

    assert callable(exercises.reveal)


# A view's function is named after its module (``from vae_course.views import latent_explorer`` is the function, as it
# was in ``vae_course.widgets``); no other exported name may hide a module of its package.
VIEW_FUNCTIONS = {("views", "latent_explorer"), ("views", "digit_encoder"), ("views", "cvae_explorer")}


@pytest.mark.parametrize("package", PACKAGES)
def test_no_exported_name_hides_a_module(package):
    pkg = importlib.import_module(f"vae_course.{package}")
    modules = {p.stem for p in (PACKAGE_DIR / package).glob("*.py")} | \
              {p.parent.name for p in (PACKAGE_DIR / package).glob("*/__init__.py")}
    hidden = [n for n in pkg.__all__ if n in modules and (package, n) not in VIEW_FUNCTIONS
              and not isinstance(getattr(pkg, n), type(pytest))]
    assert not hidden, f"vae_course.{package} exports {hidden}, which hide(s) the module(s) of that name: rename"
