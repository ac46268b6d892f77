"""Pages with no kernel, in Debian's Chromium with the network blocked (issue 11):

- item 7: the stock ipywidgets routes (``embed_minimal_html`` with ``drop_defaults`` both ways,
  ``embed_snippet``, which writes ``embed_data``'s state) give pages that draw the Explorer;
- item 10: an ``export_html`` page is honest: it knows there is no kernel from its first frame
  (painting and attacks off, with a note), its sliders offer only what it holds, a clicked
  probability bar chooses its class and the highlight follows the slider, and a map is never
  shown under another target's label;
- item 13 (guard): class, model, layer and file names are text, never HTML: nothing they hold
  runs, and they show as written.

The stock pages fetch the widget manager and the widget modules from public CDNs: those requests
are answered with the same files from this machine (``test_published.cdn_file``).
"""

from __future__ import annotations

import dataclasses
import re
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import ipywidgets.embed
import numpy as np
import pytest
from browser.harness import GuardedPage, save_screenshot
from playwright.sync_api import Page, Request, Route, expect
from test_export import page_maps, page_models
from test_published import (
    CDN_HOSTS,
    NO_KERNEL_TIMEOUT_MS,
    PageExplorer,
    cdn_file,
    open_from_disk,
    page_explorers,
    serve_folder,
)
from torch import nn

from backprop_lens import export_html, models
from backprop_lens.widget import Explorer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

#: Names that would run, or be cut, if anything put them into the page as HTML.
SCRIPT = '<img src=x onerror="window.__x=1">'
CLASSES = [SCRIPT, "a & b", "<b>bold</b>", *(f"class {i}" for i in range(3, 10))]
MODEL_NAME = "<script>window.__x=2</script>net"
LAYER = "<i>conv</i>"
TITLE = f"{SCRIPT} & page.html"
TOP_K = 4  # the page holds 4 of the 10 classes, and 4 channels of each layer


def html_named_explorer() -> Explorer:
    """A small CNN whose class, model and layer names are HTML-ish, with a grid of the top 4
    targets of every layer."""
    module = nn.Sequential(OrderedDict([
        (LAYER, nn.Conv2d(3, 4, 3, padding=1)), ("relu", nn.ReLU()), ("flat", nn.Flatten()),
        ("fc", nn.Linear(4 * 16 * 16, 10)),
    ]))
    spec = dataclasses.replace(models.as_lens_model(module, input_size=16), classes=CLASSES,
                               name=MODEL_NAME)
    image = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    explorer = Explorer(model=spec, image=image, top_k=TOP_K,
                        precompute={"layers": "all", "targets": TOP_K})
    assert explorer.wait(120)
    return explorer


@pytest.fixture(scope="module")
def explorer() -> Explorer:
    return html_named_explorer()


@pytest.fixture(scope="module")
def pages(explorer: Explorer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pages")
    written = {"export_html": export_html(explorer, folder / "export.html", title=TITLE).path}
    for drop in (True, False):
        path = folder / f"minimal-drop-{drop}.html"
        ipywidgets.embed.embed_minimal_html(path, views=[explorer], drop_defaults=drop,
                                            title=TITLE)
        written[f"embed_minimal_html drop_defaults={drop}"] = path
    snippet = ipywidgets.embed.embed_snippet(views=[explorer])
    path = folder / "snippet.html"
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{snippet}"
                    "</body></html>", encoding="utf-8")
    written["embed_snippet"] = path
    return written


def assert_names_are_text(page: Page, errors: list[str]) -> None:
    """Nothing the names hold ran, and they show as written."""
    assert page.evaluate("window.__x") is None, "a name ran as HTML"
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator("b:text-is('bold')").count() == 0
    assert page.locator("i:text-is('conv')").count() == 0
    assert not [e for e in errors if "Class null" in e or "Failed to initialize" in e], errors


#: ipywidgets' embed pins require.js 2.3.4, minified, by its hash; this machine has 2.3.8 (npm),
#: so the pin is taken off that one script tag, and the page is otherwise served as written.
_REQUIRE_PIN = re.compile(r'(<script src="[^"]*/require\.min\.js") integrity="[^"]*"')


def stock_page(guarded: GuardedPage, path: Path) -> Iterator[str]:
    """Serve a stock page from this machine, its CDN files answered from local copies."""
    written = path.read_text("utf-8")
    assert _REQUIRE_PIN.search(written) or "require.min.js" not in written

    def cdn(route: Route, request: Request) -> None:
        body = cdn_file(request.url)
        if body is None:
            route.fallback()
            return
        route.fulfill(body=body, content_type="application/javascript")

    guarded.page.route(CDN_HOSTS, cdn)
    with serve_folder(path.parent) as base:
        guarded.page.route(f"{base}/{path.name}", lambda route: route.fulfill(
            body=_REQUIRE_PIN.sub(r"\1", written), content_type="text/html"))
        guarded.page.goto(f"{base}/{path.name}")
        yield base


