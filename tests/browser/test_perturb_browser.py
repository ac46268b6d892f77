"""The Explorer's perturbation panel in a real browser (JupyterLab and Notebook 7), on the shapes
CNN: a mouse stroke on ``perturb-canvas`` perturbs exactly the pixels under the brush in the
kernel, the ``attack-button`` changes the prediction and the maps, ``reset-button`` brings back
the clean state, and the attack row says only what is true (issue 16). The tests share one page
and kernel and run in file order (see test_explorer_browser.py, whose page helpers they
reuse)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from browser.harness import BROWSER_MARKS, KERNEL_TIMEOUT_S, JupyterServer, save_screenshot
from browser.test_explorer_browser import (
    JS_CHART_LAYOUT,
    METHOD_LABELS,
    WIDGET_OUTPUT,
    ExplorerPage,
    opened_explorer,
)
from playwright.sync_api import Browser, expect

pytestmark = [*BROWSER_MARKS, pytest.mark.usefixtures("explorer_screenshot_on_failure")]

NOTEBOOK = "perturb.ipynb"
#: The stroke, in input pixels of the shapes CNN's 64×64 picture: a horizontal line on row 20.
ROW, FIRST_COLUMN, LAST_COLUMN = 20, 16, 40


@pytest.fixture(scope="module")
def explorer(jupyter_server: JupyterServer, browser: Browser) -> Iterator[ExplorerPage]:
    """A page of its own: these tests change the image, which the other module's must not see."""
    with opened_explorer(jupyter_server, browser, NOTEBOOK, 'model="shapes_cnn"') as view:
        yield view


def _settled(explorer: ExplorerPage, expression: str, what: str) -> Any:
    """Poll ``[expression, w.status]`` until the first is truthy and the widget is idle."""
    def done(value: list[Any]) -> bool:
        assert not str(value[1]).startswith("error"), f"the widget reports {value[1]}"
        return bool(value[0]) and value[1] == "idle"

    found = explorer.notebook.wait_for_python_value(f"[{expression}, w.status]", done, what=what)
    expect(explorer.hook("status")).to_have_text("idle", timeout=KERNEL_TIMEOUT_S * 1000)
    return found[0]


def _clean_state(explorer: ExplorerPage) -> Any:
    return explorer.notebook.python_value(
        '[hash(bytes(w.input_png)), w.targets["output"][0][0], w.target, w.perturbed, '
        "float(w.perturbation.abs().max()), w.undo_depth]")


def test_a_mouse_stroke_perturbs_the_pixels_under_the_brush(explorer: ExplorerPage) -> None:
    explorer.notebook.execute("_clean = [hash(bytes(w.input_png)), w.targets['output'][0][0]]")
    canvas = explorer.hook("perturb-canvas")
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    assert box is not None
    width, height = explorer.notebook.python_value("w.input_shape")[::-1]
    assert (width, height) == (64, 64)

    def at(column: float, row: float) -> tuple[float, float]:
        return (box["x"] + (column + 0.5) / width * box["width"],
                box["y"] + (row + 0.5) / height * box["height"])

    mouse = explorer.notebook.page.mouse
    began = time.monotonic()
    mouse.move(*at(FIRST_COLUMN, ROW))
    mouse.down()
    mouse.move(*at(LAST_COLUMN, ROW), steps=12)
    mouse.up()
    _settled(explorer, "w.perturbed", "the stroke to reach the kernel")
    print(f"\nstroke to idle: {time.monotonic() - began:.2f} s")

    # Where the perturbation is non-zero: [first row, first column], [last row, last
    # column], and whether the whole line under the brush is covered.
    low, high, line = explorer.notebook.python_value(
        f"(lambda m: [m.nonzero().min(0).values.tolist(), m.nonzero().max(0).values.tolist(), "
        f"bool(m[{ROW}, {FIRST_COLUMN}:{LAST_COLUMN + 1}].all())])"
        "(w.perturbation.abs().sum(1)[0] > 0)")
    radius = 3  # the brush's default size is 3 input pixels; one more for the soft edge
    assert line, "the pixels under the stroke must all be perturbed"
    assert ROW - radius <= low[0] and high[0] <= ROW + radius, (low, high)
    assert FIRST_COLUMN - radius <= low[1] and high[1] <= LAST_COLUMN + radius, (low, high)
    similarity = explorer.notebook.python_value("w.similarity")
    assert set(similarity) == {"saliency", "deconvnet", "guided_backprop"}
    expect(explorer.hook("compare-row")).to_contain_text("SSIM vs clean")
    expect(explorer.hook("compare-clean-row")).to_be_visible()
    explorer.assert_stayed_local()


