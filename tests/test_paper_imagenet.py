"""The trained-network experiments on an ImageNet network (paper.imagenet), the claims' model
column, and how reproduce runs an experiment on several models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from backprop_lens import attribute, data, models, paper
from backprop_lens.paper.claims import Claim
from backprop_lens.paper.imagenet import stage_levels
from backprop_lens.paper.reproduce import EXPERIMENTS, ON_IMAGENET, claims_table, runs
from backprop_lens.paper.trained import cascade_experiment

pytestmark = pytest.mark.usefixtures("no_network")

METHODS = {"saliency", "deconvnet", "guided_backprop"}


def _pictures(n: int, size: int = 32) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8) for _ in range(n)]


def _finite(claims: list[Claim]) -> bool:
    return all(math.isfinite(c.value) for c in claims)


def test_class_sensitivity_on_photos_uses_each_pictures_top5_classes() -> None:
    spec = models.paper_cnn(n_filters=4, input_size=32, seed=1)
    result = paper.imagenet.class_sensitivity(model=spec, images=_pictures(2))
    assert list(result.maps) == [f"top-{k} class" for k in range(1, 6)]
    assert all(m.shape == (2, 3, 32, 32) for column in result.maps.values()
               for m in column.values())
    assert set(result.metrics) == {"mean over photos", "image 1", "image 2"}
    mean = result.metrics["mean over photos"]
    assert set(mean) == METHODS
    assert mean["saliency"]["distance"] == pytest.approx(np.mean(
        [result.metrics[f"image {i}"]["saliency"]["distance"] for i in (1, 2)]))
    # the two ratio claims of the shapes CNN; photos have no masks for the third
    assert [c.metric for c in result.claims] == ["mean L2 distance: saliency / GBP",
                                                 "mean L2 distance: saliency / DeconvNet"]
    assert _finite(result.claims)
    assert {c.model for c in result.claims} == {spec.name} == {result.model}
    assert "top-5 classes" in result.setting and "not measured" in result.setting


def test_class_sensitivity_needs_two_classes() -> None:
    spec = models.paper_cnn(n_filters=4, n_classes=1, input_size=32)
    with pytest.raises(ValueError, match="at least 2 classes"):
        paper.imagenet.class_sensitivity(model=spec, images=_pictures(1))


def test_partial_training_cascades_over_the_given_levels() -> None:
    spec = models.paper_cnn(n_filters=4, depth=2, input_size=32, seed=2)
    result = paper.imagenet.partial_training(model=spec, images=_pictures(2))
    top, *_ = layers = spec.parameter_layers[::-1]  # the default for a network not ours
    assert list(result.metrics) == [top, *(f"{top} … {layer}" for layer in layers[1:])]
    assert list(result.maps) == ["trained", *result.metrics]
    assert len(result.claims) == 2 and _finite(result.claims)
    assert result.claims[0].model == spec.name


def test_partial_training_levels_are_checked() -> None:
    spec = models.paper_cnn(n_filters=4, input_size=32)
    with pytest.raises(ValueError, match="levels must name modules"):
        paper.imagenet.partial_training(model=spec, images=_pictures(1), levels=["nope"])
    with pytest.raises(ValueError, match="levels must be a non-empty list"):
        paper.imagenet.partial_training(model=spec, images=_pictures(1), levels=[])


def test_a_level_redraws_from_its_first_parameter_layer_up() -> None:
    # a level naming a block re-draws from the block's first layer with parameters
    torch.manual_seed(0)
    module = nn.Sequential(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()),
                           nn.Flatten(), nn.Linear(4 * 16 * 16, 3))
    spec = models.as_lens_model(module, input_size=16, classes=["a", "b", "c"])
    x = spec.preprocess(_pictures(1, size=16)[0])
    result = cascade_experiment(spec, x, ["2", "0"], "1 image")
    assert list(result.metrics) == ["2", "2 … 0"]
    top = int(spec.module(x).argmax())
    everything = models.randomize(spec, "cascade", "0.0", seed=0)
    assert torch.equal(result.maps["2 … 0"]["saliency"],
                       attribute(everything, x, "saliency", target=top))


def test_efficientnet_levels_are_its_stages_top_first() -> None:
    spec = models.load("efficientnet_lite0")
    levels = stage_levels(spec)
    assert levels == ["_fc", "_conv_head", "_blocks.15", "_blocks.11", "_blocks.8",
                      "_blocks.5", "_blocks.3", "_blocks.1", "_blocks.0", "_conv_stem"]
    layers = spec.parameter_layers
    starts = [next(n for n in layers if n == level or n.startswith(f"{level}."))
              for level in levels]
    assert [layers.index(s) for s in starts] == sorted((layers.index(s) for s in starts),
                                                       reverse=True)
    assert starts[-1] == layers[0]  # the last level re-draws every layer
    with pytest.raises(TypeError, match="EfficientNetLite0"):
        stage_levels(models.paper_cnn(input_size=32))


def test_adversarial_on_given_pictures_keeps_every_flipped_one() -> None:
    spec = models.load("shapes_cnn")
    result = paper.imagenet.adversarial(model=spec, images=list(data.shapes.generate(
        6, seed=2).images))
    flipped = len(result.maps["clean"]["saliency"])
    assert "6 given images; L∞ PGD" in result.setting
    assert f"it flipped {flipped} of 6, all are used" in result.setting
    assert result.claims[0].model == "shapes_cnn" and _finite(result.claims)


def test_the_claims_table_has_a_model_column() -> None:
    claims = [Claim("a", "c", "m", 0.5, 0.6, ">=", "efficientnet_lite0"),
              Claim("b", "c", "m", 0.5, 0.6, ">=", "paper_cnn, paper_fcn"),
              Claim("c", "c", "m", 0.5, 0.6, ">=")]
    lines = claims_table(claims).splitlines()
    assert lines[0] == "| model | id | claim | metric | value | threshold | holds |"
    assert lines[2].startswith("| `efficientnet_lite0` | `a` |")
    assert lines[3].startswith("| `paper_cnn`, `paper_fcn` | `b` |")
    assert lines[4].startswith("| — | `c` |")
    # claims.json keeps its fields; the model is filed with each run in metrics.json
    assert "model" not in claims[0].as_dict()


def test_recovery_results_name_their_networks() -> None:
    result = paper.fcn(model=models.paper_fcn(hidden=20, input_size=32),
                       reference=models.paper_cnn(n_filters=4, input_size=32),
                       images=_pictures(1))
    assert result.model == "paper_cnn, paper_fcn"
    assert result.claims[0].model == result.model
    assert result.header()[0].startswith("fcn on paper_cnn, paper_fcn: ")


def test_the_trained_network_experiments_also_run_on_imagenet() -> None:
    assert set(ON_IMAGENET) == {"class_sensitivity", "adversarial", "partial_training"}
    assert runs("class_sensitivity") == [EXPERIMENTS["class_sensitivity"],
                                         paper.imagenet.class_sensitivity]
    assert runs("random_cnn") == [EXPERIMENTS["random_cnn"]]
