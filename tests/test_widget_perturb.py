"""The Explorer's perturbations: brush strokes, undo, reset and attacks, sent as the front end
sends them (custom messages with one binary buffer), their validation, and what they change:
the input explained, its maps and predictions, the clean-vs-perturbed similarity and the charts.
"""

from __future__ import annotations

import io
import threading
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from backprop_lens import models
from backprop_lens.widget import OUTPUT, Explorer
from backprop_lens.widget.charts import CLEAN_COLOUR, NOW_COLOUR
from backprop_lens.widget.defaults import DEFAULT_METHODS as METHODS
from backprop_lens.widget.keys import CLEAN, map_key
from backprop_lens.widget.perturb import perturbation_picture, prediction_shift

#: The stroke of most tests: a 10×20 block of full coverage.
ROWS, COLS = slice(10, 20), slice(10, 30)


@pytest.fixture()
def explorer() -> Explorer:
    w = Explorer(model="shapes_cnn")  # the shipped shapes CNN and its two-shape picture
    assert w.wait(60)
    return w


def coverage(explorer: Explorer, rows: slice = ROWS, cols: slice = COLS,
             value: int = 255) -> np.ndarray:
    height, width = explorer.input_shape
    cover = np.zeros((height, width), np.uint8)
    cover[rows, cols] = value
    return cover


def send(explorer: Explorer, content: dict[str, Any], buffers: list[Any] | None = None) -> None:
    """What the front end's ``model.send(content, callbacks, buffers)`` does, then wait."""
    explorer._on_custom_message(explorer, content, [memoryview(b) for b in buffers or []])
    assert explorer.wait(60)


def stroke(explorer: Explorer, mode: str = "brighten", strength: float = 80,
           cover: np.ndarray | None = None, **extra: Any) -> None:
    cover = coverage(explorer) if cover is None else cover
    height, width = cover.shape
    send(explorer, {"type": "stroke", "mode": mode, "strength": strength, "width": width,
                    "height": height, **extra}, [cover.tobytes()])


def changed(explorer: Explorer) -> np.ndarray:
    """(H, W): where the perturbation is not zero in any channel."""
    return (explorer.perturbation.abs().sum(dim=1)[0] > 0).numpy()


def test_a_stroke_perturbs_exactly_the_pixels_under_the_brush(explorer: Explorer) -> None:
    clean = explorer.clean_input.clone()
    clean_png, clean_targets = explorer.input_png, explorer.targets[OUTPUT]
    stroke(explorer, "brighten", 80)
    inside = np.zeros(explorer.input_shape, bool)
    inside[ROWS, COLS] = True
    assert np.array_equal(changed(explorer), inside)
    assert bool((explorer.perturbation[..., ROWS, COLS] > 0).all())
    assert torch.equal(explorer.clean_input, clean), "the clean image is never changed"
    assert np.array_equal(explorer.painted > 0, inside)
    assert explorer.perturbed and explorer.undo_depth == 1 and explorer.status == "idle"
    assert explorer.input_png != clean_png
    assert explorer.clean_targets == clean_targets
    assert explorer.targets[OUTPUT] != clean_targets  # the predictions are of the new input
    assert explorer.prediction_shift > 0
    picture = Image.open(io.BytesIO(explorer.perturbation_png))
    assert picture.size == tuple(explorer.input_shape[::-1])
    assert 79 < explorer.perturbation_scale < 81  # 80 pixel steps, shown at full range
    for method in METHODS:  # the compare row: clean and perturbed maps, and their similarity
        key = map_key(explorer.layer, explorer.target, method)
        assert key in explorer.maps and CLEAN + key in explorer.maps
        assert explorer.maps[key]["image"] != explorer.maps[CLEAN + key]["image"]
        assert -1 <= explorer.similarity[method] <= 1
    assert explorer.similarity_metric == "SSIM"


@pytest.mark.parametrize("mode", ["darken", "noise"])
def test_darken_and_noise_strokes(explorer: Explorer, mode: str) -> None:
    stroke(explorer, mode, 40)
    inside = explorer.perturbation[..., ROWS, COLS]
    if mode == "darken":
        assert bool((inside < 0).all())
    else:
        assert bool((inside < 0).any()) and bool((inside > 0).any())
    assert not changed(explorer)[30:, :].any()


