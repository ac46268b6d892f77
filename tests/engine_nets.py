"""Small networks for the engine tests: one per way of writing a ReLU, plus a reference."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: The paper's three methods: one backward rule at every rectifier tells them apart.
PAPER_METHODS = ("saliency", "deconvnet", "guided_backprop")


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
    # Rectifiers written another way (issue 11, item 6): the same ReLU to the rules.
    "x.clamp(min=0)": _functional(lambda x: x.clamp(min=0), "ClampMin"),
    "x.clamp(0)": _functional(lambda x: x.clamp(0), "ClampPositional"),
    "torch.clamp(x, min=0.0)": _functional(lambda x: torch.clamp(x, min=0.0), "TorchClamp"),
    "torch.clamp_min(x, 0)": _functional(lambda x: torch.clamp_min(x, 0), "TorchClampMin"),
    "x.clamp_(min=0)": _functional(lambda x: x.clamp_(min=0), "ClampInplace"),
    "x.clamp_min_(0)": _functional(lambda x: x.clamp_min_(0), "ClampMinInplace"),
    "nn.Threshold(0, 0)": _functional(nn.Threshold(0, 0), "Threshold"),
    "F.threshold(x, 0, 0, inplace=True)": _functional(
        lambda x: F.threshold(x, 0.0, 0.0, inplace=True), "ThresholdInplace"),
    "nn.Hardtanh(0, inf)": _functional(nn.Hardtanh(0.0, float("inf")), "HardtanhUncapped"),
}


class ReferenceCapped(torch.autograd.Function):
    """A rectifier capped at ``upper`` with each method's rule written out by hand (issue 12):
    m = 1[0<a<upper]; saliency g·m, DeconvNet relu(g), guided backprop relu(g)·m."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, method: str, upper: float) -> torch.Tensor:
        ctx.save_for_backward(a)
        ctx.method = method
        ctx.upper = upper
        return a.clamp(0, upper)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (a,) = ctx.saved_tensors
        m = ((a > 0) & (a < ctx.upper)).to(g.dtype)
        rule = {"saliency": g * m, "deconvnet": g.clamp(min=0),
                "guided_backprop": g.clamp(min=0) * m}
        return rule[ctx.method], None, None


class ReferenceReLU6(nn.Module):
    """``nn.ReLU6`` whose plain gradient is ``method``'s rule (the reference for the engine)."""

    def __init__(self, method: str, upper: float = 6.0) -> None:
        super().__init__()
        self.method = method
        self.upper = upper

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ReferenceCapped.apply(x, self.method, self.upper)


class Reference6Net(TinyNet):
    """TinyNet with the hand-written ReLU6 rule; compared by its plain gradient."""

    def __init__(self, method: str, n_classes: int = 5, size: int = 8) -> None:
        super().__init__(n_classes, size)
        self.method = method

    def act(self, x: torch.Tensor, index: int) -> torch.Tensor:
        return ReferenceCapped.apply(x, self.method, 6.0)


class ReLU6ModulesNet(TinyNet):
    def __init__(self, n_classes: int = 5, size: int = 8, inplace: bool = False) -> None:
        super().__init__(n_classes, size)
        self.act1 = nn.ReLU6(inplace=inplace)
        self.act2 = nn.ReLU6(inplace=inplace)

    def act(self, x: torch.Tensor, index: int) -> torch.Tensor:
        return (self.act1, self.act2)[index](x)


class ReusedReLU6Net(TinyNet):
    def __init__(self, n_classes: int = 5, size: int = 8) -> None:
        super().__init__(n_classes, size)
        self.act6 = nn.ReLU6(inplace=True)

    def act(self, x: torch.Tensor, index: int) -> torch.Tensor:
        return self.act6(x)


FORMS6: dict[str, type[TinyNet]] = {
    "nn.ReLU6": ReLU6ModulesNet,
    "nn.ReLU6(inplace=True)": type("ReLU6Inplace", (ReLU6ModulesNet,), {
        "__init__": lambda self: ReLU6ModulesNet.__init__(self, inplace=True)}),
    "nn.ReLU6(inplace=True) reused": ReusedReLU6Net,
    "F.relu6": _functional(F.relu6, "FRelu6"),
    "F.relu6(inplace=True)": _functional(lambda x: F.relu6(x, inplace=True), "FRelu6Inplace"),
    "F.hardtanh(x, 0, 6)": _functional(lambda x: F.hardtanh(x, 0.0, 6.0), "Hardtanh06"),
    "nn.Hardtanh(0, 6, inplace=True)": _functional(nn.Hardtanh(0.0, 6.0, True), "Hardtanh06I"),
    "x.clamp(0, 6)": _functional(lambda x: x.clamp(0, 6), "Clamp06"),
    "torch.clamp(x, min=0, max=6)": _functional(lambda x: torch.clamp(x, min=0, max=6), "TC06"),
    "x.clamp_(0, 6)": _functional(lambda x: x.clamp_(0, 6), "Clamp06Inplace"),
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
