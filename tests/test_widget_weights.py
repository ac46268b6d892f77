"""The Explorer's weights control (cascading randomisation, Adebayo et al. 2018): the levels,
the synced ``weights`` trait and its validation, maps and predictions at a level, the
similarity curves, Integrated Gradients' completeness, and the user's model left alone."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import torch

from backprop_lens import models
from backprop_lens.widget import OUTPUT, Explorer
from backprop_lens.widget.keys import map_key
from backprop_lens.widget.weights import (
    SEED,
    TRAINED,
    WEIGHTS_PREFIX,
    unit_of,
    weight_levels,
    weights_key,
)

#: A rule method, a map shown as |map|, a heat map and a method with a completeness error.
SHOWN = ("guided_backprop", "saliency", "gradcam", "integrated_gradients")


def small_explorer(**kwargs: Any) -> Explorer:
    spec = models.paper_cnn(n_filters=8, input_size=32, n_classes=10)
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    explorer = Explorer(model=spec, image=image, methods=SHOWN, top_k=2, **kwargs)
    assert explorer.wait(120)
    return explorer


@pytest.fixture(scope="module")
def explorer() -> Explorer:
    return small_explorer()


def test_units_and_levels_go_down_the_network_one_unit_at_a_time() -> None:
    assert unit_of("_blocks.3._bn1") == "_blocks.3"
    assert unit_of("features.10") == "features.10"
    assert unit_of("_conv_head") == "_conv_head"
    assert unit_of("classifier") == "classifier"
    levels = weight_levels(models.load("shapes_cnn"))
    assert [level["name"] for level in levels] == [TRAINED, "fc2", "fc1", "conv3", "conv2",
                                                    "conv1"]
    assert levels[-1]["label"] == "all layers re-drawn"
    lite = weight_levels(models.load("efficientnet_lite0"))
    names = [level["name"] for level in lite]
    assert names[:4] == [TRAINED, "_fc", "_bn1", "_conv_head"]
    assert names[4] == "_blocks.15._expand_conv" and names[-1] == "_conv_stem"
    assert len(lite) == 1 + 3 + 16 + 2  # head, 16 blocks, batch norm and stem


def test_weights_key_prefixes_only_randomised_levels() -> None:
    assert weights_key(TRAINED, "output/3/saliency") == "output/3/saliency"
    assert weights_key("conv1", "output/3/saliency") == f"{WEIGHTS_PREFIX}conv1/output/3/saliency"


def test_the_weights_trait_is_validated_from_python_and_the_front_end(
    explorer: Explorer,
) -> None:
    assert explorer.weights == TRAINED
    assert explorer.weight_levels[0] == {"name": TRAINED, "label": "trained"}
    with pytest.raises(Exception, match="weights must be one of"):
        explorer.weights = "no such layer"
    explorer.set_state({"weights": 7})
    assert explorer.status.startswith("error") and "weights" in explorer.status
    assert explorer.weights == TRAINED


def test_a_level_shows_the_randomised_models_maps_and_predictions_and_curves(
    explorer: Explorer,
) -> None:
    spec = explorer.model
    before = {name: value.clone() for name, value in spec.module.state_dict().items()}
    levels = [level["name"] for level in explorer.weight_levels]
    deepest = levels[-1]
    explorer.set_state({"weights": deepest})  # as the front end's slider does
    assert explorer.weights == deepest
    assert explorer.wait(300)
    assert explorer.status == "idle"
    target = explorer.target
    for method in SHOWN:
        trained = explorer.maps[map_key(OUTPUT, target, method)]
        randomised = explorer.maps[weights_key(deepest, map_key(OUTPUT, target, method))]
        assert randomised["image"] != trained["image"]
    top = explorer.weights_top[deepest]
    assert len(top) == 5 and all(0 <= p <= 1 for _, p in top)
    trained_top = [index for index, _ in explorer.targets[OUTPUT][:5]]
    assert [index for index, _ in top] != trained_top or top[0][1] != explorer.targets[OUTPUT][0][1]
    # Per method, one SSIM and one Spearman ρ per level, the trained level 1.
    curves = explorer.weights_similarity
    assert set(curves) == set(SHOWN)
    for curve in curves.values():
        for values in (curve["ssim"], curve["spearman"]):
            assert len(values) == len(levels) and values[0] == 1.0
            assert all(v is not None and -1 <= v <= 1 for v in values)
        assert curve["ssim"][-1] < 0.9  # every layer re-drawn: not the trained map
    # Every level's maps are kept (a page can scrub the slider).
    for level in levels[1:]:
        assert weights_key(level, map_key(OUTPUT, target, "saliency")) in explorer.maps
    # The user's model is not touched by the randomised twins.
    after = spec.module.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    explorer.weights = TRAINED
    assert explorer.wait(60)


def test_integrated_gradients_completeness_is_synced(explorer: Explorer) -> None:
    key = map_key(OUTPUT, explorer.target, "integrated_gradients")
    entry = explorer.completeness[key]
    assert set(entry) == {"error", "gain"}
    assert abs(entry["error"]) < 0.2 * abs(entry["gain"]) + 1e-3


def test_precompute_weights_checks_its_methods(explorer: Explorer) -> None:
    with pytest.raises(ValueError, match="methods must be among"):
        explorer.precompute_weights(["deconvnet"])


def test_a_new_image_resets_the_curves_but_keeps_the_levels() -> None:
    explorer = small_explorer()
    explorer.precompute_weights(["saliency"])
    assert explorer.wait(120)
    assert set(explorer.weights_similarity) == {"saliency"}
    explorer.image = np.zeros((32, 32, 3), dtype=np.uint8)
    assert explorer.weights_similarity == {} and explorer.weights == TRAINED
    assert not any(key.startswith(WEIGHTS_PREFIX) for key in explorer.maps)


def test_the_sanity_chart_draws_each_methods_curves_and_marks_the_level() -> None:
    import math

    from backprop_lens.widget.sanity_chart import curve_lines

    explorer = small_explorer()
    charts = explorer.charts
    assert charts.sanity.figure not in charts.box.children  # no curves yet
    levels = [level["name"] for level in explorer.weight_levels]
    explorer.weights = levels[2]
    assert explorer.wait(300)
    assert charts.sanity.figure in charts.box.children
    methods, rows = curve_lines(explorer, "ssim")
    assert methods == list(SHOWN)
    assert charts.sanity.ssim.y.tolist() == rows and len(rows[0]) == len(levels)
    assert not any(math.isnan(v) for row in rows for v in row)
    assert list(charts.sanity.spearman.x) == list(range(len(levels)))
    assert list(charts.sanity.current.x) == [2, 2]
    explorer.weights = levels[-1]
    assert list(charts.sanity.current.x) == [len(levels) - 1] * 2


def test_methods_show_rule_methods_first_and_slow_ones_last() -> None:
    from backprop_lens import METHODS
    from backprop_lens.widget.defaults import ordered_methods

    every = ordered_methods("all")
    assert set(every) == set(METHODS)
    assert every[:3] == ("saliency", "deconvnet", "guided_backprop")
    assert every[-2:] == ("smoothgrad", "integrated_gradients")
    assert ordered_methods(["integrated_gradients", "gradcam", "deconvnet"]) == (
        "deconvnet", "gradcam", "integrated_gradients")
    with pytest.raises(ValueError, match="methods must be a sequence"):
        ordered_methods("saliency")
    with pytest.raises(ValueError, match="method must be one of"):
        ordered_methods(["nope"])


def test_the_heat_map_opacity_is_a_number_in_0_1(explorer: Explorer) -> None:
    explorer.set_state({"overlay_opacity": 0.25})
    assert explorer.overlay_opacity == 0.25
    for bad in (1.5, -0.1, float("nan"), float("inf")):
        explorer.set_state({"overlay_opacity": bad})
        assert explorer.status.startswith("error") and "overlay_opacity" in explorer.status
        assert explorer.overlay_opacity == 0.25


def test_curves_follow_the_target_and_work_for_the_former_one_is_dropped() -> None:
    explorer = small_explorer()
    levels = [level["name"] for level in explorer.weight_levels]
    first, second = (int(t) for t, _ in explorer.targets[OUTPUT][:2])
    explorer.weights = levels[1]
    explorer.target = second  # before the first target's curves are done
    assert explorer.wait(300)
    for level in levels[1:]:
        assert weights_key(level, map_key(OUTPUT, second, "saliency")) in explorer.maps
    assert weights_key(levels[-1], map_key(OUTPUT, first, "saliency")) not in explorer.maps
    assert all(v is not None for curve in explorer.weights_similarity.values()
               for v in curve["ssim"])


def test_a_page_holds_every_levels_maps_to_scrub_the_weights_slider() -> None:
    from backprop_lens.widget.export import page_state

    explorer = small_explorer(precompute=True)
    explorer.precompute_weights(["saliency", "gradcam"])
    assert explorer.wait(300)
    state = page_state([explorer], encoding="png", quality=85, timeout=60)
    model = state["state"][explorer.model_id]["state"]
    levels = [level["name"] for level in model["weight_levels"]]
    assert model["weights"] == TRAINED and len(levels) == len(explorer.weight_levels)
    for level in levels[1:]:
        for method in ("saliency", "gradcam"):
            assert weights_key(level, map_key(OUTPUT, explorer.target, method)) in model["maps"]
    assert set(model["weights_similarity"]) == {"saliency", "gradcam"}
    assert set(model["weights_top"]) == set(levels[1:])  # the predictions follow in a page too


def randomised_top(explorer: Explorer, level: str) -> list[int]:
    """The top-5 classes of the explorer's input under the model re-drawn down to ``level``."""
    twin = models.randomize(explorer.model, "cascade", level, seed=SEED)
    x = explorer.model.preprocess(explorer.image)
    with torch.no_grad():
        return [int(i) for i in torch.softmax(twin.module(x), dim=-1)[0].topk(5).indices]