def test_strokes_keep_a_valid_image_and_partial_coverage_paints_less(
    explorer: Explorer,
) -> None:
    stroke(explorer, "brighten", 255)
    stroke(explorer, "brighten", 255)
    low, high = explorer.model.input_bounds
    x = explorer.clean_input + explorer.perturbation
    assert bool((x >= low - 1e-6).all() and (x <= high + 1e-6).all())
    explorer.reset()
    assert explorer.wait(60)
    stroke(explorer, "darken", 100, coverage(explorer, value=51))  # a soft brush edge: 20 %
    assert explorer.perturbation_scale == pytest.approx(20, rel=1e-3)


def test_the_eraser_takes_back_the_perturbation_and_the_painted_region(
    explorer: Explorer,
) -> None:
    stroke(explorer, "brighten", 60)
    stroke(explorer, "erase", 60, coverage(explorer, ROWS, slice(10, 20)))
    assert not changed(explorer)[ROWS, 10:20].any()
    assert changed(explorer)[ROWS, 20:30].all()
    assert not explorer.painted[ROWS, 10:20].any() and explorer.painted[ROWS, 20:30].all()
    stroke(explorer, "erase", 60)
    assert not explorer.perturbed and explorer.perturbation_png == b""
    assert explorer.similarity == {} and explorer.prediction_shift == 0


def _stroke_message(explorer: Explorer, **changes: Any) -> tuple[dict[str, Any], list[bytes]]:
    height, width = explorer.input_shape
    content = {"type": "stroke", "mode": "brighten", "strength": 50, "width": width,
               "height": height}
    buffers = [coverage(explorer).tobytes()]
    if "buffers" in changes:
        buffers = changes.pop("buffers")
    content.update(changes)
    return content, buffers


@pytest.mark.parametrize(("changes", "message"), [
    ({"buffers": [b"\x01" * 10]}, "must hold 64×64 = 4096 bytes; got 10"),
    ({"buffers": []}, "one buffer"),
    ({"buffers": [b"\x01" * 4096, b"\x01" * 4096]}, "one buffer"),
    ({"buffers": [bytes(4096)]}, "covers no pixel"),
    ({"width": 32, "buffers": [b"\x01" * 2048]}, "must be 64×64"),
    ({"height": "64"}, "height must be an int"),
    ({"strength": float("nan")}, "strength must be a number"),
    ({"strength": 0}, "strength must be a number"),
    ({"strength": 300}, "strength must be a number"),
    ({"strength": True}, "strength must be a number"),
    ({"mode": "blur"}, "mode must be one of"),
])
def test_bad_strokes_are_rejected_and_shown(
    explorer: Explorer, changes: dict[str, Any], message: str,
) -> None:
    content, buffers = _stroke_message(explorer, **changes)
    generation = explorer.generation
    send(explorer, content, buffers)
    assert explorer.status.startswith("error: ") and message in explorer.status
    assert not explorer.perturbed and explorer.generation == generation
    assert not bool(explorer.perturbation.any())
    stroke(explorer)  # and the widget goes on
    assert explorer.status == "idle" and explorer.perturbed


def test_undo_goes_back_one_change_at_a_time(explorer: Explorer) -> None:
    stroke(explorer, "brighten", 50)
    first = explorer.perturbation.clone()
    stroke(explorer, "darken", 50, coverage(explorer, slice(40, 50), slice(40, 50)))
    assert explorer.undo_depth == 2
    send(explorer, {"type": "undo"})
    assert torch.equal(explorer.perturbation, first) and explorer.undo_depth == 1
    send(explorer, {"type": "undo"})
    assert not explorer.perturbed and explorer.undo_depth == 0
    send(explorer, {"type": "undo"})
    assert explorer.status == "error: nothing to undo"


def test_reset_returns_to_the_clean_state(explorer: Explorer) -> None:
    clean_png, clean_targets = explorer.input_png, explorer.targets
    clean_maps = {key: entry["image"] for key, entry in explorer.maps.items()}
    stroke(explorer)
    explorer.attack("fgsm", eps=8)
    assert explorer.wait(60)
    send(explorer, {"type": "reset"})
    assert explorer.status == "idle" and not explorer.perturbed
    assert not bool(explorer.perturbation.any()) and not explorer.painted.any()
    assert explorer.input_png == clean_png and explorer.targets == clean_targets
    assert explorer.undo_depth == 0 and explorer.similarity == {}
    assert explorer.prediction_shift == 0 and explorer.perturbation_png == b""
    assert {key: entry["image"] for key, entry in explorer.maps.items()} == clean_maps


