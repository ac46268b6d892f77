"""The Explorer's traits, validation, background computation and charts (no browser here:
see tests/browser for the front end)."""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import pytest
import traitlets
from PIL import Image

from backprop_lens import models
from backprop_lens.widget import OUTPUT, Explorer
from backprop_lens.widget.charts import MAX_NAME, NOW_COLOUR
from backprop_lens.widget.defaults import DEFAULT_METHODS as METHODS
from backprop_lens.widget.keys import map_key
from backprop_lens.widget.maps import MAP_PREFIX
from backprop_lens.widget.names import METHOD_STYLES


def small_explorer(**kwargs: Any) -> Explorer:
    spec = models.paper_cnn(n_filters=8, input_size=32, n_classes=10)
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    explorer = Explorer(model=spec, image=image, **kwargs)
    assert explorer.wait(60)
    return explorer


@pytest.fixture()
def explorer() -> Explorer:
    return small_explorer()


def test_the_output_layer_is_precomputed_for_every_method_and_top_k_target(
    explorer: Explorer,
) -> None:
    assert explorer.status == "idle"
    assert explorer.progress == 1.0
    top = [index for index, _ in explorer.targets[OUTPUT][:10]]
    for method in METHODS:
        for target in top:
            entry = explorer.maps[map_key(OUTPUT, target, method)]
            assert entry["image"].startswith(b"\x89PNG")
            assert Image.open(io.BytesIO(entry["image"])).size == (32, 32)
    assert set(explorer.sensitivity) == set(METHODS)
    assert all(np.isfinite(v) for v in explorer.sensitivity.values())


def test_targets_are_ranked_best_first_for_the_output_and_every_layer(explorer: Explorer) -> None:
    assert explorer.layers[0]["name"] == OUTPUT
    assert [entry["name"] for entry in explorer.layers[1:]] == [
        name for name, _ in reversed(explorer.model.layers)]
    for ranked in explorer.targets.values():
        scores = [score for _, score in ranked]
        assert scores == sorted(scores, reverse=True)
    probabilities = [p for _, p in explorer.targets[OUTPUT]]
    assert abs(sum(probabilities) - 1) < 1e-3  # 4 significant digits each
    assert explorer.target == explorer.targets[OUTPUT][0][0]
    assert "·" in explorer.layers[1]["label"]  # name and shape


def test_a_new_choice_is_computed_in_the_background(explorer: Explorer) -> None:
    explorer.layer = "conv"
    best_channel = explorer.targets["conv"][0][0]
    assert explorer.target == best_channel  # a new layer starts at its best target
    explorer.target = explorer.targets["conv"][5][0]
    explorer.method = "deconvnet"
    assert explorer.wait(60)
    assert explorer.status == "idle"
    for method in METHODS:  # the compare row
        assert map_key("conv", explorer.target, method) in explorer.maps
    for index, _ in explorer.targets["conv"][:10]:  # the layer's top-k, precomputed
        assert map_key("conv", index, "guided_backprop") in explorer.maps


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"method": "gradcam"}, "method must be one of"),
        ({"method": 3}, "method"),
        ({"target": 10}, r"target must be a class in \[0, 10\)"),
        ({"target": "seven"}, "target"),
        ({"layer": "nowhere"}, "layer must be one of"),
        ({"layer": "conv", "target": 9999}, "target must be a channel of 'conv'"),
        ({"status": "idle"}, "the front end may not set"),
        ({"maps": {}}, "the front end may not set"),
    ],
)
def test_invalid_updates_from_the_front_end_are_shown_and_undone(
    explorer: Explorer, update: dict[str, Any], message: str
) -> None:
    before = (explorer.method, explorer.target, explorer.layer, dict(explorer.maps))
    sent: list[Any] = []
    explorer.send_state = lambda key=None: sent.append(key)  # type: ignore[method-assign]
    explorer.set_state(update)
    assert explorer.status.startswith("error: ")
    assert pytest.importorskip("re").search(message, explorer.status)
    assert (explorer.method, explorer.target, explorer.layer, dict(explorer.maps)) == before
    assert sent, "the front end must be sent the valid state back"


