"""Pages with no kernel, in Debian's Chromium with the network blocked: what ``export_html`` and
``backprop-lens publish`` write (opened from disk), and what the stock routes write (``jupyter
nbconvert --execute --to html``; JupyterLab saving the widget state, then ``nbconvert --to
html``), whose pages fetch the widget manager and the widget modules from public CDNs: here those
requests are answered with the same files from the local npm packages and the installed widget
packages.

On each page, every Explorer is scrubbed: each method button, the target slider through the
precomputed targets and one past them, the layer slider. After each step the ``map-view`` pixels
must be those of the precomputed map of the chosen layer/target/method, decoded from the page's
own state, or, outside the grid, the view must say that the map needs a kernel; the controls that
need a kernel must be disabled. No request may leave the page: a self-contained page asks for
nothing but itself, a stock page nothing but the CDN files.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from browser.harness import (
    JS_IMAGE_PIXELS,
    GuardedPage,
    JupyterServer,
    NotebookPage,
    Pixels,
    poll_until,
    save_screenshot,
    write_notebook,
)
from playwright.sync_api import Locator, Page, Request, Route, expect
from test_export import GRID, is_explorer, page_maps, page_models, page_views
from test_widget_explorer import small_explorer

from backprop_lens import export_html
from backprop_lens.cli import main
from backprop_lens.widget.export import STATE_MIME, VIEW_MIME
from backprop_lens.widget.page_code import nbextension_source

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
NODE_MODULES = ROOT / "node_modules"
#: The view decides there is no kernel after 4 s without an answer; allow for a busy machine.
NO_KERNEL_TIMEOUT_MS = 20_000
MAP_TIMEOUT_S = 20.0

_JS_DATA_IMAGE = "src => { const img = new Image(); img.src = src; return img; }"
#: A notebook cell showing an Explorer with the grid of the exported page.
EXPLORER_CELL = f"from backprop_lens import Explorer\nw = Explorer(precompute={GRID!r})\nw"


# --- one Explorer of a page ------------------------------------------------------------------


@dataclass
class PageExplorer:
    """One Explorer as a page shows it, and its model as the page's state holds it."""

    page: Page
    view: Locator  # the output area of its view: the Explorer and its charts
    model: dict[str, Any]

    @property
    def state(self) -> dict[str, Any]:
        return dict(self.model["state"])

    def hook(self, test_id: str) -> Locator:
        return self.view.locator(f'[data-testid="{test_id}"]')

    def pixels(self) -> Pixels | None:
        found = self.hook("map-view").evaluate(JS_IMAGE_PIXELS)
        return None if found is None else Pixels(**found)

    def offered_layers(self) -> list[str]:
        """The layers a page offers: those it holds maps of (js/kernelless.ts ``offered``)."""
        return [entry["name"] for entry in self.state["layers"]
                if self.offered_targets(entry["name"])]

    def offered_targets(self, layer: str) -> list[int]:
        """The targets a page offers at ``layer``, best first: those it holds maps of."""
        held = {key.rsplit("/", 1)[0] for key in page_maps(self.model)}
        return [int(t) for t, _ in self.state["targets"][layer] if f"{layer}/{t}" in held]

    def shown_key(self) -> str:
        """The "layer/target/method" the controls select now."""
        method = self.hook("method-select").locator('button[aria-pressed="true"]')
        layer = self.offered_layers()[int(self.hook("layer-slider").input_value())]
        position = int(self.hook("target-slider").input_value())
        target = self.offered_targets(layer)[position]
        return f"{layer}/{target}/{method.get_attribute('data-method')}"

    def expected_pixels(self, key: str) -> Pixels:
        """The pixels of the page's own copy of a map, decoded by this browser."""
        mime, picture = page_maps(self.model)[key]
        src = f"data:{mime};base64,{base64.b64encode(picture).decode('ascii')}"
        found = self.page.evaluate_handle(_JS_DATA_IMAGE, src).evaluate(JS_IMAGE_PIXELS)
        assert found is not None, f"the page's map {key} does not decode"
        return Pixels(**found)

    def assert_shows_the_map(self, step: str) -> None:
        """The map of the controls' choice: its precomputed pixels, or a note that it needs a
        kernel."""
        key = self.shown_key()
        caption = self.view.locator('figure:has([data-testid="map-view"]) figcaption')
        if key not in page_maps(self.model):
            expect(caption, f"after {step}").to_contain_text("not precomputed")
            expect(self.hook("map-view")).to_have_class(re.compile("bl-pending"))
            expect(self.hook("map-view")).not_to_have_attribute("src", re.compile("."))
            return
        want = self.expected_pixels(key)
        poll_until(self.pixels, lambda now: now == want, timeout_s=MAP_TIMEOUT_S,
                   what=f"map-view to show {key} after {step}",
                   pause=lambda s: self.page.wait_for_timeout(s * 1000))
        expect(self.hook("map-view")).not_to_have_class(re.compile("bl-pending"))
        complete = all(f"{key.rsplit('/', 1)[0]}/{m}" in page_maps(self.model)
                       for m in self.state["methods"])
        if complete:
            expect(self.hook("compare-row").locator("img.bl-pending")).to_have_count(0)

    def press(self, test_id: str, key: str) -> None:
        self.hook(test_id).focus()
        self.page.keyboard.press(key)


