"""Static pages of Explorers: one HTML file that scrubs the precomputed grid with no kernel and
no network.

A page carries everything inline, so that it opens from disk anywhere: the code that renders the
widgets (``page_code``: loader, widget manager, widget modules, compressed), the widget state in
the format ``ipywidgets.embed`` writes (buffers in base64), and one view tag per widget shown.

Our own front end needs no file of its own: anywidget carries it in the state (``_esm``, ``_css``),
which every route writes whole (``embedding``). An Explorer inside a layout is shown with its
charts, as a notebook shows it (``show_charts``).

Maps travel as the Explorer encoded them; lossless (PNG) maps are re-encoded for the page
(WebP at quality 85 unless asked otherwise): the page of the random VGG-16, the cat and a grid of
3 methods × 10 classes then stays under 5 MB, code included (README, "Publishing notebooks").
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ipywidgets import Widget
from ipywidgets.embed import dependency_state, escape_script
from PIL import Image

from ..render import ENCODINGS, encode
from .explorer import Explorer
from .page_code import page_code, widget_modules

STATE_MIME = "application/vnd.jupyter.widget-state+json"
VIEW_MIME = "application/vnd.jupyter.widget-view+json"

#: How the maps of a page are stored (see the module doc and the README's size table).
PAGE_ENCODING = "webp"
PAGE_QUALITY = 85

#: How long an export waits for a grid still being computed, in seconds.
WAIT_TIMEOUT_S = 600.0

#: The page of ``export_html``: the runtime in the head, then the views and the state.
PAGE_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{runtime}
</head>
<body>
{views}
{state}
</body>
</html>
"""


@dataclass(frozen=True)
class ExportedPage:
    """What was written, in bytes (shown in MB of 10⁶ bytes): the whole page, its code (packed),
    its widget state and the maps within it; ``code_parts``: each source of the code before
    packing."""

    path: Path
    total_bytes: int
    code_bytes: int
    state_bytes: int
    maps: int
    map_bytes: int = 0
    code_parts: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        mb = 1e6
        return (f"{self.path} ({self.total_bytes / mb:.2f} MB: code {self.code_bytes / mb:.2f} "
                f"MB (compressed), widget state {self.state_bytes / mb:.2f} MB with {self.maps} "
                f"maps of {self.map_bytes / mb:.2f} MB)")


def export_html(
    widget: Widget,
    path: str | Path,
    *,
    encoding: str = PAGE_ENCODING,
    quality: int = PAGE_QUALITY,
    timeout: float = WAIT_TIMEOUT_S,
    title: str = "backprop-lens",
) -> ExportedPage:
    """Write ``widget`` as one self-contained HTML page that works with no kernel and no network.

    ``widget`` is an Explorer or any layout of widgets holding Explorers; each Explorer is shown
    with its charts, as a notebook shows it. Every Explorer must have been created with
    ``precompute=...``: the page scrubs that grid, and offers nothing else. A grid still
    computing is waited for (up to ``timeout`` seconds). ``encoding`` and ``quality`` say how
    lossless maps are stored in the page (see ``PAGE_ENCODING``); maps the Explorer already
    encoded lossily are kept as they are.
    """
    if not isinstance(widget, Widget):
        raise TypeError(f"widget must be an Explorer or an ipywidgets layout; "
                        f"got {type(widget).__name__}")
    target = writable_path(path)
    root = widget.layout_box if isinstance(widget, Explorer) else widget
    state = page_state([root], encoding=encoding, quality=quality, timeout=timeout,
                       with_charts=True)
    code = page_code(widget_modules(state))
    views = view_tag(root.model_id)
    state_tag = state_script(state)
    page = PAGE_TEMPLATE.format(title=html.escape(title), runtime=code.html, state=state_tag,
                                views=views)
    write_page(target, page)
    return ExportedPage(target, len(page.encode()), len(code.html.encode()),
                        len(state_tag.encode()), count_maps(state), map_bytes(state),
                        code.sources)


# --- the widget state ------------------------------------------------------------------------


def page_state(
    roots: Sequence[Widget], *, encoding: str, quality: int, timeout: float,
    with_charts: bool = False,
) -> dict[str, Any]:
    """The manager state (ipywidgets' embed format) of ``roots`` and every widget they hold,
    once each Explorer among them has its whole grid; ``with_charts``: each Explorer that a
    layout holds is shown with its charts (``show_charts``)."""
    check_encoding(encoding, quality)
    explorers = [w for w in widgets_under(roots) if isinstance(w, Explorer)]
    for explorer in explorers:
        finish_grid(explorer, timeout)
    models = dependency_state(list(roots), drop_defaults=False) if roots else {}
    if with_charts:
        show_charts(models, explorers)
    for explorer in explorers:
        reencode_maps(models[explorer.model_id], encoding, quality)
    return {"version_major": 2, "version_minor": 0, "state": models}


