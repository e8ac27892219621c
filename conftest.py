"""Repository-wide pytest settings, loaded for `pytest`, `pytest tests` and `pytest notebooks/NN.ipynb` alike:
quick mode by default, the offline MNIST copy when it sits beside the checkout, and a hint when a notebook that git
shows as modified fails under nbval. The fixtures live in tests/conftest.py."""
import os
import subprocess
from pathlib import Path

# Plain `pytest` is the quick check (about 2 minutes on 2 cores); `VAE_COURSE_QUICK=0 pytest` is the full one.
# Set at import time, before nbval starts any kernel: the kernels inherit this environment.
os.environ.setdefault("VAE_COURSE_QUICK", "1")

# pytest-xdist (`-n auto` in pyproject.toml) runs one worker per core. Each worker, and every kernel it starts,
# gets one torch thread: two workers with two threads each on 2 cores spin against each other and took 6.5
# minutes instead of 2. Serial runs (`pytest -n0`) keep torch's default.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

_SHARED = Path(__file__).resolve().parent.parent / "shared" / "data"
if "VAE_COURSE_DATA" not in os.environ and (_SHARED / "MNIST" / "raw").is_dir():
    os.environ["VAE_COURSE_DATA"] = str(_SHARED)


def modified_notebook_hints(repo: Path, failed_nodeids) -> list[str]:
    """One line per failed notebook that ``git status --porcelain`` shows as modified, naming the likely cause."""
    books = sorted({nodeid.split("::")[0] for nodeid in failed_nodeids if nodeid.split("::")[0].endswith(".ipynb")})
    if not books:
        return []
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--", *books], cwd=repo, capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    modified = {line[3:].strip().strip('"') for line in out.stdout.splitlines() if len(line) > 3}
    return [f"{book} has local changes (git status shows it modified): the likely cause is outputs that JupyterLab "
            f"autosaved, so run `git checkout notebooks/` to get the pristine notebooks back (this discards your "
            f"edits to them)." for book in books if book in modified]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    failed = [report.nodeid for report in terminalreporter.stats.get("failed", [])]
    hints = modified_notebook_hints(config.rootpath, failed)
    if hints:
        terminalreporter.section("why these notebooks may fail")
        for line in hints:
            terminalreporter.write_line(line, yellow=True)
