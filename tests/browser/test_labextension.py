"""The JupyterLab extension in a real browser (design.md §5): the launcher card, the palette
command, "Open in Backprop Lens" on a picture, the settings, and Notebook 7's tree view. Each
way in must end in a notebook that was written, opened on a Python kernel and run, with an
Explorer showing a map.

Each test works in a folder of its own in the server's root, so that its "Untitled.ipynb" is
its own whatever the other tests left.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from browser import harness
from browser.harness import GuardedPage, JupyterServer, NotebookPage, Pixels
from PIL import Image
from playwright.sync_api import Locator, Page, expect

from backprop_lens import data

pytestmark = harness.BROWSER_MARKS

PLUGIN = "backprop-lens:plugin"
#: A new kernel imports torch and computes the first maps: be patient.
RUN_TIMEOUT_S = 240.0
CARD = '.jp-LauncherCard:has-text("Backprop Lens")'

# The notebooks open in the main area whose path starts with a folder.
_JS_NOTEBOOKS_IN = """(folder) => {
  const app = window.jupyterapp;
  const paths = [];
  for (const widget of app.shell.widgets('main')) {
    const path = widget.context && widget.context.path;
    if (path && path.endsWith('.ipynb') && path.startsWith(folder + '/')) paths.push(path);
  }
  return paths;
}"""

# One notebook's code cells as the page holds them: source, execution count, errors.
_JS_CODE_CELLS = """(path) => {
  for (const widget of window.jupyterapp.shell.widgets('main')) {
    if (!widget.context || widget.context.path !== path) continue;
    return widget.content.widgets.filter(cell => cell.model.type === 'code').map(cell => ({
      source: cell.model.sharedModel.getSource(),
      count: cell.model.executionCount,
      errors: cell.model.outputs.toJSON().filter(o => o.output_type === 'error')
        .map(o => o.ename + ': ' + o.evalue),
    }));
  }
  return null;
}"""

# The RGBA bytes of an <img>, base64: compared with the picture file the Explorer was given.
_JS_RGBA = """async (img) => {
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const context = canvas.getContext('2d', {willReadFrequently: true});
  context.drawImage(img, 0, 0);
  const bytes = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let text = '';
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
  return {width: canvas.width, height: canvas.height, rgba: btoa(text)};
}"""


def only(server: JupyterServer, kind: str) -> None:
    if server.kind != kind:
        pytest.skip(f"a {kind} test")


def new_folder(server: JupyterServer) -> str:
    folder = f"lab-{uuid.uuid4().hex[:8]}"
    (server.root / folder).mkdir()
    return folder


@pytest.fixture
def lab_folder(jupyter_server: JupyterServer) -> str:
    """A new folder for a JupyterLab test; the test is skipped on Notebook 7."""
    only(jupyter_server, "lab")
    return new_folder(jupyter_server)


def open_lab(server: JupyterServer, page: Page, folder: str) -> None:
    """JupyterLab in a fresh workspace, its file browser in ``folder``."""
    workspace = f"t{uuid.uuid4().hex[:12]}"
    page.goto(f"{server.base_url}/lab/workspaces/{workspace}/tree/{quote(folder)}"
              f"?token={server.token}", wait_until="domcontentloaded")
    page.wait_for_function("() => window.jupyterapp !== undefined",
                           timeout=harness.PAGE_TIMEOUT_S * 1000)
    page.evaluate("() => window.jupyterapp.restored")
    expect(page.locator(".jp-FileBrowser .jp-BreadCrumbs")).to_contain_text(folder)


def settings_api(server: JupyterServer, method: str, raw: str | None = None) -> Any:
    """The settings REST endpoint the Settings Editor saves through."""
    body = None if raw is None else json.dumps({"raw": raw}).encode()
    request = urllib.request.Request(
        f"{server.base_url}/lab/api/settings/{PLUGIN}", method=method, data=body,
        headers={"Authorization": f"token {server.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
    return json.loads(text) if text else None


class RanNotebook:
    """The notebook a command made in ``folder``, once it has run and its Explorer shows a map.
    As a context manager, it shuts its kernel down on the way out."""

    def __init__(self, server: JupyterServer, page: Page, folder: str) -> None:
        self.server = server
        self.page = page
        paths = harness.poll_until(
            lambda: page.evaluate(_JS_NOTEBOOKS_IN, folder), lambda p: len(p) == 1,
            timeout_s=harness.PAGE_TIMEOUT_S, what=f"one new notebook in {folder}",
            pause=lambda s: page.wait_for_timeout(s * 1000))
        self.path: str = paths[0]
        self.map_view = page.locator('[data-testid="map-view"]')
        expect(self.map_view).to_have_attribute("src", timeout=RUN_TIMEOUT_S * 1000)
        self.cells = harness.poll_until(
            lambda: page.evaluate(_JS_CODE_CELLS, self.path),
            lambda cells: cells is not None and all(c["count"] is not None for c in cells),
            timeout_s=harness.KERNEL_TIMEOUT_S,
            what=f"every code cell of {self.path} to have run",
            pause=lambda s: page.wait_for_timeout(s * 1000))

    def check_ran_with_a_map(self) -> None:
        assert Path(self.path).name.startswith("Untitled"), self.path
        assert [c["errors"] for c in self.cells] == [[], []], self.cells
        assert self.cells[0]["source"] == "from backprop_lens import Explorer"
        assert self.cells[1]["source"].startswith("Explorer(")
        pixels = Pixels(**self.map_view.evaluate(harness.JS_IMAGE_PIXELS))
        assert pixels.width > 0 and pixels.colours > 10, pixels
        # Opened on the server's Python kernel, named in the file so that nothing asks.
        on_disk = self.saved_notebook()
        assert on_disk["metadata"]["kernelspec"]["name"] == "python3"
        sessions = [s for s in self.server.api("GET", "/api/sessions")
                    if s.get("path") == self.path]
        assert sessions and sessions[0]["kernel"]["name"] == "python3"

    def saved_notebook(self) -> Any:
        """The notebook as the server reads it from disk. The server saves a notebook in place
        (``atomic_writing`` keeps a backup copy, not a temporary file), so a read that meets the
        page's own save finds a part of the file and answers "Unreadable Notebook" (400 for an
        empty file, 500 for a cut one): read again until it is whole."""

        def read() -> Any:
            try:
                return self.server.api("GET", f"/api/contents/{quote(self.path)}")["content"]
            except urllib.error.HTTPError as error:
                if b"Unreadable Notebook" not in error.read():
                    raise
                return None

        return harness.poll_until(read, lambda content: content is not None, timeout_s=30,
                                  what=f"{self.path} to read back whole from the server",
                                  pause=lambda s: self.page.wait_for_timeout(s * 1000))

    @property
    def explorer_cell(self) -> str:
        return str(self.cells[1]["source"])

    def close(self) -> None:
        self.server.shutdown_sessions(self.path)

    def __enter__(self) -> RanNotebook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def test_launcher_card_makes_runs_and_shows_an_explorer(
    jupyter_server: JupyterServer, page: GuardedPage, lab_folder: str,
) -> None:
    open_lab(jupyter_server, page.page, lab_folder)
    # The file browser's "+" opens a launcher on its current folder, as a user would.
    page.page.locator('.jp-FileBrowser-toolbar [data-command="launcher:create"]').click()
    launcher = page.page.locator(".jp-Launcher:visible")
    card = launcher.locator(".jp-Launcher-section:has-text('Notebook')").locator(CARD)
    expect(card).to_be_visible()
    assert card.locator("img").get_attribute("src", timeout=5000).startswith(
        "data:image/svg+xml,")
    harness.save_screenshot(page.page, "labextension-launcher")
    card.click()
    with RanNotebook(jupyter_server, page.page, lab_folder) as notebook:
        notebook.check_ran_with_a_map()
        assert 'model="efficientnet_lite0"' in notebook.explorer_cell
        assert "image=" not in notebook.explorer_cell
        markdown = page.page.locator(".jp-MarkdownCell").first
        expect(markdown).to_contain_text("Nie, Zhang & Patel")
    assert page.blocked == [], f"requests left localhost: {page.blocked}"


def test_palette_command_makes_runs_and_shows_an_explorer(
    jupyter_server: JupyterServer, page: GuardedPage, lab_folder: str,
) -> None:
    open_lab(jupyter_server, page.page, lab_folder)
    page.page.keyboard.press("Control+Shift+C")
    palette = page.page.locator("#command-palette")
    palette.locator("input").fill("Backprop Lens")
    item = palette.locator('.lm-CommandPalette-item:has-text("New Backprop Lens Explorer")')
    expect(item).to_be_visible()
    item.click()
    with RanNotebook(jupyter_server, page.page, lab_folder) as notebook:
        notebook.check_ran_with_a_map()
    assert page.blocked == [], f"requests left localhost: {page.blocked}"


def right_click(page: Page, name: str) -> Locator:
    """Right-click ``name`` in the file browser; the context menu that opens."""
    item = page.locator(".jp-DirListing-item").filter(has=page.get_by_text(name, exact=True))
    item.click(button="right")
    menu = page.locator(".lm-Menu").last
    expect(menu).to_be_visible()
    return menu


def test_image_context_menu_makes_an_explorer_of_that_picture(
    jupyter_server: JupyterServer, page: GuardedPage, lab_folder: str,
) -> None:
    folder = lab_folder
    # A name that needs quoting in Python; 224×224, the default model's input: shown as it is.
    name = "it's a \"ça\" picture.png"
    pixels = data.shapes.generate(1, seed=21, size=224, objects=2).images[0]
    Image.fromarray(pixels).save(jupyter_server.root / folder / name)
    (jupyter_server.root / folder / "notes.txt").write_text("not a picture")
    open_lab(jupyter_server, page.page, folder)

    menu = right_click(page.page, "notes.txt")
    expect(menu).to_contain_text("Rename")
    # Lumino keeps a hidden item in the menu's DOM, not displayed.
    expect(menu.locator('.lm-Menu-item:has-text("Open in Backprop Lens")')).to_be_hidden()
    page.page.keyboard.press("Escape")

    menu = right_click(page.page, name)
    item = menu.locator('.lm-Menu-item:has-text("Open in Backprop Lens")')
    expect(item).to_be_visible()
    harness.save_screenshot(page.page, "labextension-context-menu")
    item.click()
    with RanNotebook(jupyter_server, page.page, folder) as notebook:
        notebook.check_ran_with_a_map()
        assert 'image="it\'s a \\"ça\\" picture.png",' in notebook.explorer_cell
        shown = page.page.locator('[data-testid="input-view"]').evaluate(_JS_RGBA)
        rgba = np.frombuffer(base64.b64decode(shown["rgba"]), np.uint8)
        rgb = rgba.reshape(shown["height"], shown["width"], 4)[..., :3]
        assert rgb.shape == pixels.shape
        assert np.abs(rgb.astype(int) - pixels).max() <= 1
    assert page.blocked == [], f"requests left localhost: {page.blocked}"


def test_settings_change_the_generated_cell_and_refuse_bad_values(
    jupyter_server: JupyterServer, page: GuardedPage, lab_folder: str,
) -> None:
    open_lab(jupyter_server, page.page, lab_folder)
    # The Settings Editor lists the extension under its title.
    page.page.evaluate("() => window.jupyterapp.commands.execute('settingeditor:open')")
    # It loads every plugin's schema first: give it time on a busy machine.
    listed = page.page.locator(".jp-PluginList").get_by_text("Backprop Lens", exact=True)
    expect(listed).to_be_visible(timeout=harness.PAGE_TIMEOUT_S * 1000)
    expect(page.page.get_by_text("Default model", exact=True)).to_be_visible()

    for raw, field in (('{"defaultModel": "no_such_model"}', "defaultModel"),
                       ('{"topK": 0}', "topK"), ('{"encoding": "gif"}', "encoding"),
                       ('{"methods": []}', "methods"), ('{"color": "red"}', "color")):
        with pytest.raises(urllib.error.HTTPError) as refused:
            settings_api(jupyter_server, "PUT", raw)
        reason = refused.value.read().decode()
        assert refused.value.code == 400 and field in reason, (raw, reason)

    settings_api(jupyter_server, "PUT", json.dumps(
        {"defaultModel": "shapes_cnn_strided", "topK": 3, "encoding": "webp",
         "methods": ["guided_backprop", "saliency"]}))
    try:
        open_lab(jupyter_server, page.page, lab_folder)  # a new page loads the new settings
        began = time.monotonic()
        page.page.evaluate(
            "() => window.jupyterapp.commands.execute('backprop-lens:new-explorer')")
        with RanNotebook(jupyter_server, page.page, lab_folder) as notebook:
            print(f"settings test notebook ran in {time.monotonic() - began:.1f} s")
            notebook.check_ran_with_a_map()
            assert notebook.explorer_cell == (
                'Explorer(\n    model="shapes_cnn_strided",\n'
                '    methods=["guided_backprop", "saliency"],\n'
                '    top_k=3,\n    encoding="webp",\n)')
    finally:
        settings_api(jupyter_server, "PUT", "{}")
    assert page.blocked == [], f"requests left localhost: {page.blocked}"


def run_in_new_tab(server: JupyterServer, tree: Page, item: Locator, folder: str) -> RanNotebook:
    """Click ``item`` in Notebook 7's tree page; the notebook it opens in a new browser tab."""
    with tree.context.expect_page(timeout=harness.PAGE_TIMEOUT_S * 1000) as opened:
        item.click()
    tab = opened.value
    tab.wait_for_function("() => window.jupyterapp !== undefined",
                          timeout=harness.PAGE_TIMEOUT_S * 1000)
    tab.evaluate("() => window.jupyterapp.restored")
    assert "/notebooks/" in tab.url and folder in tab.url
    return RanNotebook(server, tab, folder)