def test_the_attack_button_changes_prediction_and_maps(explorer: ExplorerPage) -> None:
    before = explorer.current_map()
    clean_top = explorer.notebook.python_value("_clean[1]")
    explorer.hook("attack-method").select_option("pgd")
    expect(explorer.hook("epsilon-slider")).to_have_value("8")
    explorer.hook("attack-button").click()
    report = _settled(explorer, 'w.attack_report.get("after") is not None and w.attack_report',
                      "the attack to finish")
    assert report["method"] == "pgd" and report["before"] == clean_top
    top = explorer.notebook.python_value('w.targets["output"][0][0]')
    assert top == report["after"] != clean_top, "the prediction must change"
    explorer.wait_for_new_map(before, "the map to change after the attack")
    expect(explorer.hook("attack-result")).to_contain_text("PGD untargeted, ε 8/255")
    # The third chart (what moved) joins once something is perturbed, as legible as the others.
    page = explorer.notebook.page
    page.locator(".bl-charts .chart-movement").first.wait_for(timeout=60_000)
    page.wait_for_timeout(800)  # bqplot draws the new chart
    charts = page.evaluate(JS_CHART_LAYOUT)["charts"]
    assert len(charts) == 3, charts
    for chart in charts:
        assert chart["cut"] == [] and chart["rotated"] == [] and chart["titleOverlaps"] == [], chart
    assert set(METHOD_LABELS) <= set(charts[2]["ticks"]), charts[2]
    page.set_viewport_size({"width": 1400, "height": 2000})
    page.wait_for_timeout(800)
    save_screenshot(page, f"perturbed-{explorer.notebook.server.kind}", selector=WIDGET_OUTPUT)
    page.set_viewport_size({"width": 1280, "height": 1024})
    explorer.assert_stayed_local()


def test_the_reset_button_brings_back_the_clean_state(explorer: ExplorerPage) -> None:
    before = explorer.current_map()
    explorer.hook("reset-button").click()
    _settled(explorer, "not w.perturbed", "the reset to reach the kernel")
    input_hash, top, target, perturbed, largest, undo_depth = _clean_state(explorer)
    clean_hash, clean_top = explorer.notebook.python_value("_clean")
    assert (input_hash, top, target) == (clean_hash, clean_top, clean_top)
    assert (perturbed, largest, undo_depth) == (False, 0.0, 0)
    assert explorer.notebook.python_value("w.similarity") == {}
    explorer.wait_for_new_map(before, "the map to go back to the clean one")
    expect(explorer.hook("compare-clean-row")).to_be_hidden()
    explorer.assert_stayed_local()


def _paint(explorer: ExplorerPage) -> None:
    """The stroke of the first test, with the brush at full strength."""
    canvas = explorer.hook("perturb-canvas")
    box = canvas.bounding_box()
    assert box is not None
    explorer.hook("brush-strength").fill("128")
    mouse = explorer.notebook.page.mouse
    mouse.move(box["x"] + (FIRST_COLUMN + 0.5) / 64 * box["width"],
               box["y"] + (ROW + 0.5) / 64 * box["height"])
    mouse.down()
    mouse.move(box["x"] + (LAST_COLUMN + 0.5) / 64 * box["width"],
               box["y"] + (ROW + 0.5) / 64 * box["height"], steps=12)
    mouse.up()
    _settled(explorer, "w.perturbed", "the stroke to reach the kernel")


