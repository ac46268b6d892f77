"""The code of a page with no kernel and no network, inline and compressed.

A page needs, in this order:

1. require.js: the AMD loader that the ipywidgets HTML manager is built for;
2. the HTML manager (``libembed-amd.js`` of ``@jupyter-widgets/html-manager``): it rebuilds the
   widget models from the saved state and renders their views; it knows the core widgets (boxes,
   layouts, links) itself;
3. the front end of every other widget module the state names (``anywidget``, ``bqplot``,
   ``bqscales``): the AMD build each Python package installs under ``share/jupyter/nbextensions``,
   defined under its module name, so that the manager finds it without asking a CDN;
4. the icon font (bqplot's toolbar), and the call that renders every widget of the page.

These sources are about 4.8 MB of JavaScript, so they travel gzip-compressed (level 9, about a
quarter of that) in one base64 string; a small loader inflates them with the browser's own
``DecompressionStream`` (Chromium 80, Firefox 113, Safari 16.4) and runs each as a ``<script>``
element, in order, so that each runs in the global scope as if it were inline. A browser without
``DecompressionStream`` gets a line that says so in place of the widgets.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_path

from .frontend import static_path

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

#: Inflates the packed sources (a JSON list of strings, gzip, base64) and runs them in order.
_LOADER = """(function () {
  var packed = "__PACKED__";
  var say = function (text) {
    var line = document.createElement("p");
    line.textContent = text;
    document.body.insertBefore(line, document.body.firstChild);
  };
  if (typeof DecompressionStream === "undefined") {
    var tell = function () { say("This page needs a browser that can decompress its code " +
      "(DecompressionStream: Chromium 80, Firefox 113, Safari 16.4 or later)."); };
    if (document.body) tell(); else window.addEventListener("DOMContentLoaded", tell);
    return;
  }
  var bytes = Uint8Array.from(atob(packed), function (c) { return c.charCodeAt(0); });
  var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  new Response(stream).text().then(function (text) {
    JSON.parse(text).forEach(function (source) {
      var script = document.createElement("script");
      script.textContent = source;
      document.head.appendChild(script);
    });
  });
})();"""

_SOURCE_MAP = re.compile(r"^//# sourceMappingURL=.*$", re.MULTILINE)
_SCRIPT_END = re.compile(r"<(/script|!--)", re.IGNORECASE)


@dataclass(frozen=True)
class PageCode:
    """The inline code of a page: ``html`` (one ``<script>``), and each source's name and size in
    bytes before packing; ``len(html)`` is what the page pays."""

    html: str
    sources: dict[str, int]


def widget_modules(state: dict[str, Any]) -> list[str]:
    """The widget modules (model and view) that ``state`` needs and the manager lacks."""
    names = set()
    for model in state["state"].values():
        names.add(model["model_module"])
        names.add(model["state"].get("_view_module") or model["model_module"])
    return sorted(names - BUILTIN_MODULES)


def page_code(modules: Iterable[str]) -> PageCode:
    """The code that renders a page's widgets: loader, manager, the widget ``modules``, packed."""
    sources = {"require.js": static_source("require.js"),
               "libembed-amd.js": static_source("libembed-amd.js")}
    for name in modules:
        wrapped = _NAMED_MODULE.replace("__NAME__", json.dumps(name))
        sources[name] = wrapped.replace("__SOURCE__", nbextension_source(name))
    font = base64.b64encode(static_path("fa-solid-900.woff2").read_bytes()).decode("ascii")
    sources["icon font"] = _ICON_FONT.replace("__FONT__", font)
    sources["render"] = _RENDER
    # Source-map comments would point to files the page does not have.
    plain = {name: _SOURCE_MAP.sub("", source) for name, source in sources.items()}
    # mtime=0: the same sources give the same page, byte for byte.
    packed = gzip.compress(json.dumps(list(plain.values())).encode("utf-8"), compresslevel=9,
                           mtime=0)
    loader = _LOADER.replace("__PACKED__", base64.b64encode(packed).decode("ascii"))
    return PageCode(inline_script(loader),
                    {name: len(source.encode()) for name, source in plain.items()})


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
