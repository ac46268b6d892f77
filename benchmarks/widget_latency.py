"""Explorer latency in Chromium, with the default model, in a real JupyterLab.

Run: ``make benchmark-widget`` (or ``.venv/bin/python benchmarks/widget_latency.py``).
Prints medians and 90th percentiles, in milliseconds, of:

- a target-slider move to a map already computed: key press → the frame that paints the new map
  (goal ≤ 16 ms: one frame);
- a layer-slider move to a layer whose maps are not computed yet (goal ≤ 150 ms);
- the first map after display: the widget's view appearing → its map painted (goal ≤ 1 s);
  and, for information, running the cell → first map painted (kernel work included).

Times come from the page's own clock (``event.timeStamp`` and ``requestAnimationFrame``).
The browser harness of the test suite starts the server and Chromium (no network).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from browser.harness import (
    JupyterServer,
    guarded_page,
    launch_chromium,
    open_notebook,
)

# Resolves with the time from the key press on `slider` to the first animation frame at which the
# map-view holds a new, decoded, non-pending picture: that frame paints it, right after its
# requestAnimationFrame callbacks (performance.now() there, not the frame's start time, which can
# precede the key press).
_JS_ARM = """(sliderId) => {
  const map = document.querySelector('[data-testid="map-view"]');
  const slider = document.querySelector(`[data-testid="${sliderId}"]`);
  const before = map.getAttribute('src');
  let pressed = null;
  slider.addEventListener('keydown', (e) => { pressed = e.timeStamp; },
                          {capture: true, once: true});
  window.__blLatency = new Promise((resolve) => {
    const tick = () => {
      const shown = map.getAttribute('src') !== before && map.complete
        && map.naturalWidth > 0 && !map.classList.contains('bl-pending');
      if (pressed !== null && shown) {
        resolve(performance.now() - pressed);
      } else {
        requestAnimationFrame(tick);
      }
    };
    requestAnimationFrame(tick);
  });
}"""

# Resolves with [display → first map painted, start → first map painted] for the next Explorer
# view to appear in the page (frame times as above).
_JS_ARM_FIRST = """() => {
  const start = performance.now();
  const known = new Set(document.querySelectorAll('.backprop-lens'));
  window.__blFirst = new Promise((resolve) => {
    let shown = null;
    const tick = () => {
      const now = performance.now();
      const fresh = [...document.querySelectorAll('.backprop-lens')].find((e) => !known.has(e));
      if (fresh && shown === null) shown = now;
      const map = fresh && fresh.querySelector('[data-testid="map-view"]');
      if (map && map.complete && map.naturalWidth > 0) {
        resolve([now - shown, now - start]);
      } else {
        requestAnimationFrame(tick);
      }
    };
    requestAnimationFrame(tick);
  });
}"""


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered):8.1f} | {p90:8.1f} | {len(ordered):3d}"


def measure_move(notebook_page: object, slider: str, key: str) -> float:
    page = notebook_page.page  # type: ignore[attr-defined]
    page.evaluate(_JS_ARM, slider)
    page.locator(f'[data-testid="{slider}"]').first.focus()
    page.keyboard.press(key)
    return float(page.evaluate("() => window.__blLatency"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--moves", type=int, default=20, help="cached target moves to time")
    parser.add_argument("--layers", type=int, default=6, help="uncomputed layer moves to time")
    parser.add_argument("--first", type=int, default=3, help="fresh Explorers to time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir, sync_playwright() as playwright:
        server = JupyterServer.start("lab", Path(workdir))
        browser = launch_chromium(playwright)
        try:
            with guarded_page(browser) as guarded, open_notebook(
                server, guarded, "latency.ipynb",
                ["from backprop_lens import Explorer\nw = Explorer()\nw"],
            ) as notebook:
                notebook.run_all_cells()
                notebook.page.locator('[data-testid="status"]').first.wait_for()
                notebook.wait_for_python_value("w.wait(60) and w.status", lambda s: s == "idle",
                                               what="the precomputation")
                cached = []
                for i in range(args.moves):  # back and forth over the precomputed classes
                    cached.append(measure_move(notebook, "target-slider",
                                               "ArrowRight" if i % 8 < 4 else "ArrowLeft"))
                fresh = []
                for _ in range(args.layers):  # each new layer's maps are computed on demand
                    fresh.append(measure_move(notebook, "layer-slider", "ArrowRight"))
                    notebook.wait_for_python_value("w.wait(60) and w.status",
                                                   lambda s: s == "idle", what="idle")
                first, first_from_run = [], []
                for i in range(args.first):
                    notebook.page.evaluate(_JS_ARM_FIRST)
                    notebook.run_in_new_cell(f"w{i} = Explorer()\nw{i}")
                    after_display, after_run = notebook.page.evaluate("() => window.__blFirst")
                    first.append(after_display)
                    first_from_run.append(after_run)
        finally:
            browser.close()
            server.stop()

    print("Explorer latency, default model (shapes_cnn, 64×64), JupyterLab, headless Chromium")
    print(f"| {'case':<44} | {'median':>8} | {'p90':>8} | {'n':>3} | goal")
    print(f"|{'-' * 46}|{'-' * 10}|{'-' * 10}|{'-' * 5}|------")
    print(f"| {'target move, map computed (key → paint)':<44} | {summary(cached)} | ≤ 16 ms")
    print(f"| {'layer move, maps not computed (key → paint)':<44} | {summary(fresh)} | ≤ 150 ms")
    print(f"| {'first map after display':<44} | {summary(first)} | ≤ 1000 ms")
    print(f"| {'first map after running the cell':<44} | {summary(first_from_run)} | -")


if __name__ == "__main__":
    main()