def test_undo_to_the_clean_image_clears_the_attack_row(explorer: ExplorerPage) -> None:
    assert not explorer.notebook.python_value("w.perturbed"), "this test starts clean"
    explorer.hook("attack-method").select_option("pgd")
    explorer.hook("attack-button").click()
    _settled(explorer, 'w.attack_report.get("after") is not None', "the attack to finish")
    expect(explorer.hook("attack-result")).to_contain_text("PGD untargeted")
    explorer.hook("undo-button").click()
    _settled(explorer, "not w.perturbed", "the undo to reach the kernel")
    assert explorer.notebook.python_value("w.attack_report") == {}
    expect(explorer.hook("attack-result")).to_have_text("")
    explorer.assert_stayed_local()


def test_a_targeted_attack_that_missed_says_so(explorer: ExplorerPage) -> None:
    unlikely = explorer.notebook.python_value('w.targets["output"][-1][0]')
    name = explorer.notebook.python_value(f"w.classes[{unlikely}]")
    explorer.hook("attack-method").select_option("fgsm")
    explorer.hook("epsilon-slider").fill("1")
    explorer.hook("attack-target").select_option(str(unlikely))
    explorer.hook("attack-button").click()
    report = _settled(explorer, 'w.attack_report.get("after") is not None and w.attack_report',
                      "the targeted attack to finish")
    assert report["target"] == unlikely and not report["success"]
    result = explorer.hook("attack-result")
    expect(result).to_contain_text(f"FGSM targeted toward {name}, ε 1/255")
    expect(result).to_contain_text(f"missed: still not {name}")
    explorer.hook("reset-button").click()
    _settled(explorer, "not w.perturbed", "the reset to reach the kernel")
    expect(result).to_have_text("")
    explorer.hook("attack-target").select_option("")
    explorer.hook("epsilon-slider").fill("8")
    explorer.assert_stayed_local()


def test_the_attack_start_is_visible_and_undo_brings_the_painting_back(
    explorer: ExplorerPage,
) -> None:
    start = explorer.hook("attack-start")
    expect(start).to_have_value("clean")
    expect(start.locator("option:checked")).to_have_text("from the clean image (default)")
    _paint(explorer)
    painted = explorer.notebook.python_value("w.perturbation_scale")
    assert painted > 100, painted
    note = explorer.hook("perturb-note")
    expect(note).to_contain_text(f"±{painted:.1f} of 255")
    explorer.hook("attack-method").select_option("fgsm")
    explorer.hook("attack-button").click()  # from the clean image: the painting goes…
    _settled(explorer, 'w.attack_report.get("start") == "clean"', "the attack to finish")
    expect(note).to_contain_text("±8.0 of 255")
    explorer.hook("undo-button").click()  # …and comes back
    _settled(explorer, "w.perturbation_scale > 100", "the painting to come back")
    expect(note).to_contain_text(f"±{painted:.1f} of 255")
    start.select_option("painted")  # from the painted image: the painting stays
    explorer.hook("attack-button").click()
    _settled(explorer, 'w.attack_report.get("start") == "painted"', "the attack to finish")
    assert explorer.notebook.python_value("w.perturbation_scale") > 100
    expect(explorer.hook("attack-result")).to_contain_text("from the painted image")
    start.select_option("clean")
    explorer.hook("reset-button").click()
    _settled(explorer, "not w.perturbed", "the reset to reach the kernel")
    explorer.assert_stayed_local()


def test_a_flat_layer_says_why_its_maps_are_flat(explorer: ExplorerPage) -> None:
    explorer.notebook.run_in_new_cell('w.layer = "conv1"')
    _settled(explorer, 'w.layer == "conv1"', "w.layer == 'conv1'")
    note = explorer.hook("layer-note")
    expect(note).to_contain_text("Every map at conv1 is flat, for any image and class")
    explorer.notebook.run_in_new_cell('w.layer = "output"')
    _settled(explorer, 'w.layer == "output"', "w.layer == 'output'")
    explorer.assert_stayed_local()
