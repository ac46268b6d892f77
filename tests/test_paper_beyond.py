"""The block beyond the paper (paper.beyond): every method's class sensitivity, mass on the
chosen object, and randomisation curves; and how `reproduce` runs the block."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from backprop_lens import METHODS, attribute, data, models
from backprop_lens.engine.method_objects import IntegratedGradients, SmoothGrad
from backprop_lens.metrics import mass_inside
from backprop_lens.paper import beyond
from backprop_lens.paper.claims import RANDOM_SSIM_KEPT, RANDOM_SSIM_LOST, SENSITIVITY_FACTOR
from backprop_lens.paper.inputs import as_inputs
from backprop_lens.paper.reproduce import BEYOND, check_ids, reproduce, runs

pytestmark = pytest.mark.usefixtures("no_network")


@pytest.fixture(scope="module")
def shapes() -> models.LensModel:
    return models.load("shapes_cnn")


def test_quick_runs_use_fewer_samples_and_steps_full_runs_the_defaults() -> None:
    assert beyond.method_settings(beyond.FULL) == {m: m for m in METHODS}
    quick = beyond.method_settings(beyond.QUICK)
    smoothgrad, integrated = quick["smoothgrad"], quick["integrated_gradients"]
    assert isinstance(smoothgrad, SmoothGrad) and smoothgrad.samples == beyond.QUICK.samples
    assert isinstance(integrated, IntegratedGradients)
    assert integrated.steps == beyond.QUICK.steps
    with pytest.raises(TypeError, match="quick must be a bool"):
        beyond.beyond_budget("yes")  # type: ignore[arg-type]


@pytest.mark.slow
def test_class_sensitivity_of_every_method_with_mass_on_the_chosen_object(
    shapes: models.LensModel,
) -> None:
    batch = data.shapes.generate(2, seed=5, objects=2)
    result = beyond.class_sensitivity(model=shapes, batch=batch, quick=True)
    metrics = result.metrics["two-object images"]
    assert set(metrics) == set(METHODS)
    for values in metrics.values():
        assert 0 <= values["on_object"] <= 1 and 0 <= values["on_other"] <= 1
        assert 0 <= values["distance"] <= 2
    # the mass is measured on the chosen object's own mask: image 0, class 0
    gradcam = result.maps["object 1's class"]["gradcam"]
    one = attribute(shapes, as_inputs(shapes, [batch.images[0]]), "gradcam",
                    target=int(batch.labels[0, 0]))
    torch.testing.assert_close(gradcam[0:1], one)
    assert mass_inside(gradcam[0], batch.masks[0, 0]) > 0
    ratios, masses = result.claims[:2], result.claims[2:]
    assert [c.threshold for c in ratios] == [SENSITIVITY_FACTOR] * 2
    assert ratios[0].value == pytest.approx(
        metrics["gradcam"]["distance"] / metrics["guided_backprop"]["distance"])
    assert masses[1].value == pytest.approx(
        metrics["guided_gradcam"]["on_object"] - metrics["guided_backprop"]["on_object"])
    assert all(c.model == "shapes_cnn" and c.id == "methods_class_sensitivity"
               for c in result.claims)
    assert len(result.grid.rows) == 1 + len(METHODS)


def test_class_sensitivity_needs_two_object_images(shapes: models.LensModel) -> None:
    with pytest.raises(ValueError, match="two-object images"):
        beyond.class_sensitivity(model=shapes, batch=data.shapes.generate(2, seed=5))


def test_class_sensitivity_on_photos_uses_each_pictures_top_classes() -> None:
    spec = models.paper_cnn(n_filters=4, input_size=32, n_classes=6)
    rng = np.random.default_rng(3)
    pictures = [rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8) for _ in range(2)]
    result = beyond.class_sensitivity_photos(model=spec, images=pictures, quick=True)
    assert list(result.maps) == ["top-1 class", "top-2 class"]
    assert "2 given images; targets: each photo's top-2 classes" in result.setting
    assert set(result.metrics["mean over photos"]) == set(METHODS)
    assert all(math.isfinite(c.value) for c in result.claims)


@pytest.mark.slow
def test_randomisation_curves_compare_each_level_with_the_trained_maps(
    shapes: models.LensModel,
) -> None:
    images = data.shapes.generate(1, seed=9).images
    result = beyond.randomisation(model=shapes, images=images, quick=True)
    layers = shapes.parameter_layers
    assert len(result.metrics) == len(layers)  # one level per layer, top first
    top, last = next(iter(result.metrics)), list(result.metrics)[-1]
    assert top == layers[-1] and last.endswith(layers[0])
    for column in result.metrics.values():
        assert set(column) == set(METHODS)
        assert all(-1 <= column[m]["ssim"] <= 1 and -1 <= column[m]["spearman"] <= 1
                   for m in METHODS)
    # the last level is the model with every layer re-drawn, as models.randomize makes it
    x = as_inputs(shapes, list(images))
    target = int(shapes.module(x).argmax())
    redrawn = models.randomize(shapes, "cascade", layers[0], seed=0)
    torch.testing.assert_close(result.maps[last]["saliency"],
                               attribute(redrawn, x, "saliency", target=target))
    lost, lost_saliency, kept = result.claims
    assert (lost.threshold, lost.op, kept.threshold, kept.op) == (
        RANDOM_SSIM_LOST, "<=", RANDOM_SSIM_KEPT, ">=")
    assert lost.value == result.metrics[last]["gradcam"]["ssim"]
    assert lost_saliency.value == result.metrics[last]["saliency"]["ssim"]
    assert kept.value == result.metrics[last]["guided_backprop"]["ssim"]


def test_randomisation_levels_are_checked(shapes: models.LensModel) -> None:
    x = as_inputs(shapes, list(data.shapes.generate(1, seed=9).images))
    with pytest.raises(ValueError, match="non-empty list"):
        beyond.curves(shapes, x, [], "one image")
    with pytest.raises(ValueError, match="levels must name modules"):
        beyond.curves(shapes, x, ["nope"], "one image")


@pytest.mark.slow
def test_reproduce_runs_the_block_after_the_paper(
    tmp_path: Path, shapes: models.LensModel, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert check_ids(["methods_randomisation", "fcn"]) == ["fcn", "methods_randomisation"]
    assert runs("methods_class_sensitivity") == [
        beyond.class_sensitivity, beyond.class_sensitivity_photos]
    small = data.shapes.generate(2, seed=5, objects=2)
    # the real experiment on a small batch, the shapes CNN standing in for the photos' model
    monkeypatch.setitem(BEYOND, "methods_class_sensitivity", [
        functools.partial(beyond.class_sensitivity, model=shapes, batch=small),
        functools.partial(beyond.class_sensitivity_photos, model=shapes,
                          images=list(small.images))])
    claims = reproduce(tmp_path, quick=True, only="methods_class_sensitivity")
    assert "beyond the paper" in capsys.readouterr().err
    measured = json.loads((tmp_path / "metrics.json").read_text("utf-8"))
    assert list(measured) == ["methods_class_sensitivity", "methods_class_sensitivity-shapes_cnn"]
    assert (tmp_path / "methods_class_sensitivity.png").stat().st_size > 0
    assert len(claims) == 4 + 2
    assert "| `shapes_cnn` | `methods_class_sensitivity` |" in (
        tmp_path / "claims.md").read_text("utf-8")
