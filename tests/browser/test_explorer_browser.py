"""The Explorer in a real browser, against the widget contract (design.md §4), in JupyterLab and
Notebook 7: what a user clicks and keys reaches the kernel's traits, the map the page shows
changes with them, and a change made in Python shows in the page.

The tests of one server kind share one page and one kernel (the ``explorer`` fixture): opening a
notebook and importing torch costs more than all the checks together. So they run in file order
and each one states the state it starts from; each leaves the widget idle.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from browser.harness import (
    JS_IMAGE_PIXELS,
    KERNEL_TIMEOUT_S,
    GuardedPage,
    JupyterServer,
    NotebookPage,
    Pixels,
    guarded_page,
    open_notebook,
    poll_until,
    save_screenshot,
)
from playwright.sync_api import Browser, Locator, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600),
              pytest.mark.usefixtures("explorer_screenshot_on_failure")]

METHODS = ("saliency", "deconvnet", "guided_backprop")
NOTEBOOK = "explorer.ipynb"
#: The first map needs a kernel that imports torch and loads the model: be patient.
FIRST_RENDER_TIMEOUT_S = 180.0
WIDGET_OUTPUT = '.jp-OutputArea-output:has([data-testid="map-view"])'

@dataclass
class ExplorerPage:
    """The notebook ``w = Explorer(); w``, run, with helpers to read the widget from both sides."""

    notebook: NotebookPage

    @property
    def guarded(self) -> GuardedPage:
        return self.notebook.guarded

    def hook(self, test_id: str) -> Locator:
        return self.notebook.page.locator(f'[data-testid="{test_id}"]')

    def method_button(self, method: str) -> Locator:
        return self.hook("method-select").locator(f'button[data-method="{method}"]')

    def pixels(self, test_id: str = "map-view") -> Pixels | None:
        found = self.hook(test_id).evaluate(JS_IMAGE_PIXELS)
        return None if found is None else Pixels(**found)

    def state(self) -> dict[str, Any]:
        """The contract's traits, as the kernel holds them now."""
        return dict(self.notebook.python_value(
            '{"method": w.method, "target": w.target, "layer": w.layer, "status": w.status}'
        ))

    def wait_until_settled(
        self, done: Callable[[dict[str, Any]], bool], what: str,
        timeout_s: float = KERNEL_TIMEOUT_S,
    ) -> dict[str, Any]:
        """Poll the kernel until ``done(state)`` holds and ``w.status`` is back to idle; then the
        page's status must read idle too. An ``error: …`` status fails at once."""

        def settled(state: dict[str, Any]) -> bool:
            assert not state["status"].startswith("error"), f"the widget reports {state}"
            return state["status"] == "idle" and done(state)

        state = poll_until(self.state, settled, timeout_s=timeout_s, what=what,
                           pause=self.notebook.pause)
        expect(self.hook("status")).to_have_text("idle", timeout=timeout_s * 1000)
        return state

    def wait_for_new_map(self, before: Pixels, what: str) -> Pixels:
        """Poll the map's pixels until they differ from ``before``."""
        after = poll_until(
            self.pixels, lambda now: now is not None and now.hash != before.hash,
            timeout_s=KERNEL_TIMEOUT_S, what=what, pause=self.notebook.pause,
        )
        assert after is not None
        return after

    def current_map(self) -> Pixels:
        found = poll_until(self.pixels, lambda now: now is not None, timeout_s=KERNEL_TIMEOUT_S,
                           what="the map-view image to decode", pause=self.notebook.pause)
        assert found is not None
        return found

    def press_on_slider(self, test_id: str, key: str) -> None:
        """Focus the slider, press ``key``, and check the slider itself moved: a native range
        input moves at once, so a slider that stays put means something else took the key."""
        slider = self.hook(test_id)
        before = slider.input_value()
        slider.focus()
        self.notebook.page.keyboard.press(key)
        expect(slider, (
            f"{test_id} stayed at {before} on {key}: the notebook's command-mode shortcuts take "
            "arrow keys from a focused element that is not editable, unless it carries "
            "data-lm-suppress-shortcuts"
        )).not_to_have_value(before, timeout=10_000)

    def assert_stayed_local(self) -> None:
        assert self.guarded.blocked == [], f"requests left localhost: {self.guarded.blocked}"


@contextmanager
def opened_explorer(
    server: JupyterServer, browser: Browser, name: str,
) -> Iterator[ExplorerPage]:
    """The notebook ``name`` holding ``w = Explorer(); w``, run, with its first map shown."""
    with guarded_page(browser) as guarded:
        began = time.monotonic()
        cells = ["from backprop_lens import Explorer\nw = Explorer()\nw"]
        with open_notebook(server, guarded, name, cells) as notebook:
            opened = time.monotonic()
            notebook.run_all_cells()
            view = ExplorerPage(notebook)
            expect(view.hook("status")).to_have_text("idle", timeout=FIRST_RENDER_TIMEOUT_S * 1000)
            notebook.page.locator(WIDGET_OUTPUT).scroll_into_view_if_needed()
            print(f"\n{name} ({server.kind}): kernel idle in {opened - began:.1f} s, "
                  f"first map idle {time.monotonic() - opened:.1f} s later")
            yield view


