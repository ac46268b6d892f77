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
    BROWSER_MARKS,
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

pytestmark = [*BROWSER_MARKS, pytest.mark.usefixtures("explorer_screenshot_on_failure")]

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
    server: JupyterServer, browser: Browser, name: str, arguments: str = "",
) -> Iterator[ExplorerPage]:
    """The notebook ``name`` holding ``w = Explorer(<arguments>); w``, run, with its first map
    shown."""
    with guarded_page(browser) as guarded:
        began = time.monotonic()
        cells = [f"from backprop_lens import Explorer\nw = Explorer({arguments})\nw"]
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
    assert (picture.width, picture.height) == (224, 224), "EfficientNet-Lite0's input is 224×224"
    expect(explorer.hook("map-view")).to_be_visible()
    assert explorer.notebook.python_value("w.model_name") == "efficientnet_lite0"
    expect(explorer.hook("target-slider").locator("xpath=..")).to_contain_text("Egyptian cat")
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


def test_each_slider_move_sends_its_view_to_the_kernel_at_once(explorer: ExplorerPage) -> None:
    """Issue 16 (a burst of layer moves): ipywidgets sends the sliders' state one message at a
    time, so each move also sends a ``view`` message that starts its maps; the kernel gets one
    per key press, for the layer and target the page then shows."""
    explorer.notebook.run_in_new_cell(
        "seen_views = []\n_preview = w._preview\n"
        "w._preview = lambda layer, target: (seen_views.append((layer, target)), "
        "_preview(layer, target))")
    try:
        explorer.press_on_slider("layer-slider", "ArrowRight")
        explorer.press_on_slider("target-slider", "ArrowRight")
        now = explorer.wait_until_settled(lambda s: s["layer"] != "output",
                                          "w.layer to leave 'output' after ArrowRight")
        seen = explorer.notebook.python_value("[list(v) for v in seen_views]")
        assert len(seen) == 2, seen
        assert seen[0][0] == now["layer"] and seen[1] == [now["layer"], now["target"]], seen
    finally:
        explorer.notebook.run_in_new_cell('del w._preview\nw.layer = "output"')
        explorer.wait_until_settled(lambda s: s["layer"] == "output", "w.layer == 'output'")
    explorer.assert_stayed_local()


def test_a_redraw_rewrites_no_text_that_did_not_change(explorer: ExplorerPage) -> None:
    """Issue 16 (a burst of layer moves): the view redraws on every message, and each text it
    writes makes JupyterLab lay the page out again; a change that shows no new text (the
    progress while idle) writes none."""
    explorer.wait_until_settled(lambda s: True, "the Explorer to be idle")
    page = explorer.notebook.page
    page.evaluate("""() => {
      window.__blTextWrites = [];
      window.__blObserver = new MutationObserver((records) => {
        for (const r of records) window.__blTextWrites.push(r.target.textContent.slice(0, 40));
      });
      window.__blObserver.observe(document.querySelector('.backprop-lens'),
        {childList: true, characterData: true, subtree: true});
    }""")
    bar = page.locator(".backprop-lens .bl-progress").first
    for value in ("0.5", "1"):  # the redraw sets the bar: proof that it ran
        explorer.notebook.run_in_new_cell(f"w.progress = {value}")
        expect(bar).to_have_js_property("value", float(value))
    writes = page.evaluate("() => { window.__blObserver.disconnect(); "
                           "return window.__blTextWrites; }")
    assert writes == [], f"text rewritten unchanged: {writes}"


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


# --- issue 16: what the page says, and charts that can be read --------------------------------

#: The chart layout as the page draws it: per chart, whether any text is cut by the chart's own
#: box, whether any tick label is rotated, whether the title overlaps a tick label, the chart's
#: top (same top: same row) and its backgrounds, and the Explorer's background.
JS_CHART_LAYOUT = """() => {
  const overlap = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom
    && b.top < a.bottom;
  const explorer = document.querySelector('.backprop-lens');
  const charts = [...document.querySelectorAll('.bl-charts .bqplot')]
    .filter((chart) => chart.getBoundingClientRect().width > 0);
  return {
    background: getComputedStyle(explorer).backgroundColor,
    charts: charts.map((chart) => {
      const box = chart.getBoundingClientRect();
      const texts = [...chart.querySelectorAll('text')].filter((t) => t.textContent.trim());
      const ticks = [...chart.querySelectorAll('.tick text')];
      const title = chart.querySelector('.mainheading');
      const cut = texts.filter((t) => {
        const r = t.getBoundingClientRect();
        return r.width > 0 && (r.left < box.left - 1 || r.right > box.right + 1
          || r.top < box.top - 1 || r.bottom > box.bottom + 1);
      }).map((t) => t.textContent);
      const plot = chart.querySelector('.plotarea_background');
      return {
        top: Math.round(box.top),
        cut,
        rotated: ticks.filter((t) => /rotate\\((?!0)/.test(t.getAttribute('transform') || ''))
          .map((t) => t.textContent),
        titleOverlaps: title ? ticks.filter((t) => overlap(t.getBoundingClientRect(),
          title.getBoundingClientRect())).map((t) => t.textContent) : [],
        background: getComputedStyle(chart).backgroundColor,
        plotBackground: plot ? getComputedStyle(plot).fill : null,
        ticks: ticks.map((t) => t.textContent),
        fills: [...chart.querySelectorAll('.bargroup rect, rect.bar')]
          .map((r) => getComputedStyle(r).fill),
      };
    }),
  };
}"""

THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
WIDTHS = (1000, 1400)
METHOD_LABELS = ("Saliency", "DeconvNet", "Guided backprop")


