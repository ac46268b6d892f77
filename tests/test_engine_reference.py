"""Agreement with Captum on real architectures (random weights, small inputs)."""

from __future__ import annotations

import copy
import types

import pytest
import torch
import torchvision
from engine_nets import PAPER_METHODS, assert_close_maps
from test_engine_rules import captum_map
from torch import nn
from torchvision.models.resnet import BasicBlock

from backprop_lens import attribute


@pytest.fixture(scope="module")
def vgg16() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.vgg16(weights=None).eval()


@pytest.fixture(scope="module")
def resnet18() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


def _basic_block_with_two_relus(block: BasicBlock, x: torch.Tensor) -> torch.Tensor:
    out = block.relu_a(block.bn1(block.conv1(x)))
    out = block.bn2(block.conv2(out))
    identity = x if block.downsample is None else block.downsample(x)
    return block.relu_b(out + identity)


def separate_relus(resnet: nn.Module) -> nn.Module:
    """The same ResNet with one distinct ``nn.ReLU`` per use: torchvision's blocks reuse theirs,
    which Captum's module hooks cannot follow."""
    reference = copy.deepcopy(resnet)
    reference.relu = nn.ReLU()
    for block in reference.modules():
        if isinstance(block, BasicBlock):
            block.relu_a, block.relu_b = nn.ReLU(), nn.ReLU()
            block.forward = types.MethodType(_basic_block_with_two_relus, block)
    return reference.eval()


@pytest.mark.parametrize("method", PAPER_METHODS)
def test_vgg16_matches_captum(vgg16: nn.Module, method: str) -> None:
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    for target in (7, 420):
        assert_close_maps(attribute(vgg16, x, method, target), captum_map(vgg16, x, method, target))


@pytest.mark.parametrize("method", PAPER_METHODS)
def test_resnet18_matches_captum_on_a_separate_relu_rewrite(
    resnet18: nn.Module, method: str
) -> None:
    reference = separate_relus(resnet18)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    for target in (3, 999):
        want = captum_map(reference, x, method, target)
        assert_close_maps(attribute(resnet18, x, method, target), want)


def test_resnet18_rewrite_is_the_same_function(resnet18: nn.Module) -> None:
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(separate_relus(resnet18)(x), resnet18(x), atol=1e-6)
