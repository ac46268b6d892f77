"""The harness itself, proven on a plain ipywidgets slider in JupyterLab and Notebook 7.

If this fails, the browser set-up is broken (server, Chromium, widget extensions), not our widget.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from browser.harness import GuardedPage, NotebookPage, save_screenshot
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

HANDLE = ".widget-slider .noUi-handle"


def test_int_slider_follows_keyboard_both_ways(
    notebook_factory: Callable[[str, list[str]], NotebookPage], page: GuardedPage,
) -> None:
    notebook = notebook_factory("smoke.ipynb", [
        "import ipywidgets\nslider = ipywidgets.IntSlider(value=5, min=0, max=10)\nslider",
    ])
    notebook.run_all_cells()
    handle = page.page.locator(HANDLE)
    expect(handle).to_have_attribute("aria-valuenow", "5.0")
    assert notebook.python_value("slider.value") == 5

    # Browser → kernel. End and Home, not the arrows: Notebook 7 listens for keys in the capture
    # phase, and its command-mode shortcuts take ArrowLeft/ArrowRight from an ipywidgets slider.
    handle.focus()
    page.page.keyboard.press("End")
    notebook.wait_for_python_value("slider.value", lambda v: v == 10, what="slider.value == 10")
    page.page.keyboard.press("Home")
    notebook.wait_for_python_value("slider.value", lambda v: v == 0, what="slider.value == 0")

    # Kernel → browser, from a new cell as a user would type it.
    assert notebook.run_in_new_cell("slider.value = 3\nprint(slider.value)").strip() == "3"
    expect(handle).to_have_attribute("aria-valuenow", "3.0")
    expect(page.page.locator(".widget-slider .widget-readout")).to_have_text("3")

    save_screenshot(page.page, f"smoke-{notebook.server.kind}")
    assert page.blocked == [], f"requests left localhost: {page.blocked}"
