"""Fixtures for the browser tests: a throw-away JupyterLab server and a headless Chromium driven by Playwright.

The server runs on 127.0.0.1 (a free port, no token, no password) with its own config, data, runtime, settings and
workspace folders in a temp dir, so nothing from the user's ~/.jupyter leaks in and nothing is written back. Its root
is a temp COPY of the repo's ``notebooks/`` folder: running all cells never touches the repo's notebooks. The kernel
gets ``VAE_COURSE_QUICK=1``, the caller's ``VAE_COURSE_DATA`` and a temp ``VAE_COURSE_CHECKPOINTS``.

The decks' and the site's tests open their pages through ``offline_tab`` (every request that would leave the
machine is blocked and counted) and save screenshots under ``screenshots`` (``$VAE_COURSE_SCREENSHOTS`` or
tests/browser/screenshots/, not in git).

Without Playwright (``pip install playwright``) or a Chromium binary (``apt-get install -y chromium``; or set
``VAE_COURSE_CHROMIUM`` to a Chrome/Chromium executable) every browser test is skipped with that reason.
"""
from __future__ import annotations

import functools
import http.cookiejar
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-default-apps", "--disable-extensions", "--mute-audio"]

# User settings written into JUPYTERLAB_SETTINGS_DIR: no news or update checks (no requests leave the machine), no
# toasts over the notebook, every cell attached to the DOM (the explorer may sit below the fold).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
}