@pytest.mark.parametrize("route", ["embed_minimal_html drop_defaults=True",
                                   "embed_minimal_html drop_defaults=False", "embed_snippet"])
def test_the_stock_embedding_routes_draw_the_explorer(
    page: GuardedPage, pages: dict[str, Path], explorer: Explorer, route: str,
) -> None:
    errors: list[str] = []
    page.page.on("console", lambda message: errors.append(message.text))
    path = pages[route]
    # ipywidgets' embed writes every widget alive in the kernel; the view shows this one.
    model = page_models(path.read_text("utf-8"))[explorer.model_id]
    view = page.page.locator(".backprop-lens").first
    for _ in stock_page(page, path):
        expect(view).to_be_visible(timeout=NO_KERNEL_TIMEOUT_MS)
        shown = PageExplorer(page.page, page.page.locator("body"), model)
        expect(shown.hook("attack-button")).to_be_disabled()
        expect(shown.hook("note")).to_contain_text("no kernel")
        shown.assert_shows_the_map(f"opening the {route} page")
        expect(shown.hook("target-slider")).to_have_attribute("max", str(TOP_K - 1))
        shown.press("target-slider", "End")
        shown.assert_shows_the_map("End on the target slider")
        expect(page.page.locator(".bl-title")).to_have_text(MODEL_NAME)
        assert_names_are_text(page.page, errors)
        save_screenshot(page.page, f"page-{route.split()[0]}-{route.split('=')[-1]}")
    assert page.blocked == [], f"requests tried to leave the machine: {page.blocked}"
    assert len(page_maps(model)) == len(explorer.maps)


def test_an_exported_page_is_honest_without_a_kernel(
    page: GuardedPage, pages: dict[str, Path], explorer: Explorer,
) -> None:
    errors: list[str] = []
    page.page.on("console", lambda message: errors.append(message.text))
    path = pages["export_html"]
    open_from_disk(page, path)
    # The first frame that shows the Explorer already says there is no kernel.
    first = page.page.wait_for_function("""() => {
      const map = document.querySelector('[data-testid="map-view"]');
      if (!map) return null;
      const q = (id) => document.querySelector(`[data-testid="${id}"]`);
      return {attack: q("attack-button").disabled, canvas: q("perturb-canvas").className,
              note: q("perturb-note").textContent, caption: map.closest("figure").textContent};
    }""", polling="raf", timeout=60_000).json_value()
    assert first["attack"] is True and "bl-disabled" in first["canvas"], first
    assert "kernel" in first["note"] and "computing" not in first["caption"], first
    (shown,) = page_explorers(page.page, path.read_text("utf-8"))
    shown.assert_shows_the_map("opening the page")
    # The sliders offer the page's 4 classes and its layers, nothing more.
    expect(shown.hook("target-slider")).to_have_attribute("max", str(TOP_K - 1))
    expect(shown.hook("layer-slider")).to_have_attribute("max", str(len(explorer.layers) - 1))
    ranked = [int(t) for t, _ in shown.state["targets"]["output"]]
    bars = shown.view.locator(".chart-probabilities rect.bar")
    expect(bars).to_have_count(explorer.top_k)
    # A click on the third bar chooses its class: slider, label and map follow.
    bars.nth(2).click()
    label = shown.view.locator('[data-testid="target-slider"] + output')
    expect(label).to_contain_text(CLASSES[ranked[2]])
    expect(shown.hook("target-slider")).to_have_value("2")
    shown.assert_shows_the_map("a click on the third bar")
    # The slider moves the highlight back to the first bar.
    shown.press("target-slider", "Home")
    shown.assert_shows_the_map("Home on the target slider")
    highlighted = bars.evaluate_all(
        "rects => rects.map(r => getComputedStyle(r).strokeWidth === '2.5px')")
    assert highlighted.index(True) == 0 and highlighted.count(True) == 1, highlighted
    # Names are text: in the view, in the charts, in the title.
    shown.press("layer-slider", "End")
    expect(shown.view.locator('[data-testid="layer-slider"] + output')).to_contain_text(LAYER)
    shown.assert_shows_the_map("End on the layer slider")
    chart = shown.view.locator(".chart-probabilities")
    for name in (CLASSES[t] for t in ranked[:TOP_K] if CLASSES[t] in CLASSES[:3]):
        expect(chart).to_contain_text(name[:20])  # longer names are cut, with …
    assert page.page.title() == TITLE
    assert_names_are_text(page.page, errors)
    save_screenshot(page.page, "page-export-honest", selector=".jupyter-widgets")
    assert page.blocked == [], f"requests tried to leave the page: {page.blocked}"
