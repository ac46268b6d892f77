"""Drive a real JupyterLab / Notebook 7 server through Debian's Chromium.

The pieces, each usable on its own:

- ``JupyterServer.start``: one server process (``jupyter lab`` or ``jupyter notebook``) on a free
  127.0.0.1 port, in a throw-away root folder, with its own config and runtime folders, a known
  token, and every option that makes JupyterLab reach for the network switched off.
- ``launch_chromium`` and ``guarded_page``: a headless Chromium and a page whose requests are
  aborted (and recorded) unless they go to this machine.
- ``NotebookPage``: one notebook opened in that page, driven through the application's own command
  registry (``window.jupyterapp``, exposed by ``expose_app_in_browser``). That registry is the same
  machinery in JupyterLab and Notebook 7, so one code path runs cells in both, and it is what the
  menus and keyboard shortcuts call, not a private shortcut around them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlsplit

import nbformat
import pytest
from playwright.sync_api import Browser, Page, Playwright, Request, Route, WebSocket

ServerKind = Literal["lab", "notebook7"]
SERVER_KINDS: tuple[ServerKind, ...] = ("lab", "notebook7")

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

#: Generous, because the machine is small and shared: a cold server, a kernel importing torch.
SERVER_START_TIMEOUT_S = 120.0
PAGE_TIMEOUT_S = 120.0
KERNEL_TIMEOUT_S = 120.0

#: The marks of every browser test module: slow, and each test given ten minutes.
BROWSER_MARKS = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

T = TypeVar("T")


# --- waiting --------------------------------------------------------------------------------


def poll_until(
    read: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout_s: float,
    what: str,
    pause: Callable[[float], None] = time.sleep,
    interval_s: float = 0.2,
) -> T:
    """Call ``read`` until ``done`` accepts its value; fail naming ``what`` and the last value.

    With a Playwright page, pass ``pause=lambda s: page.wait_for_timeout(s * 1000)``: the sync API
    only dispatches events (our request guard among them) while it waits itself, which a plain
    ``time.sleep`` would block.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; "
                                 f"last value: {value!r}")
        pause(interval_s)


# --- the server -----------------------------------------------------------------------------