def chromium_executable() -> str | None:
    """``$VAE_COURSE_CHROMIUM``, Debian's /usr/bin/chromium, or the first chromium/chrome on PATH."""
    env = os.environ.get("VAE_COURSE_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None  # a wrong explicit choice is not silently replaced
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium (Playwright); skips the test when Playwright or Chromium is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser test skipped: the Python package `playwright` is not installed (pip install playwright)")
    exe = chromium_executable()
    if exe is None and os.environ.get("VAE_COURSE_CHROMIUM"):
        pytest.skip(f"browser test skipped: VAE_COURSE_CHROMIUM={os.environ['VAE_COURSE_CHROMIUM']} is not a file")
    if exe is None:
        pytest.skip("browser test skipped: no Chromium found at /usr/bin/chromium or on PATH "
                    "(apt-get install -y chromium, or set VAE_COURSE_CHROMIUM)")
    with sync_playwright() as pw:
        try:
            chromium = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        except Exception as exc:  # noqa: BLE001 - a broken browser install is a failure, not a skip
            pytest.fail(f"Chromium at {exe} did not start under Playwright: {exc}")
        yield chromium
        chromium.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """A running JupyterLab: ``url``, ``root`` (the temp notebook folder it serves) and a small REST client."""

    def __init__(self, proc: subprocess.Popen, url: str, root: Path, log: Path):
        self.proc, self.url, self.root, self.log = proc, url, root, log

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def api(self, path: str, method: str = "GET"):
        req = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_sessions(self) -> None:
        """Close every notebook session (and its kernel), so the next test gets the CPU to itself."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(self.url + "/lab", timeout=30).read()  # sets the _xsrf cookie that non-GET requests must echo
        xsrf = next((c.value for c in jar if c.name == "_xsrf"), "")
        for session in self.api("/api/sessions"):
            req = urllib.request.Request(f"{self.url}/api/sessions/{session['id']}", method="DELETE",
                                         headers={"X-XSRFToken": xsrf})
            opener.open(req, timeout=30).read()

    def kernel_state(self, notebook_name: str) -> str | None:
        """The execution state ('starting', 'idle', 'busy', ...) of the kernel attached to ``notebook_name``."""
        for session in self.api("/api/sessions"):
            if Path(session.get("path", "")).name == notebook_name and session.get("kernel"):
                return self.api(f"/api/kernels/{session['kernel']['id']}").get("execution_state")
        return None


class LabStartError(RuntimeError):
    """JupyterLab did not start (the message holds the tail of its log)."""


def start_lab_server(base: Path) -> LabServer:
    """Start JupyterLab serving a copy of notebooks/ in ``base/notebooks``, with every Jupyter folder under ``base``.

    Used by the ``lab_server`` fixture and by ``benchmarks/bench_browser_latency.py``; stop it with
    :func:`stop_lab_server`. Raises :class:`LabStartError` when it does not answer.
    """
    root = base / "notebooks"
    shutil.copytree(REPO / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    dirs = {name: base / name for name in ("config", "data", "runtime", "settings", "workspaces", "ipython",
                                           "checkpoints")}
    for d in dirs.values():
        d.mkdir()
    for rel, values in LAB_SETTINGS.items():
        target = dirs["settings"] / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values), encoding="utf-8")

    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        # The user data dir only; lab extensions such as the ipywidgets manager (jupyterlab_widgets) are still
        # found under sys.prefix/share/jupyter, and the python3 kernel is this environment's own.
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
        JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
        IPYTHONDIR=str(dirs["ipython"]),
        VAE_COURSE_QUICK="1",
        VAE_COURSE_CHECKPOINTS=str(dirs["checkpoints"]),
        PYTHONHASHSEED="0",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    env.pop("JUPYTER_PATH", None)
    env.pop("JUPYTER_CONFIG_PATH", None)
    if "VAE_COURSE_DATA" not in env:  # tests/conftest.py sets it when ../shared/data exists
        raise LabStartError("VAE_COURSE_DATA is not set: the browser test needs MNIST for the notebooks it runs.")

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = base / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", "--ServerApp.open_browser=False", "--IdentityProvider.token=",
           "--ServerApp.password=", f"--ServerApp.root_dir={root}", "--ServerApp.terminals_enabled=False",
           "--ServerApp.allow_root=True", "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
           "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    server = LabServer(proc, url, root, log)
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            raise LabStartError(f"JupyterLab exited with status {proc.returncode} before serving; log tail:\n"
                                f"{server.log_tail()}")
        try:
            server.api("/api/status")
            return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            _stop(proc)
            raise LabStartError(f"JupyterLab did not answer on {url} within 90 s; log tail:\n{server.log_tail()}")
        time.sleep(0.5)


def stop_lab_server(server: LabServer) -> None:
    _stop(server.proc)


@pytest.fixture(scope="module")
def lab_server(browser, tmp_path_factory):
    """Start JupyterLab serving a temp copy of notebooks/ and stop it (and its kernels) after the module."""
    try:
        server = start_lab_server(tmp_path_factory.mktemp("jupyterlab"))
    except LabStartError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        stop_lab_server(server)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server we started (it shuts its kernels down); SIGKILL its process group if it hangs."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture
def lab_page(browser, lab_server):
    """A fresh browser page (1400x1000); closed after the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    context.close()
    try:
        lab_server.shutdown_sessions()
    except (urllib.error.URLError, OSError) as exc:
        print(f"could not shut the notebook kernels down: {exc}")


@pytest.fixture
def announce(request):
    """Print a line that shows even while pytest captures output (e.g. where the screenshot went)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def say(line: str) -> None:
        if reporter is None or capture is None:
            print(line)
            return
        with capture.global_and_fixture_disabled():
            reporter.ensure_newline()
            reporter.write_line(line)

    return say


class OfflineTab:
    """A browser context (``context``, ``page``) in which every request whose URL does not start with ``file://``,
    ``data:``, ``blob:`` or one of ``allow`` is aborted and recorded in ``blocked``; failed requests (and, with
    ``http_errors``, HTTP statuses of 400 and more) go to ``failed``, JavaScript errors to ``errors``."""

    def __init__(self, browser, width: int, height: int, allow: tuple[str, ...] = (), http_errors: bool = False):
        self.allow = ("file://", "data:", "blob:", *allow)
        self.blocked, self.failed, self.errors = [], [], []
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        if http_errors:
            self.page.on("response", lambda r: self.failed.append(f"{r.url} (HTTP {r.status})") if r.status >= 400
                         else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.allow):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def assert_clean(self) -> None:
        assert not self.blocked, f"{len(self.blocked)} requests left the machine: {self.blocked[:5]}"
        assert not [f for f in self.failed if f not in self.blocked], f"failed requests: {self.failed[:5]}"
        assert not self.errors, f"JavaScript errors: {self.errors[:3]}"


@pytest.fixture
def offline_tab(browser):
    """``offline_tab(width, height, allow=(), http_errors=False)`` opens an :class:`OfflineTab`; the test closes its
    ``context``."""
    return functools.partial(OfflineTab, browser)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """The folder for the browser tests' screenshots: ``$VAE_COURSE_SCREENSHOTS`` or tests/browser/screenshots/."""
    folder = Path(os.environ.get("VAE_COURSE_SCREENSHOTS") or SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def web_assets_fetched():
    """The decks' and the site's web assets (MathJax, reveal.js, ...), fetched once; without them the test is skipped
    with the reason."""
    from vae_course.teaching import web_assets

    try:
        for name in web_assets.PACKAGES:
            web_assets.fetch(name)
    except web_assets.AssetError as exc:
        pytest.skip(f"browser test skipped: {exc}")