def page_explorers(page: Page, html: str) -> list[PageExplorer]:
    """Every Explorer of the page, found through the view tags (an Explorer is shown as a box
    whose first child is the Explorer)."""
    models = page_models(html)
    found = []
    for index, model_id in enumerate(page_views(html)):
        children = models[model_id]["state"].get("children", [])
        first = models.get(children[0].removeprefix("IPY_MODEL_")) if children else None
        if first is not None and is_explorer(first):
            view = page.locator(f'script[type="{VIEW_MIME}"]').nth(index).locator("xpath=..")
            found.append(PageExplorer(page, view, first))
    return found


def scrub(explorer: PageExplorer) -> None:
    """Click and key through the Explorer's controls, checking the map after each step."""
    expect(explorer.hook("note")).to_contain_text("no kernel", timeout=NO_KERNEL_TIMEOUT_MS)
    expect(explorer.hook("status")).to_have_text("idle")  # saved once every map was there
    # What needs a kernel is disabled, and says why; the charts show their data.
    expect(explorer.hook("attack-button")).to_be_disabled()
    expect(explorer.hook("perturb-canvas")).to_have_class(re.compile("bl-disabled"))
    expect(explorer.hook("perturb-note")).to_contain_text("kernel")
    expect(explorer.view.locator(".bqplot rect.bar").first).to_be_visible()
    explorer.assert_shows_the_map("opening the page")
    methods = explorer.state["methods"]
    first = explorer.hook("method-select").locator('button[aria-pressed="true"]')
    start = first.get_attribute("data-method")
    for method in [m for m in methods if m != start] + [start]:
        explorer.hook("method-select").locator(f'button[data-method="{method}"]').click()
        explorer.assert_shows_the_map(f"clicking {method}")
    layer = explorer.shown_key().split("/")[0]
    # The sliders offer what the page holds, no more (issue 11, item 10).
    in_page = explorer.offered_targets(layer)
    expect(explorer.hook("target-slider")).to_have_attribute("max", str(len(in_page) - 1))
    expect(explorer.hook("layer-slider")).to_have_attribute(
        "max", str(len(explorer.offered_layers()) - 1))
    for step in range(len(in_page)):  # the last press stays on the last target
        explorer.press("target-slider", "ArrowRight")
        explorer.assert_shows_the_map(f"ArrowRight {step + 1} on the target slider")
    explorer.press("layer-slider", "ArrowRight")
    explorer.assert_shows_the_map("ArrowRight on the layer slider")


def open_from_disk(guarded: GuardedPage, path: Path) -> list[str]:
    """Open ``path`` as a user would (a file:// URL) and return the list the page's requests
    are recorded in. The harness's guard blocks (and records) every file:// request: only the
    page itself is let through."""
    url = path.resolve().as_uri()
    requests: list[str] = []
    guarded.page.on("request", lambda request: requests.append(request.url))
    guarded.page.route(url, lambda route: route.continue_())
    guarded.page.goto(url)
    return requests


def check_page(guarded: GuardedPage, path: Path, shot: str) -> None:
    """Open a self-contained page from disk and scrub every Explorer in it."""
    requests = open_from_disk(guarded, path)
    explorers = page_explorers(guarded.page, path.read_text("utf-8"))
    assert explorers, f"{path.name} shows no Explorer"
    for explorer in explorers:
        scrub(explorer)
    save_screenshot(guarded.page, shot, selector=".jupyter-widgets")
    assert guarded.blocked == [], f"requests tried to leave the page: {guarded.blocked}"
    others = [url for url in requests if urlsplit(url).scheme not in ("data", "blob")]
    assert others == [path.resolve().as_uri()], f"the page fetched more than itself: {others}"


# --- export_html and publish -----------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    explorer = small_explorer(precompute=GRID)
    return export_html(explorer, tmp_path_factory.mktemp("export") / "explorer.html").path


