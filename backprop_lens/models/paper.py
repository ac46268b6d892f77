"""The random networks of Nie, Zhang & Patel (ICML 2018), as the authors' code builds them.

All three take 0–255 RGB minus the pixel mean (123.68, 116.779, 103.939), with no division by a
standard deviation, and draw every weight from N(0, σ²) truncated at ±2σ:

- ``paper_cnn``: conv 7×7, stride 1, SAME padding, N filters (bias 0, σ 0.1) → ReLU →
  optionally max-pool 9×9, stride 1, SAME → one linear layer to the classes (bias 0, σ 0.1).
  ``depth`` > 1 stacks that many conv-ReLU(-pool) blocks, for the paper's depth experiment.
- ``paper_fcn``: flatten → linear to ``hidden`` units (bias 1.0, σ 0.1) → ReLU → linear to the
  classes (bias 0, σ 10).
- ``vgg16`` with ``weights="random"`` (in ``imagenet.py``): torchvision's VGG-16, every weight
  σ 0.1, convolution biases 0, fully connected biases 1.0.

The paper used 1000 outputs. Guided backprop for class k reads only row k of the last layer, so
fewer outputs give the same maps for the classes kept, at a fraction of the memory: the
default here is 10.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from ..data.images import as_size
from .init import LayerInit, build_uninitialized, initialize_all, paper_initializer
from .lens_model import LensModel

#: The authors' input convention: 0–255 pixels minus this mean, no division.
PAPER_MEAN = (123.68, 116.779, 103.939)
PAPER_STD = (1.0, 1.0, 1.0)


def _check_positive(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return value


def paper_cnn(
    n_filters: int = 64,
    max_pool: bool = False,
    n_classes: int = 10,
    input_size: int | tuple[int, int] = 224,
    seed: int = 0,
    depth: int = 1,
) -> LensModel:
    """The paper's random one-layer CNN (or ``depth`` conv layers); see the module doc.

    The layers are named ``conv``, ``relu``, ``pool``, ``flatten``, ``fc`` (with ``depth`` > 1:
    ``conv1``, ``relu1``, ``pool1``, ``conv2``, …, each pool after its block's ReLU). The same
    ``seed`` gives bit-identical weights; the global random state is not touched.
    """
    _check_positive(n_filters, "n_filters")
    _check_positive(n_classes, "n_classes")
    _check_positive(depth, "depth")
    if not isinstance(max_pool, bool):
        raise TypeError(f"max_pool must be a bool; got {type(max_pool).__name__}")
    height, width = as_size(input_size)

    def build() -> nn.Module:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels = 3
        for block in range(1, depth + 1):
            suffix = "" if depth == 1 else str(block)
            layers[f"conv{suffix}"] = nn.Conv2d(channels, n_filters, kernel_size=7, padding=3)
            layers[f"relu{suffix}"] = nn.ReLU()
            if max_pool:
                layers[f"pool{suffix}"] = nn.MaxPool2d(kernel_size=9, stride=1, padding=4)
            channels = n_filters
        layers["flatten"] = nn.Flatten()
        layers["fc"] = nn.Linear(n_filters * height * width, n_classes)
        return nn.Sequential(layers)

    initializer = paper_initializer({})  # every layer: σ 0.1, bias 0
    module = build_uninitialized(build).eval()  # ready to explain: no dropout, no BN updates
    initialize_all(module, initializer, seed)
    kind = f"{depth}-conv-layer" if depth > 1 else "one-conv-layer"
    return LensModel(
        module, [str(i) for i in range(n_classes)], (height, width), PAPER_MEAN, PAPER_STD,
        255.0, name="paper_cnn",
        description=(f"the paper's random {kind} CNN: {n_filters} 7×7 filters"
                     f"{', max-pool 9×9' if max_pool else ''}, seed {seed}"),
        initializer=initializer,
    )


def paper_fcn(
    hidden: int = 5000,
    n_classes: int = 10,
    input_size: int | tuple[int, int] = 64,
    seed: int = 0,
) -> LensModel:
    """The paper's random fully connected network; see the module doc.

    Layers: ``flatten``, ``fc1`` (``hidden`` units, bias 1.0), ``relu``, ``fc2`` (σ 10).
    """
    _check_positive(hidden, "hidden")
    _check_positive(n_classes, "n_classes")
    height, width = as_size(input_size)

    def build() -> nn.Module:
        return nn.Sequential(OrderedDict(
            flatten=nn.Flatten(),
            fc1=nn.Linear(3 * height * width, hidden),
            relu=nn.ReLU(),
            fc2=nn.Linear(hidden, n_classes),
        ))

    initializer = paper_initializer({"fc1": LayerInit(0.1, 1.0), "fc2": LayerInit(10.0, 0.0)})
    module = build_uninitialized(build).eval()  # ready to explain: no dropout, no BN updates
    initialize_all(module, initializer, seed)
    return LensModel(
        module, [str(i) for i in range(n_classes)], (height, width), PAPER_MEAN, PAPER_STD,
        255.0, name="paper_fcn",
        description=f"the paper's random fully connected network: {hidden} hidden units, "
                    f"seed {seed}",
        initializer=initializer,
    )