def test_a_valid_update_after_an_error_clears_it(explorer: Explorer) -> None:
    explorer.set_state({"method": "nope"})
    assert explorer.status.startswith("error")
    explorer.set_state({"method": "saliency"})
    assert explorer.wait(60)
    assert explorer.status == "idle" and explorer.method == "saliency"


def test_python_side_errors_raise(explorer: Explorer) -> None:
    with pytest.raises(Exception, match="method must be one of"):
        explorer.method = "gradcam"
    with pytest.raises(Exception, match="target must be a class"):
        explorer.target = -1


def test_unknown_custom_messages_are_reported(explorer: Explorer) -> None:
    explorer._on_custom_message(explorer, {"type": "launch"}, [])
    assert explorer.status.startswith("error: unknown message")
    explorer._on_custom_message(explorer, "garbage", [])
    assert explorer.status.startswith("error: unknown message")


def test_new_maps_are_sent_once_each_as_their_own_state_keys(explorer: Explorer) -> None:
    """Each map travels once, in an ``update`` message (the picture a buffer); the ``maps``
    trait is not re-sent (tests/test_widget_traffic.py measures the bytes)."""
    messages: list[tuple[Any, list[bytes]]] = []
    synced: list[Any] = []
    explorer._send = lambda msg, buffers=None: messages.append((msg, buffers))  # type: ignore[method-assign]
    explorer.send_state = lambda key=None: synced.append(key)  # type: ignore[method-assign]
    explorer.layer = "relu"
    assert explorer.wait(60)
    assert messages
    for msg, buffers in messages:
        assert msg["method"] == "update"
        assert len(buffers) == len(msg["buffer_paths"]) == len(msg["state"])
        for (name, field), png in zip(msg["buffer_paths"], buffers, strict=True):
            key = name.removeprefix(MAP_PREFIX)
            assert field == "image" and msg["state"][name]["generation"] == explorer.generation
            assert explorer.maps[key]["image"] == png
    assert "maps" not in synced


def test_a_sync_request_says_a_kernel_is_there(explorer: Explorer) -> None:
    synced: list[Any] = []
    sent: list[Any] = []
    explorer.send_state = lambda key=None: synced.append(key)  # type: ignore[method-assign]
    explorer.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]
    explorer._on_custom_message(explorer, {"type": "sync"}, [])
    assert synced == [] and sent == [{"type": "synced"}]
    assert explorer.status == "idle"


def test_changing_the_image_or_model_starts_afresh(explorer: Explorer) -> None:
    generation = explorer.generation
    explorer.layer = "conv"
    explorer.image = np.zeros((40, 40, 3), dtype=np.uint8)
    assert explorer.generation == generation + 1
    assert explorer.layer == OUTPUT
    assert explorer.wait(60)
    # Nothing of the old image survives, however far its jobs had got.
    assert not any(key.startswith("conv/") for key in explorer.maps)
    explorer.model = models.paper_fcn(hidden=16, input_size=32, n_classes=5)
    assert explorer.wait(60)
    assert len(explorer.classes) == 5 and explorer.generation == generation + 2
    assert all(int(key.split("/")[1]) < 5 for key in explorer.maps)


def test_the_cache_is_bounded_and_the_maps_trait_follows_it() -> None:
    explorer = small_explorer(cache_mb=0.02)  # about 20 kB: a handful of small PNGs
    total = sum(len(entry["image"]) for entry in explorer.maps.values())
    assert total <= 0.02 * 2**20 + max(len(e["image"]) for e in explorer.maps.values())
    assert len(explorer.maps) < 30
    current = map_key(explorer.layer, explorer.target, explorer.method)
    explorer.target = explorer.targets[OUTPUT][-1][0]
    assert explorer.wait(60)
    assert map_key(OUTPUT, explorer.target, explorer.method) in explorer.maps
    assert current != map_key(OUTPUT, explorer.target, explorer.method)


def test_bad_constructor_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="method must be one of"):
        Explorer(model=models.paper_cnn(n_filters=4, input_size=16), methods=["nope"])
    with pytest.raises(ValueError, match="top_k must be a positive int"):
        Explorer(model=models.paper_cnn(n_filters=4, input_size=16), top_k=0)