def _rgb(hex_colour: str) -> str:
    red, green, blue = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def _set_theme(explorer: ExplorerPage, theme: str) -> None:
    page = explorer.notebook.page
    page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme', "
                  "{theme})", THEMES[theme])
    page.wait_for_function("(light) => document.body.dataset.jpThemeLight === light",
                           arg="true" if theme == "light" else "false", timeout=30_000)
    page.wait_for_timeout(500)  # the theme's stylesheet applied


def test_the_view_states_the_centre_crop_of_the_photo(explorer: ExplorerPage) -> None:
    crop = explorer.hook("crop-note")
    expect(crop).to_be_visible()
    expect(crop).to_contain_text("centre crop: the model sees the middle 300×300 of the "
                                 "451×300 picture")
    thumbnail = explorer.pixels("crop-view")
    assert thumbnail is not None and thumbnail.width == 160, thumbnail
    explorer.assert_stayed_local()


def test_the_hint_names_the_papers_finding_and_hides(explorer: ExplorerPage) -> None:
    explorer.wait_until_settled(lambda s: True, "the top classes' maps")
    hint = explorer.hook("hint")
    expect(hint).to_contain_text("Guided backprop and DeconvNet barely change with the class")
    expect(hint).to_contain_text("Here, class sensitivity: Guided backprop 0.0")
    explorer.hook("hint-toggle").click()
    explorer.notebook.wait_for_python_value("w.show_hint", lambda v: v is False,
                                            what="w.show_hint to turn False")
    expect(hint).not_to_contain_text("barely change")
    expect(explorer.hook("hint-toggle")).to_have_text("show the paper's finding")
    explorer.hook("hint-toggle").click()
    explorer.notebook.wait_for_python_value("w.show_hint", lambda v: v is True,
                                            what="w.show_hint to turn True")
    expect(hint).to_contain_text("barely change with the class")
    explorer.assert_stayed_local()


def test_methods_have_the_same_names_and_colours_in_buttons_and_charts(
    explorer: ExplorerPage,
) -> None:
    styles = explorer.notebook.python_value("w.method_styles")
    page = explorer.notebook.page
    page.locator(".bl-charts .chart-sensitivity").first.wait_for(timeout=60_000)
    for method, style in styles.items():
        button = explorer.method_button(method)
        expect(button).to_have_text(style["label"])
        expect(button).to_have_css("border-left-color", _rgb(style["colour"]))
    sensitivity = page.locator(".bl-charts .chart-sensitivity").first
    ticks = sensitivity.locator(".tick text").evaluate_all("ts => ts.map(t => t.textContent)")
    assert set(METHOD_LABELS) <= set(ticks), ticks
    fills = sensitivity.locator(".bargroup rect").evaluate_all(
        "rects => rects.map(r => getComputedStyle(r).fill)")
    assert sorted(fills) == sorted(_rgb(styles[m]["colour"]) for m in styles), fills
    explorer.assert_stayed_local()


def test_charts_are_legible_in_light_and_dark_at_two_widths(explorer: ExplorerPage) -> None:
    """Each chart's text inside its box, no rotated ticks, the title clear of the ticks, the
    two charts of an unperturbed input on one row, and the charts on the Explorer's background;
    the screenshots are kept as artifacts (the README's come from here)."""
    page = explorer.notebook.page
    kind = explorer.notebook.server.kind
    explorer.notebook.run_in_new_cell('w.layer = "output"\nw.method = "guided_backprop"')
    explorer.wait_until_settled(lambda s: s["layer"] == "output", "the output layer")
    page.locator(".bl-charts .chart-sensitivity").first.wait_for(timeout=60_000)
    try:
        for theme in THEMES:
            _set_theme(explorer, theme)
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 2000})
                page.wait_for_timeout(800)  # bqplot redraws on resize
                layout = page.evaluate(JS_CHART_LAYOUT)
                where = f"{kind}, {theme}, {width} px"
                assert len(layout["charts"]) == 2, f"{where}: {layout}"
                for chart in layout["charts"]:
                    assert chart["cut"] == [], f"{where}: text cut off: {chart}"
                    assert chart["rotated"] == [], f"{where}: rotated ticks: {chart}"
                    assert chart["titleOverlaps"] == [], f"{where}: title on ticks: {chart}"
                    assert chart["plotBackground"] == layout["background"], f"{where}: {chart}"
                    assert chart["background"] in (layout["background"], "rgba(0, 0, 0, 0)")
                assert len({chart["top"] for chart in layout["charts"]}) == 1, (
                    f"{where}: the charts wrap: {layout}")
                page.locator(WIDGET_OUTPUT).scroll_into_view_if_needed()
                save_screenshot(page, f"explorer-{kind}-{theme}-{width}", selector=WIDGET_OUTPUT)
    finally:
        _set_theme(explorer, "light")
        page.set_viewport_size({"width": 1280, "height": 1024})
    explorer.assert_stayed_local()


def test_an_inner_layer_says_that_its_targets_are_unnamed_channels(explorer: ExplorerPage) -> None:
    explorer.notebook.run_in_new_cell('w.layer = "_blocks.5"')
    explorer.wait_until_settled(lambda s: s["layer"] == "_blocks.5", "w.layer == '_blocks.5'")
    expect(explorer.hook("layer-note")).to_contain_text("80 channels, which have no names")
    expect(explorer.hook("target-slider").locator("xpath=..")).to_contain_text("of 80 (unnamed)")
    explorer.notebook.run_in_new_cell('w.layer = "output"')
    explorer.wait_until_settled(lambda s: s["layer"] == "output", "w.layer == 'output'")
    expect(explorer.hook("layer-note")).to_be_hidden()
    explorer.assert_stayed_local()