def test_notebook7_tree_file_new_and_image_menu_make_and_run_notebooks(
    jupyter_server: JupyterServer, page: GuardedPage,
) -> None:
    only(jupyter_server, "notebook7")
    folder = new_folder(jupyter_server)
    Image.fromarray(data.shapes.generate(1, seed=5).images[0]).save(
        jupyter_server.root / folder / "shapes.png")
    tree = page.page
    tree.goto(f"{jupyter_server.base_url}/tree/{quote(folder)}?token={jupyter_server.token}",
              wait_until="domcontentloaded")
    tree.wait_for_function("() => window.jupyterapp !== undefined")
    tree.evaluate("() => window.jupyterapp.restored")

    # Notebook 7's "New" drop-down takes no extension items: File → New does.
    tree.locator('.lm-MenuBar-itemLabel:text-is("File")').click()
    tree.locator('.lm-Menu-item:has-text("New")').first.hover()
    item = tree.locator('.lm-Menu-item:has-text("New Backprop Lens Explorer")')
    expect(item).to_be_visible()
    with run_in_new_tab(jupyter_server, tree, item, folder) as notebook:
        try:
            notebook.check_ran_with_a_map()
            assert "image=" not in notebook.explorer_cell
        finally:
            notebook.page.close()

    menu = right_click(tree, "shapes.png")
    item = menu.locator('.lm-Menu-item:has-text("Open in Backprop Lens")')
    with run_in_new_tab(jupyter_server, tree, item, folder) as notebook:
        notebook.check_ran_with_a_map()
        assert 'image="shapes.png",' in notebook.explorer_cell
    assert page.blocked == [], f"requests left localhost: {page.blocked}"


def test_lens_magic_shows_an_explorer_and_bad_arguments_in_one_line(
    notebook_factory: Callable[[str, list[str]], NotebookPage], page: GuardedPage,
) -> None:
    notebook = notebook_factory("lens-magic.ipynb", ["%load_ext backprop_lens", "%lens"])
    notebook.run_all_cells()
    map_view = page.page.locator('[data-testid="map-view"]')
    expect(map_view).to_have_attribute("src", timeout=RUN_TIMEOUT_S * 1000)
    pixels = Pixels(**map_view.evaluate(harness.JS_IMAGE_PIXELS))
    assert pixels.colours > 10, pixels
    outputs = notebook.new_cell_outputs("%lens no_such_model")
    text = "".join(output.get("text", "") for output in outputs)
    assert text.startswith("UsageError: %lens: MODEL must be a zoo name"), outputs
    assert len(text.strip().splitlines()) == 1 and "Traceback" not in text, outputs