def test_probability_bars_and_target_are_linked_both_ways(explorer: Explorer) -> None:
    bars = explorer.charts.probability_bars
    top = [index for index, _ in explorer.targets[OUTPUT][:10]]
    assert list(bars.x) == [explorer.classes[i] for i in top]
    assert list(bars.selected) == [0]
    bars.selected = [3]
    assert explorer.target == top[3]
    explorer.target = top[5]
    assert list(bars.selected) == [5]
    explorer.layer = "conv"
    assert bars.selected is None  # a channel is no class


def test_the_charts_can_be_read_at_a_notebooks_width(explorer: Explorer) -> None:
    charts = explorer.charts
    bars = charts.probability_bars
    # Names on the left, whole and unrotated; values along the bottom.
    for figure in charts.figures:
        names, values = figure.axes
        assert names.side == "left" and names.tick_rotate == 0 and values.side == "bottom"
        assert figure.fig_margin["left"] >= 100
    # Unperturbed: one colour for every bar; the chosen class is outlined, not recoloured.
    assert bars.orientation == "horizontal" and list(bars.colors) == [NOW_COLOUR]
    assert bars.color_mode == "element" and bars.unselected_style == {}  # colour per series
    assert charts.sensitivity_bars.color_mode == "group"  # colour per bar: per method
    assert "stroke" in bars.selected_style and "fill" not in bars.selected_style
    # The chart of what moved waits, hidden, until something is perturbed.
    assert charts.movement not in charts.box.children
    assert [figure.layout.width for figure in charts.figures] == ["270px"] * 3


def test_long_class_names_are_cut_visibly() -> None:
    spec = models.paper_cnn(n_filters=4, input_size=16, n_classes=3)
    spec.classes = ["American Staffordshire terrier", "cat", "dog"]
    explorer = Explorer(model=spec, image=np.zeros((16, 16, 3), np.uint8))
    names = list(explorer.charts.probability_bars.x)
    assert "American Staffordshir…" in names and "cat" in names
    assert all(len(name) <= MAX_NAME for name in names)


def test_sensitivity_bars_show_each_methods_statistic(explorer: Explorer) -> None:
    bars = explorer.charts.sensitivity_bars
    assert list(bars.x) == ["Saliency", "DeconvNet", "Guided backprop"]  # as the buttons say
    assert list(bars.colors) == [METHOD_STYLES[m]["colour"] for m in METHODS]
    assert np.allclose(bars.y, [explorer.sensitivity[m] for m in METHODS])
    assert explorer.method_styles == {m: METHOD_STYLES[m] for m in METHODS}


def test_displaying_shows_the_widget_and_its_charts_once_the_view_is_up() -> None:
    explorer = small_explorer()
    bundle = explorer._repr_mimebundle_()
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == explorer._box.model_id
    assert explorer in explorer._box.children
    slot = explorer._box.children[1]
    # The first map needs no bqplot: the charts come when the view's first message arrives.
    explorer._on_custom_message(explorer, {"type": "sync"}, [])
    deadline = time.monotonic() + 60
    while not slot.children and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(slot.children) == explorer.charts.figures[:2]  # what moved: once perturbed
    assert explorer.layout_box is explorer._box


def test_the_default_explorer_shows_efficientnet_lite0_on_the_cat_photo() -> None:
    explorer = Explorer()
    assert explorer.model.name == "efficientnet_lite0"
    assert explorer.input_shape == [224, 224] and explorer.input_png.startswith(b"\x89PNG")
    assert explorer.classes[explorer.target] == "Egyptian cat"  # its top class, shown first
    assert map_key(OUTPUT, explorer.target, explorer.method) in explorer.maps  # before any wait
    assert explorer.wait(300)
    # The paper's finding on a trained ImageNet network, visible in the chart: saliency changes
    # with the class, GBP and DeconvNet barely.
    assert explorer.sensitivity["saliency"] > 5 * explorer.sensitivity["guided_backprop"]
    assert explorer.sensitivity["saliency"] > 5 * explorer.sensitivity["deconvnet"]