def test_an_attack_flips_the_prediction_and_moves_saliency_more_than_gbp(
    explorer: Explorer,
) -> None:
    before = explorer.targets[OUTPUT][0][0]
    target = explorer.target
    old = explorer.maps[map_key(OUTPUT, target, "saliency")]["image"]
    send(explorer, {"type": "attack", "method": "pgd", "eps": 8, "steps": 10, "target": None,
                    "masked": False})
    report = explorer.attack_report
    assert report["before"] == before and report["after"] != before and report["success"]
    assert explorer.targets[OUTPUT][0][0] == report["after"]
    assert not explorer.attacking and explorer.status == "idle" and explorer.progress == 1
    assert float(explorer.perturbation.abs().max()) <= 8 / 255 / 0.5 + 1e-6
    assert explorer.target == target  # the same class, explained on the new input
    assert explorer.maps[map_key(OUTPUT, target, "saliency")]["image"] != old
    assert explorer.maps[CLEAN + map_key(OUTPUT, target, "saliency")]["image"] == old
    # The paper's result: the saliency map moves, guided backprop's much less.
    assert explorer.similarity["saliency"] < explorer.similarity["guided_backprop"] - 0.1
    assert explorer.prediction_shift > 0.5


def test_a_targeted_attack_reaches_its_class_and_fgsm_takes_one_step(
    explorer: Explorer,
) -> None:
    explorer.attack("pgd", eps=16, steps=20, target=5)
    assert explorer.wait(60)
    assert explorer.attack_report["after"] == 5 and explorer.attack_report["success"]
    explorer.attack("fgsm", eps=4)
    assert explorer.wait(60)
    assert explorer.attack_report["steps"] == 1 and explorer.undo_depth == 2


def test_a_masked_attack_stays_in_the_painted_region(explorer: Explorer) -> None:
    stroke(explorer)
    send(explorer, {"type": "attack", "method": "pgd", "eps": 32, "steps": 5, "masked": True})
    assert explorer.attack_report["masked"]
    inside = np.zeros(explorer.input_shape, bool)
    inside[ROWS, COLS] = True
    assert not changed(explorer)[~inside].any()
    assert changed(explorer)[inside].any()


@pytest.mark.parametrize(("changes", "message"), [
    ({"method": "cw"}, "method must be one of"),
    ({"eps": 0}, "eps must be a number in (0, 64]"),
    ({"eps": 65}, "eps must be a number"),
    ({"eps": float("nan")}, "eps must be a number"),
    ({"eps": None}, "eps must be a number"),
    ({"steps": 0}, "steps must be in [1, 100]"),
    ({"steps": 101}, "steps must be in"),
    ({"steps": 2.5}, "steps must be an int"),
    ({"target": 10}, "target must be null or a class in [0, 10)"),
    ({"masked": True}, "paint a region first"),
    ({"masked": "yes"}, "masked must be a bool"),
])
def test_bad_attacks_are_rejected_and_shown(
    explorer: Explorer, changes: dict[str, Any], message: str,
) -> None:
    generation = explorer.generation
    send(explorer, {"type": "attack", "method": "pgd", "eps": 8, "steps": 5, **changes})
    assert explorer.status.startswith("error: ") and message in explorer.status
    assert not explorer.attacking and explorer.generation == generation


def _held(explorer: Explorer) -> threading.Event:
    """Hold the worker until the returned event is set (so that a test acts mid-attack)."""
    gate = threading.Event()
    explorer._worker.submit_task(lambda: gate.wait(30))
    return gate


