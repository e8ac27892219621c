"""Local copies of the two web libraries that the course's website and slides load: MathJax 3 and reveal.js.

Used by ``vae_course.teaching.website`` and ``vae_course.teaching.slides`` (no notebook uses it). Both come from the npm registry,
through npm itself (``npm pack``, which checks each tarball's integrity against the registry), at pinned versions,
into a cache folder: ``$VAE_COURSE_VENDOR`` or ``~/.cache/vae_course/vendor``. Only the files a page needs are kept
(about 4 MB). A build then copies them into its output's ``_static/``, so that the site or deck loads no file
from outside itself: it works from a USB stick in a lecture hall with no Wi-Fi.

Without npm, put the files there by hand: ``npm pack mathjax@3.2.2`` on any machine, and unpack the listed paths
of its ``package/`` folder into ``<cache>/mathjax-3.2.2/`` (likewise ``reveal.js-5.2.1``), then create an empty
``.complete`` file in each.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

# name -> (version, the paths kept from the npm tarball's package/ folder; a trailing "/" keeps a whole folder)
PACKAGES = {
    "mathjax": ("3.2.2", ("es5/tex-chtml-full.js", "es5/output/chtml/fonts/woff-v2/", "LICENSE")),
    "reveal.js": ("5.2.1", ("dist/reveal.js", "dist/reveal.css", "dist/theme/white.css",
                            "dist/theme/fonts/source-sans-pro/", "plugin/notes/notes.js", "LICENSE")),
}
MATHJAX_SCRIPT = "mathjax/es5/tex-chtml-full.js"  # relative to a build's _static/
REVEAL_PREFIX = "reveal.js"  # relative to a build's _static/: the SlidesExporter's reveal_url_prefix

# MathJax 3 set up as JupyterLab sets it up, so that a page typesets what the notebook shows in JupyterLab.
MATHJAX_CONFIG = """<script>
window.MathJax = {
  tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']],
        processEscapes: true, processEnvironments: true},
  startup: {typeset: true}
};
</script>
"""


class AssetError(RuntimeError):
    """A web library could not be fetched or found; the message says what to do."""


def vendor_dir() -> Path:
    """The cache folder of the fetched libraries: ``$VAE_COURSE_VENDOR``, else ``~/.cache/vae_course/vendor``."""
    env = os.environ.get("VAE_COURSE_VENDOR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vae_course" / "vendor"


def _wanted(name: str, kept: tuple[str, ...]) -> str | None:
    """The path below ``package/`` of a tarball member that is kept, else None (and None for anything odd)."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or len(path.parts) < 2 or path.parts[0] != "package":
        return None
    rel = PurePosixPath(*path.parts[1:]).as_posix()
    return rel if any(rel == k or (k.endswith("/") and rel.startswith(k)) for k in kept) else None


def _unpack(tgz: Path, kept: tuple[str, ...], target: Path) -> int:
    """Write the kept regular files of an npm tarball below ``target``; return how many were written."""
    written = 0
    with tarfile.open(tgz, "r:gz") as tar:
        for member in tar:
            rel = _wanted(member.name, kept) if member.isfile() else None
            if rel is None:
                continue
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
            written += 1
    return written


def fetch(name: str) -> Path:
    """The folder holding the kept files of package ``name`` (a key of ``PACKAGES``), fetched with npm if needed."""
    version, kept = PACKAGES[name]
    target = vendor_dir() / f"{name}-{version}"
    if (target / ".complete").is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError(f"{name} {version} is not in {target} and npm is not installed to fetch it: install Node.js "
                         f"and npm (Debian: apt-get install -y nodejs npm), or see vae_course/teaching/web_assets.py for "
                         f"copying the files by hand")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}-") as tmp:
        try:
            done = subprocess.run([npm, "pack", f"{name}@{version}", "--pack-destination", tmp, "--silent"],
                                  capture_output=True, text=True, timeout=600, cwd=tmp)
        except subprocess.TimeoutExpired:
            raise AssetError(f"npm pack {name}@{version} did not finish within 10 minutes") from None
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise AssetError(f"npm pack {name}@{version} failed (exit {done.returncode}): {' / '.join(tail)}")
        staging = Path(tmp) / "files"
        count = _unpack(tarballs[0], kept, staging)
        missing = [k for k in kept if not (staging / k).exists()]
        if missing:
            raise AssetError(f"the npm package {name}@{version} lacks {', '.join(missing)} ({count} files kept)")
        (staging / ".complete").write_text(f"{name}@{version}\n", encoding="utf-8")
        if target.exists():  # a half-written folder from an interrupted run
            shutil.rmtree(target)
        staging.rename(target)
    return target


def install(static_dir: Path, names: tuple[str, ...] = ("mathjax",)) -> None:
    """Copy the kept files of each package in ``names`` into ``static_dir/<name>/``, fetching them if needed."""
    for name in names:
        source = fetch(name)
        dest = Path(static_dir) / name
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(source, dest, ignore=shutil.ignore_patterns(".complete"))


def mathjax_html(static_url: str) -> str:
    """The ``<head>`` snippet that loads the local MathJax from ``static_url`` (the ``_static`` folder's URL)."""
    return f'{MATHJAX_CONFIG}<script defer src="{static_url}/{MATHJAX_SCRIPT}"></script>\n'


def build_for_cli(out_dir, build):
    """Run ``build(out)`` for the ``site`` and ``slides`` commands: ``(result, 0)``, or ``(None, 1)`` after one
    ``error:`` line on stderr when ``out_dir`` is a file, the local assets can't be had, or the folder can't be
    written."""
    import sys

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        print(f"error: {out} is a file, not a folder", file=sys.stderr)
        return None, 1
    try:
        return build(out), 0
    except AssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except OSError as exc:
        print(f"error: could not write to {out} ({exc.strerror or type(exc).__name__}): choose a folder you can "
              f"write to", file=sys.stderr)
    return None, 1