def free_port() -> int:
    """A port nothing listens on now. The server runs with ``port_retries=0``, so should another
    process take it in between, the server exits and ``start`` reports it, instead of the tests
    silently talking to a different port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(kind: ServerKind, port: int, root: Path, token: str) -> list[str]:
    """The command line of one server. ``python -m`` of this interpreter guarantees the venv's
    Jupyter (and so the venv's kernel: jupyter_client starts ``python`` kernels with the server's
    own interpreter)."""
    module = "jupyterlab" if kind == "lab" else "notebook"
    return [
        sys.executable, "-m", module,
        "--no-browser",
        "--ServerApp.open_browser=False",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
        # CI containers run as root; the server refuses to start as root without this.
        "--allow-root",
        "--ServerApp.terminals_enabled=False",
        # No network from the server: no news feed, no update check, no PyPI extension listing.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        # window.jupyterapp: the command registry the tests drive.
        "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",
    ]


def write_user_settings(config_dir: Path) -> None:
    """Front-end settings of the isolated user: never ask about (or fetch) the Jupyter news, whose
    toast would otherwise cover the bottom right of every screenshot."""
    folder = config_dir / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8")


@dataclass
class JupyterServer:
    """A running server, its URL, token and root folder; ``stop`` ends it and its kernels."""

    kind: ServerKind
    port: int
    token: str
    root: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    started_in_s: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, kind: ServerKind, workdir: Path) -> JupyterServer:
        """Start a server in ``workdir`` and wait until ``/api/status`` answers.

        Only the user config and runtime folders (and IPython's) are isolated: the data path still
        includes ``<venv>/share/jupyter``, where the labextensions of ipywidgets, anywidget and
        bqplot live, and the kernel spec.
        """
        root = workdir / "root"
        for sub in ("root", "config", "runtime", "ipython"):
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        write_user_settings(workdir / "config")
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=str(workdir / "config"),
            JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
            IPYTHONDIR=str(workdir / "ipython"),
            JUPYTER_PLATFORM_DIRS="1",
            PYTHONUNBUFFERED="1",
        )
        port = free_port()
        token = secrets.token_hex(16)
        log_path = workdir / "server.log"
        began = time.monotonic()
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                server_command(kind, port, root, token),
                cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                # Its own process group: ``stop`` can then end kernels the server left behind.
                start_new_session=True,
            )
        server = cls(kind, port, token, root, log_path, process)
        try:
            poll_until(server._status_or_exit, lambda ok: ok, timeout_s=SERVER_START_TIMEOUT_S,
                       what=f"the {kind} server to answer /api/status", interval_s=0.25)
        except BaseException:
            server.stop()
            raise
        server.started_in_s = time.monotonic() - began
        return server

    def _status_or_exit(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"the {self.kind} server exited with {self.process.returncode}:\n"
                               + self.log_tail())
        try:
            self.api("GET", "/api/status", timeout_s=5)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False
        return True

    def api(self, method: str, path: str, *, timeout_s: float = 30) -> Any:
        """One REST call with the token; the decoded JSON answer (None when empty)."""
        request = urllib.request.Request(
            self.base_url + path, method=method,
            headers={"Authorization": f"token {self.token}"},
            data=b"" if method in ("POST", "PUT", "PATCH") else None,
        )
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read()
        return json.loads(body) if body else None

    def notebook_url(self, path: str) -> str:
        """The page of one notebook. In JupyterLab, in a workspace of its own: the default one
        would reopen every notebook an earlier test left open, and start their kernels."""
        quoted = quote(path)
        if self.kind == "lab":
            workspace = f"t{uuid.uuid4().hex[:12]}"
            return f"{self.base_url}/lab/workspaces/{workspace}/tree/{quoted}?token={self.token}"
        return f"{self.base_url}/notebooks/{quoted}?token={self.token}"

    def shutdown_sessions(self, path: str) -> None:
        """End the kernel of every session on ``path``: a page closing does not, and a kernel with
        torch loaded holds hundreds of MB."""
        with suppress(urllib.error.URLError, ConnectionError, TimeoutError):
            for session in self.api("GET", "/api/sessions"):
                if session.get("path") == path:
                    self.api("DELETE", f"/api/sessions/{session['id']}")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Ask the server to shut down (which shuts its kernels down), then make sure: SIGTERM,
        then SIGKILL, to the whole process group."""
        if self.process.poll() is None:
            with suppress(urllib.error.URLError, ConnectionError, TimeoutError):
                self.api("POST", "/api/shutdown", timeout_s=10)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)


# --- the browser ----------------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Belt and braces under the request guard: no name but localhost resolves at all.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless. Playwright never downloads a browser of its own here."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
    )


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.hostname in LOCAL_HOSTS


@dataclass
class GuardedPage:
    """A page whose requests may only reach this machine; ``blocked`` lists every one that tried
    to go elsewhere (aborted), WebSockets included (recorded: routes cannot abort those)."""

    page: Page
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@contextmanager
def guarded_page(browser: Browser) -> Iterator[GuardedPage]:
    """A fresh context (its own cookies and storage) with one page and the request guard."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 1000}, service_workers="block",
    )
    context.set_default_timeout(PAGE_TIMEOUT_S * 1000)
    page = context.new_page()
    guarded = GuardedPage(page)

    def guard(route: Route, request: Request) -> None:
        if is_local(request.url):
            route.fallback()
        else:
            guarded.blocked.append(request.url)
            route.abort("blockedbyclient")

    def watch_socket(socket_: WebSocket) -> None:
        if not is_local(socket_.url):
            guarded.blocked.append(socket_.url)

    context.route("**/*", guard)
    page.on("websocket", watch_socket)
    page.on("console", lambda m: m.type == "error" and guarded.console_errors.append(m.text))
    try:
        yield guarded
    finally:
        context.close()


def save_screenshot(page: Page, name: str, *, selector: str | None = None) -> Path:
    """``artifacts/<name>.png``, of the page or of one element; names are stable so that a run
    overwrites the previous one's pictures."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name).strip('-')}.png"
    target = page.locator(selector).first if selector else page
    target.screenshot(path=str(path))
    return path


#: Each phase's report of a test (set by the hook in conftest.py), and whether its failure
#: screenshot is taken: a fixture can then tell whether its test failed.
PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
FAILURE_SHOT_TAKEN = pytest.StashKey[bool]()


