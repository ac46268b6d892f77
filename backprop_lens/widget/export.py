"""Static pages of Explorers: one HTML file that scrubs the precomputed grid with no kernel and
no network.

A page carries everything inline, so that it opens from disk anywhere:

1. require.js: the AMD loader that the ipywidgets HTML manager is built for;
2. the HTML manager (``libembed-amd.js`` of ``@jupyter-widgets/html-manager``): it rebuilds the
   widget models from the saved state and renders their views; it knows the core widgets (boxes,
   layouts, links) itself;
3. the front end of every other widget module the state names (``anywidget``, ``bqplot``,
   ``bqscales``): the AMD build each Python package installs under ``share/jupyter/nbextensions``,
   defined under its module name, so that the manager finds it without asking a CDN;
4. the widget state, in the format ``ipywidgets.embed`` writes (buffers in base64), and one view
   tag per widget shown.

Our own front end needs no file of its own: anywidget carries it in the state (``_esm``, ``_css``).
The state keeps every trait, defaults included: anywidget declares ``_esm`` and ``_css`` with the
bundle as their default, so ``drop_defaults`` would drop the front end itself.

Maps travel as the Explorer encoded them; lossless (PNG) maps are re-encoded for the page
(WebP at quality 85 unless asked otherwise): a page of 3 methods × 10 classes of 224×224 maps then
stays well under 5 MB of state, where PNG needs more (README, "Publishing notebooks").
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ipywidgets import Widget
from ipywidgets.embed import dependency_state, escape_script
from jupyter_core.paths import jupyter_path
from PIL import Image

from ..render import ENCODINGS, encode
from .explorer import Explorer
from .frontend import static_path

STATE_MIME = "application/vnd.jupyter.widget-state+json"
VIEW_MIME = "application/vnd.jupyter.widget-view+json"

#: How the maps of a page are stored (see the module doc and the README's size table).
PAGE_ENCODING = "webp"
PAGE_QUALITY = 85

#: How long an export waits for a grid still being computed, in seconds.
WAIT_TIMEOUT_S = 600.0

#: Widget modules the HTML manager carries itself.
BUILTIN_MODULES = frozenset(
    {"@jupyter-widgets/base", "@jupyter-widgets/controls", "@jupyter-widgets/output"}
)

#: The icon font the widgets use (Font Awesome's solid face: bqplot's toolbar), from the page.
#: The manager's CSS declares it with files next to the manager's script, which a page does not
#: have; a face added through the CSS Font Loading API comes after every CSS-declared face, so it
#: is the one used, and those files are never asked for.
_ICON_FONT = """(function () {
  var bytes = Uint8Array.from(atob("__FONT__"), function (c) { return c.charCodeAt(0); });
  document.fonts.add(new FontFace("Font Awesome 5 Free", bytes, {style: "normal", weight: "900"}));
})();"""

#: Renders every widget of the page once it has loaded, loading modules from the page only: a
#: module missing from the page fails here instead of being fetched from a CDN.
_RENDER = """require(["@jupyter-widgets/html-manager/dist/libembed-amd"], function (embed) {
  var fromPage = function (name) {
    return new Promise(function (resolve, reject) { require([name], resolve, reject); });
  };
  var render = function () { embed.renderWidgets(document.documentElement, fromPage); };
  if (document.readyState === "complete") render();
  else window.addEventListener("load", render);
});"""

#: Wraps a module built as an anonymous AMD module (``define(deps, factory)``) so that it
#: defines itself under ``__NAME__``: require.js rejects anonymous modules in inline scripts.
_NAMED_MODULE = """(function () {
  var named = function () {
    var args = Array.prototype.slice.call(arguments);
    if (typeof args[0] !== "string") args.unshift(__NAME__);
    return window.define.apply(null, args);
  };
  named.amd = window.define.amd;
  (function (define) {
__SOURCE__
  })(named);
})();"""

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


_SOURCE_MAP = re.compile(r"^//# sourceMappingURL=.*$", re.MULTILINE)
_SCRIPT_END = re.compile(r"<(/script|!--)", re.IGNORECASE)


@dataclass(frozen=True)
class ExportedPage:
    """What was written, in bytes (shown in MB of 10⁶ bytes): the whole page, its code and its
    widget state."""

    path: Path
    total_bytes: int
    code_bytes: int
    state_bytes: int
    maps: int

    def __str__(self) -> str:
        mb = 1e6
        return (f"{self.path} ({self.total_bytes / mb:.1f} MB: code {self.code_bytes / mb:.1f} "
                f"MB, widget state {self.state_bytes / mb:.1f} MB with {self.maps} maps)")


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

    ``widget`` is an Explorer (shown with its charts) or any layout of widgets holding Explorers.
    Every Explorer must have been created with ``precompute=...``: the page scrubs that grid, and
    shows "not precomputed" elsewhere. A grid still computing is waited for (up to ``timeout``
    seconds). ``encoding`` and ``quality`` say how lossless maps are stored in the page (see
    ``PAGE_ENCODING``); maps the Explorer already encoded lossily are kept as they are.
    """
    if not isinstance(widget, Widget):
        raise TypeError(f"widget must be an Explorer or an ipywidgets layout; "
                        f"got {type(widget).__name__}")
    target = writable_path(path)
    root = widget.layout_box if isinstance(widget, Explorer) else widget
    state = page_state([root], encoding=encoding, quality=quality, timeout=timeout)
    runtime = runtime_scripts(widget_modules(state))
    views = view_tag(root.model_id)
    state_tag = state_script(state)
    page = PAGE_TEMPLATE.format(title=html.escape(title), runtime=runtime, state=state_tag,
                                views=views)
    write_page(target, page)
    return ExportedPage(target, len(page.encode()), len(runtime.encode()),
                        len(state_tag.encode()), count_maps(state))


