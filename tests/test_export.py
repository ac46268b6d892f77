"""``export_html``: one self-contained page per widget. Its structure, sizes and errors here; the
page in a real browser with the network blocked in tests/browser/test_published.py, which reads
pages with the helpers below."""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import ipywidgets
import pytest
from PIL import Image
from test_widget_explorer import small_explorer

from backprop_lens import data, export_html, models
from backprop_lens.widget import Explorer
from backprop_lens.widget.export import STATE_MIME, VIEW_MIME, ExportedPage
from backprop_lens.widget.maps import MAP_PREFIX

_STATE_TAG = re.compile(f'<script type="{re.escape(STATE_MIME)}">(.*?)</script>', re.DOTALL)
_VIEW_TAG = re.compile(f'<script type="{re.escape(VIEW_MIME)}">(.*?)</script>', re.DOTALL)

#: The grid of the page tested here: every layer, its two best targets, every method.
GRID = {"layers": "all", "targets": 2}


# --- reading a page (shared with the browser tests) ------------------------------------------


def page_models(html: str) -> dict[str, Any]:
    """The widget models of a page (exported, published or nbconvert's), by model id."""
    found = _STATE_TAG.search(html)
    assert found, "the page has no widget state"
    return dict(json.loads(found.group(1))["state"])


def page_views(html: str) -> list[str]:
    """The model id of each widget view of the page, in page order."""
    return [json.loads(spec)["model_id"] for spec in _VIEW_TAG.findall(html)]


def is_explorer(model: dict[str, Any]) -> bool:
    return bool(model["state"].get("_anywidget_id", "").endswith(".Explorer"))


def page_maps(model: dict[str, Any]) -> dict[str, tuple[str, bytes]]:
    """An Explorer model's maps: key → (mime, encoded picture), from the ``maps`` trait and, as a
    state kept by merging the kernel's updates holds them (nbclient, JupyterLab), from the
    per-map keys of the current generation (``widget/maps.py``), which the view prefers."""
    state = model["state"]
    found = {}
    for buffer in model.get("buffers", []):
        name, field = buffer["path"][0], buffer["path"][-1]
        picture = base64.b64decode(buffer["data"])
        if name == "maps" and field == "image":
            key = buffer["path"][1]
            found.setdefault(key, (state["maps"][key]["mime"], picture))
        elif name.startswith(MAP_PREFIX) and picture:
            entry = state[name]
            if entry["generation"] == state.get("generation", 0):
                found[name.removeprefix(MAP_PREFIX)] = (entry["mime"], picture)
    return found