def screenshot_if_failed(request: pytest.FixtureRequest, guarded: GuardedPage) -> None:
    """``artifacts/FAILED-<test name>.png``: what the page showed when the test failed (once per
    test, however many fixtures ask), and the page's console errors on stdout."""
    node = request.node
    reports = node.stash.get(PHASE_REPORTS, {})
    if not any(report.failed for report in reports.values()) or node.stash.get(
        FAILURE_SHOT_TAKEN, False
    ):
        return
    node.stash[FAILURE_SHOT_TAKEN] = True
    print(f"console errors of the page: {guarded.console_errors}")
    try:
        path = save_screenshot(guarded.page, f"FAILED-{node.name}")
    except Exception as exc:  # the page may be what broke
        print(f"no failure screenshot: {exc}")
    else:
        print(f"failure screenshot: {path}")


# --- notebooks ------------------------------------------------------------------------------


def write_notebook(path: Path, cells: list[str]) -> None:
    """A notebook of code cells, with the kernel named in its metadata so that no front end asks
    which kernel to start."""
    notebook = nbformat.v4.new_notebook(metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                       "language": "python"},
        "language_info": {"name": "python"},
    })
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))


# JavaScript run in the page. Each function receives the notebook's path first and finds its
# panel among the main-area widgets: in JupyterLab another tab may be the current one.
_FIND_PANEL = """
const findPanel = (path) => {
  const app = window.jupyterapp;
  if (!app) return null;
  for (const widget of app.shell.widgets('main')) {
    if (widget.context && widget.context.path === path) return widget;
  }
  return null;
};
"""

