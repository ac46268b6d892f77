"""Small networks for the engine tests: one per way of writing a ReLU, plus a reference."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


class TinyNet(nn.Module):
    """conv → ReLU → max-pool → conv → ReLU → linear; subclasses choose how the ReLU is written."""

    def __init__(self, n_classes: int = 5, size: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 4, 3, padding=1)
        self.fc = nn.Linear(4 * (size // 2) ** 2, n_classes)

    def act(self, x: torch.Tensor, index: int) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.act(self.conv1(x), 0))
        x = self.act(self.conv2(x), 1)
        return self.fc(x.flatten(1))


class SeparateReLUNet(TinyNet):
    """The reference: one distinct, not-in-place ``nn.ReLU`` module per use (what Captum needs)."""

    def __init__(self, n_classes: int = 5, size: int = 8) -> None:
        super().__init__(n_classes, size)
        self.relu1 = nn.ReLU()
        self.relu2 = nn.ReLU()

    def act(self, x: torch.Tensor, index: int) -> torch.Tensor:
        return (self.relu1, self.relu2)[index](x)


class InplaceModulesNet(TinyNet):
    def __init__(self, n_classes: int = 5, size: int = 8) -> None:
        super().__init__(n_classes, size)
        self.relu1 = nn.ReLU(inplace=True)
        self.relu2 = nn.ReLU(inplace=True)

    def act(self, x: torch.Tensor, index: int) -> torch.Tensor:
        return (self.relu1, self.relu2)[index](x)


class ReusedModuleNet(TinyNet):
    def __init__(self, n_classes: int = 5, size: int = 8) -> None:
        super().__init__(n_classes, size)
        self.relu = nn.ReLU()

    def act(self, x: torch.Tensor, index: int) -> torch.Tensor:
        return self.relu(x)


def _functional(fn: Callable[[torch.Tensor], torch.Tensor], name: str) -> type[TinyNet]:
    def act(self: TinyNet, x: torch.Tensor, index: int) -> torch.Tensor:
        return fn(x)

    return type(name, (TinyNet,), {"act": act})


FORMS: dict[str, type[TinyNet]] = {
    "nn.ReLU": SeparateReLUNet,
    "nn.ReLU(inplace=True)": InplaceModulesNet,
    "nn.ReLU reused": ReusedModuleNet,
    "F.relu": _functional(F.relu, "FRelu"),
    "F.relu(inplace=True)": _functional(lambda x: F.relu(x, inplace=True), "FReluInplace"),
    "F.relu(x, True)": _functional(lambda x: F.relu(x, True), "FReluInplacePositional"),
    "torch.relu": _functional(torch.relu, "TorchRelu"),
    "Tensor.relu": _functional(lambda x: x.relu(), "TensorRelu"),
    "torch.relu_": _functional(torch.relu_, "TorchReluInplace"),
    "Tensor.relu_": _functional(lambda x: x.relu_(), "TensorReluInplace"),
    "F.relu_": _functional(F.relu_, "FReluUnderscore"),
    "nn.ReLU made in forward": _functional(lambda x: nn.ReLU()(x), "ReluMadeInForward"),
}


def same_weights(net: nn.Module, reference: nn.Module) -> nn.Module:
    """``reference`` with ``net``'s parameters (the ReLUs carry none)."""
    reference.load_state_dict(net.state_dict())
    return reference.eval()


def assert_close_maps(ours: torch.Tensor, reference: torch.Tensor) -> None:
    """The agreement the engine promises: max |difference| ≤ 1e-5 × max |reference|."""
    assert ours.shape == reference.shape
    scale = reference.abs().max().item()
    assert scale > 0, "the reference map is all zeros: the comparison would prove nothing"
    error = (ours - reference).abs().max().item()
    assert error <= 1e-5 * scale, f"max abs difference {error:.3g} > 1e-5 × {scale:.3g}"