def show_charts(models: dict[str, Any], explorers: Iterable[Explorer]) -> None:
    """In ``models`` (embed state, changed in place), a layout that holds an Explorer holds its
    layout box instead (the Explorer and its charts), as the notebook displays an Explorer."""
    boxes = {explorer.model_id: explorer.layout_box for explorer in explorers}
    added: list[Widget] = []
    for model_id, model in list(models.items()):
        children = model["state"].get("children")
        if not isinstance(children, list):
            continue
        for index, reference in enumerate(children):
            box = boxes.get(str(reference).removeprefix("IPY_MODEL_"))
            if box is not None and box.model_id != model_id:
                children[index] = f"IPY_MODEL_{box.model_id}"
                added.append(box)
    if added:
        models.update(dependency_state(added, drop_defaults=False))


def check_encoding(encoding: str, quality: int) -> None:
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {sorted(ENCODINGS)}; got {encoding!r}")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be an int in [1, 100]; got {quality!r}")


def widgets_under(roots: Iterable[Widget]) -> list[Widget]:
    """``roots`` and every widget their synced traits refer to (directly, or in a list, tuple or
    dict), each once."""
    found: dict[str, Widget] = {}
    todo = list(roots)
    while todo:
        widget = todo.pop()
        if widget.model_id in found:
            continue
        found[widget.model_id] = widget
        for key in widget.keys:
            value = getattr(widget, key)
            items = value.values() if isinstance(value, dict) else (
                value if isinstance(value, list | tuple) else [value])
            todo += [item for item in items if isinstance(item, Widget)]
    return list(found.values())


def finish_grid(explorer: Explorer, timeout: float) -> None:
    """Wait for the Explorer's grid; say what to do when it has none, or could not finish it."""
    if not explorer.grid:
        raise ValueError(
            "this Explorer has no precomputed grid, so a page could only show the few maps "
            "computed so far: create it with Explorer(..., precompute=True) (or a grid dict, see "
            "help(Explorer)), then export it")
    if not explorer.wait(timeout):
        raise TimeoutError(f"the Explorer's grid was still computing after {timeout:.0f} s "
                           f"({explorer.note}); call w.wait() first, or export with a longer "
                           "timeout")
    if explorer.status.startswith("error"):
        raise RuntimeError(f"the Explorer could not compute its grid: {explorer.status}")
    missing = explorer.grid - set(explorer.maps)
    if missing:
        raise RuntimeError(f"{len(missing)} maps of the Explorer's grid are missing, e.g. "
                           f"{sorted(missing)[0]!r}")


def reencode_maps(model: dict[str, Any], encoding: str, quality: int) -> None:
    """Re-encode the lossless maps of one Explorer's embed state, in place."""
    if encoding == "png":
        return
    entries = model["state"]["maps"]
    for buffer in model.get("buffers", []):
        path = buffer["path"]
        if len(path) != 3 or path[0] != "maps" or path[2] != "image":
            continue
        if entries[path[1]]["mime"] != ENCODINGS["png"]:
            continue
        with Image.open(io.BytesIO(base64.b64decode(buffer["data"]))) as picture:
            pixels = np.asarray(picture.convert("RGB"))
        buffer["data"] = base64.b64encode(encode(pixels, encoding, quality)).decode("ascii")
        entries[path[1]]["mime"] = ENCODINGS[encoding]


def count_maps(state: dict[str, Any]) -> int:
    return sum(len(model["state"].get("maps", {})) for model in state["state"].values()
               if model["model_name"] == "AnyModel")


def map_bytes(state: dict[str, Any]) -> int:
    """The bytes of the maps' pictures in ``state`` (base64, as the page holds them)."""
    return sum(len(buffer["data"]) for model in state["state"].values()
               if model["model_name"] == "AnyModel" for buffer in model.get("buffers", [])
               if buffer["path"][:1] == ["maps"])


def state_script(state: dict[str, Any]) -> str:
    return f'<script type="{STATE_MIME}">\n{escape_script(json.dumps(state))}\n</script>'


def view_tag(model_id: str) -> str:
    """Where the manager renders one widget: its view tag, in the nbconvert output's markup."""
    spec = json.dumps({"version_major": 2, "version_minor": 0, "model_id": model_id})
    return (f'<div class="jupyter-widgets jp-OutputArea-output">'
            f'<script type="{VIEW_MIME}">{escape_script(spec)}</script></div>')


# --- the file --------------------------------------------------------------------------------


def writable_path(path: str | Path) -> Path:
    """``path``, checked before any work: its folder is created, and must be a folder."""
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"cannot write the page to {target}: it is a folder; "
                                "give a file name such as page.html")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(f"cannot write the page to {target}: its folder {target.parent} cannot "
                      f"be created ({error.strerror or error})") from error
    return target


def write_page(target: Path, page: str) -> None:
    try:
        target.write_text(page, encoding="utf-8")
    except OSError as error:
        raise OSError(f"cannot write the page to {target}: {error.strerror or error}") from error