# --- the widget state ------------------------------------------------------------------------


def page_state(
    roots: Sequence[Widget], *, encoding: str, quality: int, timeout: float
) -> dict[str, Any]:
    """The manager state (ipywidgets' embed format) of ``roots`` and every widget they hold,
    once each Explorer among them has its whole grid."""
    check_encoding(encoding, quality)
    explorers = [w for w in widgets_under(roots) if isinstance(w, Explorer)]
    for explorer in explorers:
        finish_grid(explorer, timeout)
    models = dependency_state(list(roots), drop_defaults=False) if roots else {}
    for explorer in explorers:
        reencode_maps(models[explorer.model_id], encoding, quality)
    return {"version_major": 2, "version_minor": 0, "state": models}


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


def state_script(state: dict[str, Any]) -> str:
    return f'<script type="{STATE_MIME}">\n{escape_script(json.dumps(state))}\n</script>'


def view_tag(model_id: str) -> str:
    """Where the manager renders one widget: its view tag, in the nbconvert output's markup."""
    spec = json.dumps({"version_major": 2, "version_minor": 0, "model_id": model_id})
    return (f'<div class="jupyter-widgets jp-OutputArea-output">'
            f'<script type="{VIEW_MIME}">{escape_script(spec)}</script></div>')


# --- the code --------------------------------------------------------------------------------


def widget_modules(state: dict[str, Any]) -> list[str]:
    """The widget modules (model and view) that ``state`` needs and the manager lacks."""
    names = set()
    for model in state["state"].values():
        names.add(model["model_module"])
        names.add(model["state"].get("_view_module") or model["model_module"])
    return sorted(names - BUILTIN_MODULES)


def runtime_scripts(modules: Iterable[str]) -> str:
    """The inline scripts that render the page's widgets: loader, manager, widget modules."""
    sources = [static_source("require.js"), static_source("libembed-amd.js")]
    for name in modules:
        wrapped = _NAMED_MODULE.replace("__NAME__", json.dumps(name))
        sources.append(wrapped.replace("__SOURCE__", nbextension_source(name)))
    font = base64.b64encode(static_path("fa-solid-900.woff2").read_bytes()).decode("ascii")
    sources += [_ICON_FONT.replace("__FONT__", font), _RENDER]
    return "\n".join(inline_script(source) for source in sources)


def static_source(name: str) -> str:
    return static_path(name).read_text(encoding="utf-8")


def nbextension_source(module: str) -> str:
    """The AMD front end of one widget module, as its Python package installed it."""
    folders = [Path(folder) for folder in jupyter_path("nbextensions")]
    for folder in folders:
        path = folder / module / "index.js"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError(f"no front end of the widget module {module!r} in "
                            f"{[str(f) for f in folders]}: is its Python package installed?")


def inline_script(source: str) -> str:
    """``source`` in a ``<script>`` element: without its source-map comments (they would point
    to files the page does not have), and with nothing that could end the element early."""
    source = _SCRIPT_END.sub(r"<\\\1", _SOURCE_MAP.sub("", source))
    return f"<script>\n{source}\n</script>"


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