@pytest.fixture(scope="module", params=["quickstart", "paper"])
def published(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site") / f"{request.param}.html"
    assert main(["publish", str(NOTEBOOKS / f"{request.param}.ipynb"), "--out", str(out)]) == 0
    return out


def test_an_exported_page_scrubs_from_disk(page: GuardedPage, exported: Path) -> None:
    check_page(page, exported, "published-export")


def test_published_notebooks_scrub_from_disk(page: GuardedPage, published: Path) -> None:
    check_page(page, published, f"published-{published.stem}")


# --- the stock route: nbconvert's page, its CDN files served from this machine ---------------

#: ``<host>/<package>@<version range>/<file>`` (jsDelivr adds ``/npm``).
_CDN_FILE = re.compile(r"^/(?:npm/)?((?:@[^/]+/)?[^/@]+)@[^/]+/(.+)$")
CDN_HOSTS = re.compile(r"^https://(unpkg\.com|cdn\.jsdelivr\.net|cdnjs\.cloudflare\.com)/")


def cdn_file(url: str) -> bytes | None:
    """What the CDN would answer, from local copies: require.js and npm packages from
    node_modules; a widget module that is not an npm dependency (bqplot, bqscales) from the AMD
    build its Python package installed, which is the build it publishes to npm."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    if parts.hostname == "cdnjs.cloudflare.com" and path.endswith("/require.min.js"):
        return (NODE_MODULES / "requirejs" / "require.js").read_bytes()
    found = _CDN_FILE.match(path)
    if not found:
        return None
    package, file = found.groups()
    local = NODE_MODULES / package / file
    if local.is_file():
        return local.read_bytes()
    return nbextension_source(package).encode() if file == "dist/index.js" else None


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """An HTTP server for ``folder`` on 127.0.0.1, as a web host would serve the page; its URL."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No log: require.js first looks for each module next to the page (404 here)."""


def check_stock_page(guarded: GuardedPage, path: Path, shot: str) -> None:
    """Serve the stock page from this machine, answer its CDN requests with local files, and
    scrub its Explorer."""
    served: list[str] = []

    def cdn(route: Route, request: Request) -> None:
        body = cdn_file(request.url)
        if body is None:
            route.fallback()  # the guard blocks and records it
            return
        served.append(request.url)
        route.fulfill(body=body, content_type="application/javascript")

    guarded.page.route(CDN_HOSTS, cdn)
    with serve_folder(path.parent) as base:
        guarded.page.goto(f"{base}/{path.name}")
        explorers = page_explorers(guarded.page, path.read_text("utf-8"))
        assert len(explorers) == 1
        scrub(explorers[0])
        save_screenshot(guarded.page, shot, selector=".jupyter-widgets")
    assert guarded.blocked == [], f"requests tried to leave the machine: {guarded.blocked}"
    assert any("html-manager" in url for url in served)
    assert any("/anywidget@" in url for url in served)


def nbconvert_to_html(notebook: Path, *options: str) -> Path:
    """``jupyter nbconvert --to html`` with MathJax off: the stock template's only other CDN
    file, which these notebooks do not need."""
    subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", *options,
                    "--HTMLExporter.mathjax_url=", str(notebook)],
                   check=True, capture_output=True, timeout=300)
    return notebook.with_suffix(".html")


@pytest.fixture(scope="module")
def nbconverted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``jupyter nbconvert --execute --to html`` of an Explorer with a grid."""
    notebook = tmp_path_factory.mktemp("nbconvert") / "explorer.ipynb"
    write_notebook(notebook, [EXPLORER_CELL, "w.wait(300)"])
    return nbconvert_to_html(notebook, "--execute")


def test_an_executed_nbconvert_page_scrubs_with_cdn_files_from_this_machine(
    page: GuardedPage, nbconverted: Path,
) -> None:
    check_stock_page(page, nbconverted, "published-nbconvert-execute")


#: JupyterLab's "Save Jupyter widget state in notebooks" (Settings → Jupyter Widgets).
SAVE_STATE_SETTINGS = (Path("lab") / "user-settings" / "@jupyter-widgets" / "jupyterlab-manager"
                       / "plugin.jupyterlab-settings")
_JS_SAVE = "async () => { await window.jupyterapp.commands.execute('docmanager:save'); }"


@pytest.mark.parametrize("jupyter_server", ["lab"], indirect=True)
def test_a_notebook_saved_with_its_widget_state_in_jupyterlab_scrubs_after_nbconvert(
    jupyter_server: JupyterServer, notebook_factory: Callable[[str, list[str]], NotebookPage],
    page: GuardedPage, tmp_path: Path,
) -> None:
    settings = jupyter_server.root.parent / "config" / SAVE_STATE_SETTINGS
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"saveState": True}), encoding="utf-8")
    try:
        notebook = notebook_factory("saved-state.ipynb", [EXPLORER_CELL])
        notebook.run_all_cells()
        assert notebook.python_value("w.wait(300)") is True
        grid = set(notebook.python_value("sorted(w.grid)"))

        def save_and_read() -> set[str]:
            """Save; the grid maps in the saved state (the last maps reach the page a moment
            after the kernel's worker is done)."""
            page.page.evaluate(_JS_SAVE)
            saved = json.loads((jupyter_server.root / notebook.path).read_text("utf-8"))
            state = saved["metadata"].get("widgets", {}).get(STATE_MIME, {}).get("state", {})
            return {key for model in state.values() if is_explorer(model)
                    for key in page_maps(model)}

        poll_until(save_and_read, lambda saved: grid <= saved, timeout_s=60,
                   what="the saved widget state to hold the whole grid", pause=notebook.pause)
    finally:
        settings.unlink()
    copy = tmp_path / "saved-state.ipynb"
    copy.write_bytes((jupyter_server.root / notebook.path).read_bytes())
    check_stock_page(page, nbconvert_to_html(copy), "published-lab-saved-state")
