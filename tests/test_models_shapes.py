"""The shipped trained shapes models: files, records, accuracy on fresh data, end-to-end use."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import torch
from torch import nn

from backprop_lens import attribute, data, models
from backprop_lens.models import train_shapes
from backprop_lens.models.shapes_nets import SHAPES_MODELS, shapes_module

pytestmark = pytest.mark.usefixtures("no_network")

#: Images for the accuracy check: a seed below 1000, never used in training (see train_shapes).
FRESH_SEED = 7
FRESH_IMAGES = 300


def _weights(name: str) -> resources.abc.Traversable:
    return resources.files("backprop_lens.models").joinpath("weights", f"{name}.safetensors")


@pytest.mark.parametrize("name", SHAPES_MODELS)
def test_weights_ship_inside_the_package_with_their_record(name: str) -> None:
    weights = _weights(name)
    assert weights.is_file()
    assert len(weights.read_bytes()) <= 5 * 1024 * 1024
    record = models.weight_record(name)
    assert record["model"] == name
    assert record["command"].startswith("python -m backprop_lens.models.train_shapes")
    assert isinstance(record["seed"], int)
    assert record["test_data"] == {"seed": train_shapes.TEST_SEED, "images": 2000}
    train_seeds = record["train_data"]["seeds"]
    assert train_seeds[0] >= 1000 and train_shapes.TEST_SEED not in range(
        train_seeds[0], train_seeds[1] + 1)
    assert record["train_seconds"] <= 15 * 60
    assert record["test_accuracy"] >= (0.97 if name == "shapes_cnn" else 0.95)


@pytest.mark.parametrize(("name", "least"), [("shapes_cnn", 0.95), ("shapes_cnn_strided", 0.95)])
def test_shipped_model_is_accurate_on_freshly_generated_images(name: str, least: float) -> None:
    spec = models.load(name)
    images, labels, _ = data.shapes.generate(FRESH_IMAGES, seed=FRESH_SEED)
    assert train_shapes.accuracy(spec.module, images, labels) >= least


def test_shipped_models_differ_only_in_pooling() -> None:
    pooled, strided = models.load("shapes_cnn"), models.load("shapes_cnn_strided")
    kinds = {type(m) for _, m in pooled.module.named_modules()}
    assert nn.MaxPool2d in kinds
    assert nn.MaxPool2d not in {type(m) for m in strided.module.modules()}
    assert all(not isinstance(m, nn.BatchNorm2d) for m in pooled.module.modules())
    assert [n for n, _ in pooled.layers] == [
        "conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3", "pool3",
        "fc1", "relu4", "fc2"]
    assert strided.layers[0] == ("conv1", (16, 32, 32))
    assert pooled.classes == list(data.shapes.CLASSES)
    assert pooled.input_size == (64, 64)


def test_preprocess_matches_what_training_fed_the_network() -> None:
    spec = models.load("shapes_cnn")
    images = data.shapes.generate(4, seed=8).images
    batch = torch.cat([spec.preprocess(image) for image in images])
    assert torch.allclose(batch, train_shapes.to_input(images), atol=1e-6)


def test_the_quick_start_runs_offline() -> None:
    """The issue's "done when": load, generate, attribute."""
    spec = models.load("shapes_cnn")
    imgs, labels, masks = data.shapes.generate(8, seed=123)
    x = torch.cat([spec.preprocess(image) for image in imgs])
    maps = attribute(spec, x[:1], "guided_backprop", target=int(labels[0]))
    assert maps.shape == (1, 3, 64, 64)
    per_image = attribute(spec, x, "guided_backprop", target="max")
    assert per_image.shape == (8, 3, 64, 64) and torch.isfinite(per_image).all()
    # The map's energy sits on the object more than its area share would give.
    energy = per_image.abs().sum(dim=1).numpy()
    on_object = (energy * masks).sum(axis=(1, 2)) / energy.sum(axis=(1, 2))
    assert np.median(on_object / masks.mean(axis=(1, 2))) > 1.5


def test_fold_batch_norm_keeps_the_function() -> None:
    torch.manual_seed(0)
    trained = train_shapes.with_batch_norm(max_pool=True)
    for module in trained.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    trained.eval()
    plain = train_shapes.fold_batch_norm(trained, max_pool=True)
    assert type(plain) is type(shapes_module())
    x = torch.randn(3, 3, 64, 64)
    assert torch.allclose(plain(x), trained(x), atol=1e-4)


@pytest.mark.slow
def test_training_is_deterministic_for_a_seed() -> None:
    first, record = train_shapes.train("shapes_cnn_strided", seed=3, rounds=1, per_round=256,
                                       log=False)
    again, _ = train_shapes.train("shapes_cnn_strided", seed=3, rounds=1, per_round=256,
                                  log=False)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(),
                                                   again.state_dict().values(), strict=True))
    assert record["seed"] == 3 and 0.0 <= record["test_accuracy"] <= 1.0


def test_train_rejects_unknown_models() -> None:
    with pytest.raises(ValueError, match="one of"):
        train_shapes.train("resnet")