def test_the_shapes_cnn_and_its_two_shape_picture_are_one_argument_away() -> None:
    explorer = Explorer(model="shapes_cnn")
    assert explorer.model.name == "shapes_cnn" and explorer.input_shape == [64, 64]
    top_two = {explorer.classes[index] for index, _ in explorer.targets[OUTPUT][:2]}
    assert top_two == {"star", "arrow"}
    assert explorer.wait(120)
    assert explorer.sensitivity["saliency"] > 2 * explorer.sensitivity["guided_backprop"]


def test_precompute_true_keeps_the_whole_default_grid_despite_a_small_cache() -> None:
    explorer = small_explorer(precompute=True, cache_mb=0.001)
    assert "precomputing a grid of 30 maps" in explorer.note and "MB" in explorer.note
    top = [index for index, _ in explorer.targets[OUTPUT][:10]]
    assert {map_key(OUTPUT, t, m) for t in top for m in METHODS} <= set(explorer.maps)
    explorer.layer = "conv"  # on-demand maps beyond the cap are evicted, the grid stays
    assert explorer.wait(60)
    assert {map_key(OUTPUT, t, m) for t in top for m in METHODS} <= set(explorer.maps)


def test_precompute_a_chosen_grid() -> None:
    explorer = small_explorer(
        precompute={"methods": ["saliency"], "layers": "all", "targets": 2}, top_k=1)
    for layer, ranked in explorer.targets.items():
        for index, _ in ranked[:2]:
            assert map_key(layer, int(index), "saliency") in explorer.maps
    listed = small_explorer(precompute={"layers": ["conv"], "targets": [0, 3, 999]}, top_k=1)
    for method in METHODS:
        assert {map_key("conv", 0, method), map_key("conv", 3, method)} <= set(listed.maps)


@pytest.mark.parametrize(
    ("grid", "error", "message"),
    [
        ({"layers": ["nowhere"]}, ValueError, "precompute layers .'nowhere'. are not layers"),
        ({"methods": ["gradcam"]}, ValueError, "precompute methods must be among"),
        ({"colours": 3}, ValueError, "precompute has unknown keys"),
        ({"targets": "top"}, TypeError, "precompute targets must be an int k or a list"),
        ({"layers": "conv"}, TypeError, "precompute layers must be a list of names"),
        ("yes", TypeError, "precompute must be True, None or a dict"),
    ],
)
def test_bad_grids_are_named(grid: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        small_explorer(precompute=grid)


@pytest.mark.parametrize(("encoding", "mime", "magic"), [
    ("png", "image/png", b"\x89PNG"), ("webp", "image/webp", b"RIFF"),
    ("jpeg", "image/jpeg", b"\xff\xd8"),
])
def test_maps_travel_in_the_chosen_encoding(encoding: str, mime: str, magic: bytes) -> None:
    explorer = small_explorer(encoding=encoding, quality=70)
    for entry in explorer.maps.values():
        assert entry["mime"] == mime and entry["image"].startswith(magic)


def test_an_unknown_encoding_is_named() -> None:
    with pytest.raises(ValueError, match="encoding must be one of"):
        small_explorer(encoding="gif")


@pytest.mark.parametrize("setting", [{"input_size": 16}, {"metod": "saliency"},
                                     {"layer": "output"}])
def test_a_setting_the_explorer_does_not_know_is_named_not_lost(setting: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match=f"unexpected keyword arguments \\['{next(iter(setting))}'"):
        small_explorer(**setting)


def test_the_first_choices_can_be_given_to_the_constructor() -> None:
    explorer = small_explorer(method="deconvnet", shared_scale=True, show_hint=False,
                              overlay_opacity=0.25)
    assert (explorer.method, explorer.shared_scale, explorer.show_hint,
            explorer.overlay_opacity) == ("deconvnet", True, False, 0.25)
    assert map_key(OUTPUT, explorer.target, "deconvnet") in explorer.maps  # its first map
    with pytest.raises(traitlets.TraitError, match="overlay_opacity"):
        small_explorer(overlay_opacity=2.0)