@pytest.fixture(scope="module")
def explorer(jupyter_server: JupyterServer, browser: Browser) -> Iterator[ExplorerPage]:
    """One page per server kind, shared by this module's tests."""
    with opened_explorer(jupyter_server, browser, NOTEBOOK) as view:
        yield view


def test_default_explorer_shows_input_and_map(explorer: ExplorerPage) -> None:
    state = explorer.wait_until_settled(lambda s: True, "the first map")
    assert state["method"] in METHODS
    assert state["layer"] == "output"
    assert isinstance(state["target"], int)

    picture = explorer.pixels("input-view")
    assert picture is not None, "input-view shows no decodable image"
    assert (picture.width, picture.height) == (64, 64), "the default input is 64×64"
    shown = explorer.current_map()
    assert shown.colours > 1, f"the map is a flat image: {shown}"

    buttons = explorer.hook("method-select").locator("button[data-method]")
    assert sorted(buttons.evaluate_all("bs => bs.map(b => b.dataset.method)")) == sorted(METHODS)
    for slider in ("target-slider", "layer-slider"):
        expect(explorer.hook(slider)).to_have_attribute("type", "range")
    expect(explorer.method_button(state["method"])).to_have_attribute("aria-pressed", "true")

    kind = explorer.notebook.server.kind
    save_screenshot(explorer.notebook.page, f"explorer-{kind}", selector=WIDGET_OUTPUT)
    explorer.assert_stayed_local()


def test_method_buttons_switch_method_and_map(explorer: ExplorerPage) -> None:
    first = explorer.state()["method"]
    # Every click picks a method other than the one shown, ending where it began.
    for method in [m for m in METHODS if m != first] + [first]:
        before = explorer.current_map()
        explorer.method_button(method).click()
        explorer.wait_until_settled(lambda s, m=method: s["method"] == m,
                                    f"w.method == {method!r} and idle")
        explorer.wait_for_new_map(before, f"the map to change after clicking {method}")
        expect(explorer.method_button(method)).to_have_attribute("aria-pressed", "true")
    explorer.assert_stayed_local()


def test_target_slider_keyboard_changes_class_and_map(explorer: ExplorerPage) -> None:
    start = explorer.state()
    assert start["layer"] == "output", "this test starts at the output layer"
    slider = explorer.hook("target-slider")
    at_end = slider.evaluate("el => el.valueAsNumber >= Number(el.max)")
    key = "ArrowLeft" if at_end else "ArrowRight"
    before = explorer.current_map()

    explorer.press_on_slider("target-slider", key)
    now = explorer.wait_until_settled(lambda s: s["target"] != start["target"],
                                      f"w.target to leave {start['target']} after {key}")
    assert isinstance(now["target"], int)
    assert now["layer"] == "output", "the target slider must not change the layer"
    explorer.wait_for_new_map(before, f"the map to change after {key} on the target slider")
    explorer.assert_stayed_local()


def test_layer_slider_keyboard_moves_to_inner_layer(explorer: ExplorerPage) -> None:
    assert explorer.state()["layer"] == "output", "this test starts at the output layer"
    before = explorer.current_map()

    explorer.press_on_slider("layer-slider", "ArrowRight")
    now = explorer.wait_until_settled(lambda s: s["layer"] != "output",
                                      "w.layer to leave 'output' after ArrowRight")
    assert isinstance(now["layer"], str) and now["layer"]
    explorer.wait_for_new_map(before, "the map to change after ArrowRight on the layer slider")
    explorer.assert_stayed_local()


def test_method_set_in_python_shows_in_buttons(explorer: ExplorerPage) -> None:
    if explorer.state()["method"] == "deconvnet":
        explorer.notebook.run_in_new_cell('w.method = "saliency"')
        explorer.wait_until_settled(lambda s: s["method"] == "saliency", "w.method == 'saliency'")

    explorer.notebook.run_in_new_cell('w.method = "deconvnet"')
    expect(explorer.method_button("deconvnet")).to_have_attribute("aria-pressed", "true")
    for other in METHODS:
        if other != "deconvnet":
            expect(explorer.method_button(other)).not_to_have_attribute("aria-pressed", "true")
    explorer.wait_until_settled(lambda s: s["method"] == "deconvnet", "w.method == 'deconvnet'")
    explorer.assert_stayed_local()