def test_a_level_computing_when_the_input_changes_leaves_nothing_of_the_former_input(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The view job of a level is running (held inside it) when a new image comes: its
    prediction and maps, of the former input, must not land on the new one, and the level's
    prediction for the new input is computed when the slider goes there again."""
    explorer = small_explorer()
    levels = [level["name"] for level in explorer.weight_levels]
    inside, release = threading.Event(), threading.Event()
    twin = explorer._weights.twin

    def held_twin(level: str) -> models.LensModel:
        if level != TRAINED and not inside.is_set():
            inside.set()
            release.wait(60)
        return twin(level)

    monkeypatch.setattr(explorer._weights, "twin", held_twin)
    explorer.set_state({"weights": levels[1]})  # as the front end's slider does
    assert inside.wait(60), "the level's view job did not start"
    explorer.image = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    release.set()
    assert explorer.wait(120)
    assert explorer.weights == TRAINED and explorer.weights_top == {}
    assert not any(key.startswith(WEIGHTS_PREFIX) for key in explorer.maps)
    assert not any(key.startswith(WEIGHTS_PREFIX) for key in explorer.completeness)

    explorer.set_state({"weights": levels[1]})
    assert explorer.wait(300)
    top = [index for index, _ in explorer.weights_top[levels[1]]]
    assert top == randomised_top(explorer, levels[1])
    key = weights_key(levels[1], map_key(OUTPUT, explorer.target, explorer.method))
    assert key in explorer.maps


def test_the_prediction_of_a_level_is_there_when_its_view_job_ends(explorer: Explorer) -> None:
    """The randomised model's prediction is the view job's first result, not the
    precomputation's (which may wait behind every trained map and the curves)."""
    levels = [level["name"] for level in explorer.weight_levels]
    seen: dict[str, Any] = {}
    gate = threading.Event()
    explorer._worker.submit_task(lambda: gate.wait(60))  # hold the worker while we queue
    explorer.set_state({"weights": levels[2]})
    explorer.set_state({"target": int(explorer.targets[OUTPUT][1][0])})  # the maps' job: stale
    explorer._worker.submit_task(
        lambda: seen.setdefault("top", explorer.weights_top.get(levels[2])), priority=0)
    gate.set()
    assert explorer.wait(300)
    assert seen["top"] is not None
    assert [index for index, _ in seen["top"]] == randomised_top(explorer, levels[2])
    explorer.set_state({"weights": TRAINED, "target": int(explorer.targets[OUTPUT][0][0])})
    assert explorer.wait(60)


def test_the_status_says_computing_while_a_levels_maps_are_missing() -> None:
    explorer = small_explorer()
    assert explorer.wait(120) and explorer.status == "idle"
    gate = threading.Event()
    explorer._worker.submit_task(lambda: gate.wait(30))  # the worker busy: nothing lands yet
    level = explorer.weight_levels[1]["name"]
    explorer.set_state({"weights": level})
    assert explorer.status == "computing"  # the trained maps are there, not the level's
    gate.set()
    assert explorer.wait(120) and explorer.status == "idle"
    explorer.set_state({"weights": TRAINED})
    assert explorer.status == "idle"  # every map of the trained model is there