def test_cancel_stops_an_attack_and_keeps_the_input(explorer: Explorer) -> None:
    stroke(explorer)
    kept = explorer.perturbation.clone()
    gate = _held(explorer)
    explorer.attack("pgd", eps=8, steps=100)
    assert explorer.attacking
    content, buffers = _stroke_message(explorer)
    explorer._on_custom_message(explorer, content, buffers)  # painting waits for the attack
    assert "an attack is running" in explorer.status
    explorer._on_custom_message(explorer, {"type": "undo"}, [])
    assert "an attack is running" in explorer.status
    explorer._on_custom_message(explorer, {"type": "attack", "method": "fgsm", "eps": 8}, [])
    assert "running already" in explorer.status
    explorer._on_custom_message(explorer, {"type": "cancel"}, [])
    gate.set()
    assert explorer.wait(60)
    assert explorer.attack_report == {"method": "pgd", "cancelled": True}
    assert torch.equal(explorer.perturbation, kept) and explorer.undo_depth == 1
    assert not explorer.attacking


def test_reset_during_an_attack_drops_its_result(explorer: Explorer) -> None:
    gate = _held(explorer)
    explorer.attack("pgd", eps=8, steps=5)
    explorer.reset()
    gate.set()
    assert explorer.wait(60)
    assert not explorer.perturbed and not explorer.attacking
    explorer.attack("fgsm", eps=8)  # and a new attack runs
    assert explorer.wait(60) and explorer.perturbed


def test_pgd_progress_is_reported(explorer: Explorer) -> None:
    seen: list[float] = []
    explorer.observe(lambda change: seen.append(change["new"]), "progress")
    explorer.attack("pgd", eps=8, steps=4)
    assert explorer.wait(60)
    assert [p for p in seen if 0 < p < 1][:3] == [0.25, 0.5, 0.75]


def test_the_charts_show_clean_vs_perturbed(explorer: Explorer) -> None:
    charts = explorer.charts
    assert np.asarray(charts.probability_bars.y).shape[0] == 1
    explorer.attack("pgd", eps=8, steps=10)
    assert explorer.wait(60)
    bars = np.asarray(charts.probability_bars.y)
    assert bars.shape == (2, explorer.top_k)
    clean = dict((int(i), p) for i, p in explorer.clean_targets)
    assert bars[1, 0] == pytest.approx(clean[explorer.targets[OUTPUT][0][0]])
    # The chart of what moved: one bar per method, named and coloured as the buttons, and the
    # prediction's move as a line; shown only while something is perturbed.
    assert list(charts.moves.x) == ["Saliency", "DeconvNet", "Guided backprop"]
    assert list(charts.moves.colors) == ["#e6550d", "#756bb1", "#31a354"]
    assert list(charts.prediction_line.x) == pytest.approx([explorer.prediction_shift] * 2)
    moved = dict(zip(charts.moves.x, charts.moves.y, strict=True))
    assert moved["Saliency"] > moved["Guided backprop"]
    assert list(charts.box.children) == charts.figures
    assert list(charts.probability_bars.colors) == [NOW_COLOUR, CLEAN_COLOUR]
    assert charts.probabilities.title == "now (blue) vs clean (grey)"
    explorer.reset()
    assert explorer.wait(60)
    assert np.asarray(charts.probability_bars.y).shape[0] == 1 and len(charts.moves.x) == 0
    assert charts.movement not in charts.box.children
    assert list(charts.probability_bars.colors) == [NOW_COLOUR]


def test_a_new_target_shows_its_similarity(explorer: Explorer) -> None:
    explorer.attack("fgsm", eps=8)
    assert explorer.wait(60)
    first = dict(explorer.similarity)
    explorer.target = explorer.targets[OUTPUT][3][0]
    assert explorer.wait(60)
    assert set(explorer.similarity) == set(METHODS) and explorer.similarity != first


def test_the_perturbation_picture_is_grey_where_nothing_changed() -> None:
    spec = models.load("shapes_cnn")
    delta = torch.zeros(1, 3, 4, 4)
    delta[0, :, 1, 1] = 4 / 255 / 0.5  # 4 pixel steps
    delta[0, 0, 2, 2] = -2 / 255 / 0.5
    picture, largest = perturbation_picture(spec, delta)
    assert picture.shape == (4, 4, 3) and picture.dtype == np.uint8
    assert largest == pytest.approx(4)
    assert picture[0, 0].tolist() == [128, 128, 128]
    assert picture[1, 1].tolist() == [255, 255, 255]
    assert picture[2, 2, 0] == 128 - 64 or picture[2, 2, 0] == 128 - 63
    assert prediction_shift(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])) == 1
