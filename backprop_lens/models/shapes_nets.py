"""The two small CNNs trained on the shapes data set, and loading their shipped weights.

Both are VGG-style: three 3×3 conv-ReLU blocks (16, 32, 64 channels), then fully connected
4096 → 128 → 10. They differ only in how each block halves the resolution:

- ``shapes_cnn``: convolution with stride 1, then 2×2 max-pooling (``pool1``…``pool3``).
- ``shapes_cnn_strided``: the convolution itself has stride 2; no max-pooling anywhere.

So the pair shows the paper's max-pooling effect on trained weights. The weights are trained by
``python -m backprop_lens.models.train_shapes`` and shipped in ``weights/`` as safetensors,
each with a JSON record of the command, seeds, data and test accuracy beside it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from importlib import resources
from typing import Any

from safetensors.torch import load
from torch import nn

from ..data.shapes import CLASSES
from .init import build_uninitialized
from .lens_model import LensModel

SHAPES_MODELS = ("shapes_cnn", "shapes_cnn_strided")

#: Inputs are RGB in [0, 1] mapped to [-1, 1].
SHAPES_MEAN = (0.5, 0.5, 0.5)
SHAPES_STD = (0.5, 0.5, 0.5)
INPUT_SIZE = 64
CHANNELS = (16, 32, 64)
HIDDEN = 128


def shapes_module(max_pool: bool = True) -> nn.Sequential:
    """The architecture of ``shapes_cnn`` (``max_pool=True``) or ``shapes_cnn_strided``."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels = 3
    for block, width in enumerate(CHANNELS, start=1):
        stride = 1 if max_pool else 2
        layers[f"conv{block}"] = nn.Conv2d(channels, width, 3, stride=stride, padding=1)
        layers[f"relu{block}"] = nn.ReLU()
        if max_pool:
            layers[f"pool{block}"] = nn.MaxPool2d(2)
        channels = width
    side = INPUT_SIZE // 2 ** len(CHANNELS)
    layers["flatten"] = nn.Flatten()
    layers["fc1"] = nn.Linear(channels * side * side, HIDDEN)
    layers["relu4"] = nn.ReLU()
    layers["fc2"] = nn.Linear(HIDDEN, len(CLASSES))
    return nn.Sequential(layers)


def weight_record(name: str) -> dict[str, Any]:
    """The JSON record shipped beside the weights of ``name``: command, seeds, accuracy, …"""
    _check_name(name)
    text = resources.files(__package__).joinpath("weights", f"{name}.json").read_text("utf-8")
    record: dict[str, Any] = json.loads(text)
    return record


def load_shapes_model(name: str) -> LensModel:
    """The trained model ``name`` (one of :data:`SHAPES_MODELS`) with its shipped weights."""
    _check_name(name)
    data = resources.files(__package__).joinpath("weights", f"{name}.safetensors").read_bytes()
    module = build_uninitialized(lambda: shapes_module(max_pool=name == "shapes_cnn"))
    module.load_state_dict(load(data), strict=True)
    module.eval()
    record = weight_record(name)
    accuracy = record.get("test_accuracy")
    return LensModel(
        module, list(CLASSES), (INPUT_SIZE, INPUT_SIZE), SHAPES_MEAN, SHAPES_STD, 1.0, name=name,
        description=(f"{'max-pooling' if name == 'shapes_cnn' else 'strided-convolution'} CNN "
                     f"trained on data.shapes"
                     + (f", test accuracy {accuracy:.1%}" if accuracy is not None else "")),
    )


def _check_name(name: object) -> None:
    if name not in SHAPES_MODELS:
        raise ValueError(f"name must be one of {SHAPES_MODELS}; got {name!r}")