_JS_KERNEL_READY = "(path) => {" + _FIND_PANEL + """
  const panel = findPanel(path);
  const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""

_JS_RUN_COMMAND = "async ([path, command]) => {" + _FIND_PANEL + """
  const app = window.jupyterapp;
  const panel = findPanel(path);
  app.shell.activateById(panel.id);
  // Notebook commands act on the current notebook, and resolve once its cells have run.
  await app.commands.execute(command);
  const errors = [];
  for (const cell of panel.content.widgets) {
    if (cell.model.type !== 'code') continue;
    for (const output of cell.model.outputs.toJSON()) {
      if (output.output_type === 'error') errors.push(output.ename + ': ' + output.evalue);
    }
  }
  return errors;
}"""

_JS_RUN_NEW_CELL = "async ([path, code]) => {" + _FIND_PANEL + """
  const app = window.jupyterapp;
  const panel = findPanel(path);
  const notebook = panel.content;
  const index = notebook.model.cells.length;
  notebook.model.sharedModel.insertCell(index, {cell_type: 'code', source: code});
  app.shell.activateById(panel.id);
  notebook.activeCellIndex = index;
  notebook.deselectAll();
  await app.commands.execute('notebook:run-cell');
  return notebook.widgets[index].model.outputs.toJSON();
}"""

_JS_KERNEL_EXECUTE = "async ([path, code]) => {" + _FIND_PANEL + """
  const kernel = findPanel(path).sessionContext.session.kernel;
  const future = kernel.requestExecute(
    {code, silent: false, store_history: false, stop_on_error: true});
  let stdout = '';
  let error = null;
  future.onIOPub = (msg) => {
    const type = msg.header.msg_type;
    if (type === 'stream' && msg.content.name === 'stdout') stdout += msg.content.text;
    else if (type === 'error') error = msg.content.ename + ': ' + msg.content.evalue;
  };
  await future.done;
  return {stdout, error};
}"""


def _joined(text: str | list[str]) -> str:
    """nbformat holds multiline text as a string or a list of lines."""
    return text if isinstance(text, str) else "".join(text)


@dataclass
class NotebookPage:
    """One notebook open in a page, with its kernel started and idle."""

    server: JupyterServer
    guarded: GuardedPage
    path: str

    @property
    def page(self) -> Page:
        return self.guarded.page

    @classmethod
    def open(cls, server: JupyterServer, guarded: GuardedPage, path: str) -> NotebookPage:
        """Load the notebook's page and wait for the application, the panel and an idle kernel."""
        notebook = cls(server, guarded, path)
        page = guarded.page
        page.goto(server.notebook_url(path), wait_until="domcontentloaded")
        page.wait_for_function("() => window.jupyterapp !== undefined",
                               timeout=PAGE_TIMEOUT_S * 1000)
        page.evaluate("() => window.jupyterapp.restored")
        notebook.wait_for_kernel_idle()
        return notebook

    def pause(self, seconds: float) -> None:
        self.page.wait_for_timeout(seconds * 1000)

    def wait_for_kernel_idle(self, timeout_s: float = KERNEL_TIMEOUT_S) -> None:
        self.page.wait_for_function(_JS_KERNEL_READY, arg=self.path, timeout=timeout_s * 1000,
                                    polling=200)

    def run_all_cells(self) -> None:
        """Run → Run All Cells, through the command the menu item calls; fail on any cell error."""
        errors = self.page.evaluate(_JS_RUN_COMMAND, [self.path, "notebook:run-all-cells"])
        assert not errors, f"cells of {self.path} raised: {errors}"

    def new_cell_outputs(self, code: str) -> list[dict[str, Any]]:
        """Append a code cell, run it as a user would (``notebook:run-cell``), return its outputs
        as nbformat dicts, errors included."""
        outputs: list[dict[str, Any]] = self.page.evaluate(_JS_RUN_NEW_CELL, [self.path, code])
        return outputs

    def run_in_new_cell(self, code: str) -> str:
        """Run ``code`` in a new cell (:meth:`new_cell_outputs`), return its text output (stdout
        and the text/plain of results); fail if it raised."""
        text: list[str] = []
        errors: list[str] = []
        for output in self.new_cell_outputs(code):
            if output["output_type"] == "stream":
                text.append(_joined(output["text"]))
            elif output["output_type"] == "error":
                errors.append(f"{output['ename']}: {output['evalue']}")
            elif "text/plain" in output.get("data", {}):
                text.append(_joined(output["data"]["text/plain"]))
        assert not errors, f"new cell {code!r} raised: {errors}"
        return "".join(text)

    def execute(self, code: str) -> str:
        """Run code on the notebook's kernel without adding a cell; its stdout. Uses the page's
        own kernel connection, so it queues behind the widget messages the page sent before."""
        result = self.page.evaluate(_JS_KERNEL_EXECUTE, [self.path, code])
        assert result["error"] is None, f"kernel code {code!r} raised: {result['error']}"
        return str(result["stdout"])

    def python_value(self, expression: str) -> Any:
        """The JSON value of a Python expression in the notebook's namespace."""
        out = self.execute(f"import json as _bl_json\nprint(_bl_json.dumps({expression}))")
        return json.loads(out.strip().splitlines()[-1])

    def wait_for_python_value(
        self, expression: str, done: Callable[[Any], bool], *, what: str,
        timeout_s: float = KERNEL_TIMEOUT_S,
    ) -> Any:
        """Poll ``expression`` until ``done`` accepts it. Polling, because a front end sends
        widget updates one at a time (ipywidgets holds the next until the kernel answers), so the
        kernel may lag the page by a message or two."""
        return poll_until(lambda: self.python_value(expression), done, timeout_s=timeout_s,
                          what=what, pause=self.pause)


@contextmanager
def open_notebook(
    server: JupyterServer, guarded: GuardedPage, name: str, cells: list[str],
) -> Iterator[NotebookPage]:
    """Write ``name`` into the server's root, open it, and end its kernel afterwards."""
    write_notebook(server.root / name, cells)
    try:
        yield NotebookPage.open(server, guarded, name)
    finally:
        server.shutdown_sessions(name)


# Draws the <img> into a canvas and hashes its RGBA bytes (FNV-1a): a change of the pixels
# themselves, whatever the src (object URLs differ even for equal maps).
JS_IMAGE_PIXELS = """async (img) => {
  if (!img.getAttribute('src')) return null;
  try { await img.decode(); } catch (error) { return null; }
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  if (!canvas.width || !canvas.height) return null;
  const context = canvas.getContext('2d', {willReadFrequently: true});
  context.drawImage(img, 0, 0);
  const bytes = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let hash = 0x811c9dc5;
  const colours = new Set();
  for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i], 0x01000193) >>> 0;
  for (let i = 0; i < bytes.length; i += 4) {
    colours.add(bytes.slice(i, i + 4).join(','));
  }
  const {width, height} = canvas;
  return {width, height, hash: hash.toString(16), colours: colours.size};
}"""


@dataclass(frozen=True)
class Pixels:
    width: int
    height: int
    hash: str
    colours: int
