"""``backprop-lens publish``: run a notebook and write it as one self-contained HTML page in which
every Explorer scrubs its precomputed grid, with no kernel and no network.

1. The notebook runs top to bottom in a fresh kernel (nbclient), with ``PRECOMPUTE_ENV`` set, so
   that every Explorer it creates without ``precompute`` computes its default grid.
2. One more cell, left out of the page, runs ``save_kernel_state`` in that kernel: it waits for
   the grid of every Explorer shown and writes the state of every widget shown to a file. The
   kernel's widgets are the source of truth, whatever comm messages reached the client meanwhile
   (the worker threads send theirs while later cells run).
3. nbconvert's HTML exporter writes the executed notebook and that state through a template that
   inlines the widget runtime (``page_code``) where the stock one fetches it from a
   CDN.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ipywidgets import Widget, widget_serialization

from .export import (
    PAGE_ENCODING,
    PAGE_QUALITY,
    STATE_MIME,
    VIEW_MIME,
    WAIT_TIMEOUT_S,
    ExportedPage,
    check_encoding,
    count_maps,
    map_bytes,
    page_state,
    writable_path,
    write_page,
)
from .grid import PRECOMPUTE_ENV
from .page_code import page_code, widget_modules

TEMPLATE = Path(__file__).resolve().parent / "templates" / "published.html.j2"


def publish(
    notebook: str | Path,
    out: str | Path,
    *,
    encoding: str = PAGE_ENCODING,
    quality: int = PAGE_QUALITY,
    timeout: float = WAIT_TIMEOUT_S,
) -> ExportedPage:
    """Execute ``notebook`` (in its own folder, with the kernel its metadata names) and write it
    to ``out`` as one HTML page.

    ``timeout`` bounds each cell, and the wait for the grids at the end, in seconds. ``encoding``
    and ``quality`` say how lossless maps are stored (see ``export.PAGE_ENCODING``). A cell that
    raises stops the run with nbclient's ``CellExecutionError``, which names the cell.
    """
    # nbconvert and nbclient come with Jupyter; imported here, so that the package imports fast.
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    check_encoding(encoding, quality)
    source = Path(notebook)
    if not source.is_file():
        raise FileNotFoundError(f"no notebook at {source}")
    target = writable_path(out)
    nb = nbformat.read(source, as_version=4)
    client = NotebookClient(
        nb, timeout=int(timeout), store_widget_state=False,
        resources={"metadata": {"path": str(source.parent.resolve())}},
    )
    with tempfile.TemporaryDirectory() as folder, client.setup_kernel(
        env={**os.environ, PRECOMPUTE_ENV: "1"}
    ):
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        state_file = Path(folder) / "state.json"
        save = nbformat.v4.new_code_cell(
            "from backprop_lens.widget.publish import save_kernel_state\n"
            f"save_kernel_state({str(state_file)!r}, {shown_model_ids(nb)!r}, "
            f"{encoding!r}, {quality!r}, {timeout!r})")
        nb.cells.append(save)  # nbclient writes each cell back into the notebook by index
        client.execute_cell(save, len(nb.cells) - 1)
        nb.cells.pop()
        state = json.loads(state_file.read_text(encoding="utf-8"))

    nb.metadata["widgets"] = {STATE_MIME: state}
    code = page_code(widget_modules(state)) if state["state"] else None
    runtime = code.html if code else ""
    exporter = HTMLExporter(template_file=str(TEMPLATE), embed_images=True)
    html, _ = exporter.from_notebook_node(
        nb, resources={"metadata": {"name": source.stem}, "widget_runtime": runtime})
    write_page(target, html)
    return ExportedPage(target, len(html.encode()), len(runtime.encode()),
                        len(json.dumps(state).encode()), count_maps(state), map_bytes(state),
                        code.sources if code else {})


def shown_model_ids(nb: Any) -> list[str]:
    """The model of every widget view among the notebook's outputs, in order, each once."""
    ids = [output["data"][VIEW_MIME]["model_id"]
           for cell in nb.cells if cell.cell_type == "code"
           for output in cell.get("outputs", []) if VIEW_MIME in output.get("data", {})]
    return list(dict.fromkeys(ids))


def save_kernel_state(
    path: str, model_ids: Sequence[str], encoding: str, quality: int, timeout: float
) -> None:
    """Run inside the notebook's kernel by ``publish``: write the page state of the widgets shown
    (those still alive) to ``path``, as JSON, once every Explorer among them has its grid."""
    found = [widget_serialization["from_json"](f"IPY_MODEL_{model_id}", None)
             for model_id in model_ids]
    roots = [widget for widget in found if isinstance(widget, Widget)]
    state = page_state(roots, encoding=encoding, quality=quality, timeout=timeout)
    Path(path).write_text(json.dumps(state), encoding="utf-8")