class _Fetches(HTMLParser):
    """Every ``src`` and ``href`` of the page's elements (script text is not parsed as tags)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def fetched_urls(html: str) -> list[str]:
    parser = _Fetches()
    parser.feed(html)
    return parser.urls


# --- the page --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def explorer() -> Explorer:
    return small_explorer(precompute=GRID)


@pytest.fixture(scope="module")
def exported(explorer: Explorer, tmp_path_factory: pytest.TempPathFactory) -> ExportedPage:
    return export_html(explorer, tmp_path_factory.mktemp("page") / "explorer.html")


def packed_sources(html: str) -> list[str]:
    """The page's code, unpacked as the page's loader does (base64, gzip, a JSON list)."""
    (packed,) = re.findall(r'var packed = "([A-Za-z0-9+/=]+)";', html)
    return list(json.loads(gzip.decompress(base64.b64decode(packed))))


def explorer_model(html: str) -> dict[str, Any]:
    (model,) = [m for m in page_models(html).values() if is_explorer(m)]
    return model


def test_the_page_carries_its_code_and_state_inline(exported: ExportedPage) -> None:
    html = exported.path.read_text("utf-8")
    assert fetched_urls(html) == [], "a self-contained page fetches nothing"
    assert not re.search(r"^//# sourceMappingURL=", html, re.MULTILINE), "maps to missing files"
    sources = packed_sources(html)
    for module in ("anywidget", "bqplot", "bqscales"):
        assert any(f'args.unshift("{module}")' in source for source in sources), (
            f"{module} is not defined in the page")
    assert any("@jupyter-widgets/html-manager/dist/libembed-amd" in s for s in sources)
    assert sum(len(source.encode()) for source in sources) == sum(exported.code_parts.values())
    assert exported.total_bytes == len(html.encode())
    assert exported.code_bytes + exported.state_bytes < exported.total_bytes
    # Compressed (and then base64), the code is well under half of what it was inline.
    assert exported.code_bytes < sum(exported.code_parts.values()) / 2
    assert "MB" in str(exported) and str(exported.path) in str(exported)


def test_the_state_holds_the_grid_the_front_end_and_the_charts(
    explorer: Explorer, exported: ExportedPage
) -> None:
    html = exported.path.read_text("utf-8")
    model = explorer_model(html)
    assert model["state"]["_esm"] == explorer._esm, "the front end travels in the state"
    assert model["state"]["_css"] == explorer._css
    maps = page_maps(model)
    assert explorer.grid <= set(maps)
    assert len(explorer.grid) == 3 * 2 * len(explorer.layers)
    for mime, picture in maps.values():
        assert mime == "image/webp"
        assert Image.open(io.BytesIO(picture)).format == "WEBP"
    assert page_views(html) == [explorer.layout_box.model_id]
    names = {m["model_name"] for m in page_models(html).values()}
    assert {"VBoxModel", "HBoxModel", "FigureModel", "BarsModel"} <= names
    assert exported.maps == len(maps)


def test_png_keeps_the_maps_as_the_explorer_made_them(explorer: Explorer, tmp_path: Path) -> None:
    page = export_html(explorer, tmp_path / "png.html", encoding="png")
    maps = page_maps(explorer_model(page.path.read_text("utf-8")))
    assert maps == {key: (entry["mime"], entry["image"]) for key, entry in explorer.maps.items()}


def test_a_layout_of_explorers_exports_them_all(explorer: Explorer, tmp_path: Path) -> None:
    other = small_explorer(precompute=True)
    layout = ipywidgets.VBox([explorer.layout_box, other.layout_box])
    page = export_html(layout, tmp_path / "two.html")
    html = page.path.read_text("utf-8")
    found = {model_id for model_id, m in page_models(html).items() if is_explorer(m)}
    assert found == {explorer.model_id, other.model_id}
    assert page_views(html) == [layout.model_id]


def test_explorers_in_a_layout_keep_their_charts_as_the_notebook_shows_them(
    explorer: Explorer, tmp_path: Path,
) -> None:
    """``export_html(VBox([w1, w2]))``: each Explorer with its charts (issue 11, item 10)."""
    other = small_explorer(precompute=True)
    layout = ipywidgets.VBox([explorer, other])
    html = export_html(layout, tmp_path / "bare.html").path.read_text("utf-8")
    models_ = page_models(html)
    children = models_[layout.model_id]["state"]["children"]
    assert children == [f"IPY_MODEL_{w.layout_box.model_id}" for w in (explorer, other)]
    for w in (explorer, other):
        box = models_[w.layout_box.model_id]["state"]["children"]
        assert box[0] == f"IPY_MODEL_{w.model_id}"
        assert sum(m["model_name"] == "BarsModel" and mid == w.charts.probability_bars.model_id
                   for mid, m in models_.items()) == 1
    assert layout.children == (explorer, other), "the user's layout is left as it was"


def test_every_page_route_writes_the_front_end_and_marks_the_page(explorer: Explorer) -> None:
    """``ipywidgets.embed`` drops defaults unless told (issue 11, item 7): the Explorer's state
    keeps them all (anywidget's front end is one), and says it is a page."""
    for drop in (True, False):
        state = ipywidgets.embed.dependency_state([explorer], drop_defaults=drop)
        model = state[explorer.model_id]["state"]
        assert model["_esm"] == explorer._esm and model["_css"] == explorer._css
        assert model["_view_name"] == "AnyView" and model["_anywidget_id"]
        assert model["_page"] is True
        assert model["_page_bars"] == f"IPY_MODEL_{explorer.charts.probability_bars.model_id}"
    assert "_page" not in explorer.get_state(), "a live front end is never told it is a page"


def test_an_export_waits_for_the_grid(tmp_path: Path) -> None:
    fresh = Explorer(model=models.paper_cnn(n_filters=8, input_size=32, n_classes=10),
                     image=data.sample_image("cat"), precompute=True)
    page = export_html(fresh, tmp_path / "fresh.html")
    assert fresh.grid <= set(page_maps(explorer_model(page.path.read_text("utf-8"))))


def test_an_explorer_without_grid_says_what_to_call(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"Explorer\(\.\.\., precompute=True\)"):
        export_html(small_explorer(), tmp_path / "page.html")
    assert not (tmp_path / "page.html").exists()


def test_a_grid_that_does_not_finish_in_time_says_so(
    explorer: Explorer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(explorer, "wait", lambda timeout=None: False)
    with pytest.raises(TimeoutError, match=r"still computing after 5 s.*w\.wait\(\)"):
        export_html(explorer, tmp_path / "page.html", timeout=5)


def test_unwritable_paths_are_clear_errors(explorer: Explorer, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(OSError, match=r"cannot write the page to .*a-file/page\.html"):
        export_html(explorer, blocker / "page.html")
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        export_html(explorer, tmp_path)


def test_bad_arguments_are_named(explorer: Explorer, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="must be an Explorer or an ipywidgets layout"):
        export_html("not a widget", tmp_path / "page.html")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="encoding must be one of"):
        export_html(explorer, tmp_path / "page.html", encoding="gif")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_224_grid_of_3_methods_by_10_classes_stays_under_5_mb(tmp_path: Path) -> None:
    """The size the README promises: random VGG-16, the cat, 3 methods × 10 classes × output."""
    vgg = Explorer(model=models.vgg16(weights="random"), image=data.sample_image("cat"),
                   precompute=True)
    page = export_html(vgg, tmp_path / "vgg.html")
    maps = page_maps(explorer_model(page.path.read_text("utf-8")))
    assert len(vgg.grid) == 30 and vgg.grid <= set(maps)
    parts = ", ".join(f"{name} {size / 1e6:.2f}" for name, size in page.code_parts.items())
    print(f"\n{page}; {sum(len(p) for _, p in maps.values()) / len(maps):.0f} bytes per map; "
          f"code before packing (MB): {parts}")
    assert page.total_bytes <= 5_000_000, str(page)
