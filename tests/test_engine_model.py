"""The engine works on any classifier and leaves no trace on it."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable

import pytest
import torch
import torchvision
from engine_nets import SeparateReLUNet
from torch import nn

from backprop_lens import METHODS, NonReluActivationWarning, attribute

HOOK_DICTS = (
    "_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
    "_state_dict_hooks", "_load_state_dict_pre_hooks",
)


def snapshot(model: nn.Module) -> dict[str, object]:
    """Everything about a model the engine must not change."""
    return {
        "params": {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()},
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [p.grad for p in model.parameters()],
        "training": [m.training for m in model.modules()],
        "attributes": [sorted(vars(m)) for m in model.modules()],
        "hooks": [len(getattr(m, d)) for m in model.modules() for d in HOOK_DICTS],
        "global_hooks": (len(nn.modules.module._global_forward_hooks),
                         len(nn.modules.module._global_forward_pre_hooks),
                         len(nn.modules.module._global_backward_hooks)),
        "function_modes": torch._C._len_torch_function_stack(),
    }


def assert_untouched(before: dict[str, object], model: nn.Module) -> None:
    after = snapshot(model)
    params_before = before["params"]
    params_after = after["params"]
    assert isinstance(params_before, dict) and isinstance(params_after, dict)
    assert params_before.keys() == params_after.keys()
    for name, value in params_before.items():
        assert torch.equal(value, params_after[name]), name  # bit-identical
    for key in ("requires_grad", "grads", "training", "attributes", "hooks", "global_hooks",
                "function_modes"):
        assert before[key] == after[key], key


class TrainModeNet(nn.Module):
    """BatchNorm and Dropout: only eval mode gives deterministic, per-example maps."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
            nn.Dropout(0.5),
        )
        self.head = nn.Linear(8 * 8 * 8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def _trained_statistics(net: TrainModeNet) -> TrainModeNet:
    with torch.no_grad():
        net.features[1].running_mean.uniform_(-1, 1)
        net.features[1].running_var.uniform_(0.5, 2)
    return net


@pytest.mark.parametrize("method", METHODS)
def test_train_mode_model_is_attributed_in_eval_mode_and_restored(method: str) -> None:
    torch.manual_seed(0)
    net = _trained_statistics(TrainModeNet())
    net.train()
    net.features[3].eval()  # a mixed state must come back exactly as it was
    x = torch.randn(2, 3, 8, 8)
    before = snapshot(net)
    got = attribute(net, x, method, target=1)
    assert_untouched(before, net)
    assert net.training and not net.features[3].training and net.features[1].training
    reference = _trained_statistics(TrainModeNet())
    reference.load_state_dict(net.state_dict())
    want = attribute(reference.eval(), x, method, target=1)
    assert torch.equal(got, want)


@pytest.mark.parametrize("method", METHODS)
def test_vgg16_and_resnet18_are_left_untouched(method: str) -> None:
    for build in (torchvision.models.vgg16, torchvision.models.resnet18):
        model = build(weights=None)  # in train mode, as built
        before = snapshot(model)
        attribute(model, torch.randn(1, 3, 32, 32), method, target=[0, 5])
        assert_untouched(before, model)


class FailingHead(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")


@pytest.mark.parametrize(
    "call",
    [
        lambda net, x: attribute(net, x, "guided_backprop", 0),            # fails mid-forward
        lambda net, x: attribute(net, x, "guided_backprop", 0, layer="4"),  # fails in layer run
    ],
)
def test_nothing_is_left_behind_when_the_forward_pass_raises(
    call: Callable[[nn.Module, torch.Tensor], object],
) -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Conv2d(4, 4, 3),
                        FailingHead(), nn.ReLU())
    net.train()
    before = snapshot(net)
    with pytest.raises(RuntimeError, match="boom"):
        call(net, torch.randn(1, 3, 8, 8))
    assert_untouched(before, net)


def test_nothing_is_left_behind_when_the_target_is_rejected_after_the_forward() -> None:
    net = SeparateReLUNet().train()
    before = snapshot(net)
    with pytest.raises(ValueError, match="target"):
        attribute(net, torch.randn(1, 3, 8, 8), "deconvnet", target=99, layer="conv2")
    assert_untouched(before, net)


class TupleNet(SeparateReLUNet):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        logits = super().forward(x)
        return logits, logits * 0


class DictNet(SeparateReLUNet):
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return {"aux": super().forward(x) * 0, "logits": super().forward(x)}


@pytest.mark.parametrize(("wrapper", "output"), [(TupleNet, 0), (DictNet, None)])
def test_tuple_and_dict_outputs_use_the_logits(
    wrapper: type[SeparateReLUNet], output: int | None
) -> None:
    torch.manual_seed(0)
    plain = SeparateReLUNet().eval()
    wrapped = wrapper().eval()
    wrapped.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 8, 8)
    assert torch.equal(attribute(wrapped, x, "guided_backprop", 2, output=output),
                       attribute(plain, x, "guided_backprop", 2))


def test_an_unusable_output_is_a_clear_error() -> None:
    class TextNet(SeparateReLUNet):
        def forward(self, x: torch.Tensor) -> str:  # type: ignore[override]
            return "no tensor here"

    with pytest.raises(TypeError, match="expected a tensor of logits"):
        attribute(TextNet().eval(), torch.randn(1, 3, 8, 8), "saliency", 0)
    segmenter = nn.Conv2d(3, 2, 1)
    with pytest.raises(ValueError, match=r"logits shaped \(N, n_classes\)"):
        attribute(segmenter, torch.randn(1, 3, 8, 8), "saliency", 0)


@pytest.mark.parametrize("method", METHODS)
def test_float64_maps_are_float64_and_match_float32(method: str) -> None:
    torch.manual_seed(0)
    net = SeparateReLUNet().eval()
    x = torch.randn(1, 3, 8, 8)
    m32 = attribute(net, x, method, [0, 1])
    m64 = attribute(net.double(), x.double(), method, [0, 1])
    assert m64.dtype == torch.float64
    assert torch.allclose(m64.float(), m32, atol=1e-5)


def test_a_lens_model_like_object_is_unwrapped() -> None:
    class Spec:
        def __init__(self, module: nn.Module) -> None:
            self.module = module

    net = SeparateReLUNet().eval()
    x = torch.randn(1, 3, 8, 8)
    assert torch.equal(attribute(Spec(net), x, "deconvnet", 1), attribute(net, x, "deconvnet", 1))


def test_attribute_works_under_no_grad() -> None:
    net = SeparateReLUNet().eval()
    x = torch.randn(1, 3, 8, 8)
    want = attribute(net, x, "guided_backprop", 1)
    with torch.no_grad():
        assert torch.equal(attribute(net, x, "guided_backprop", 1), want)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method", METHODS)
def test_cuda_maps_stay_on_cuda_and_match_cpu(method: str) -> None:
    torch.manual_seed(0)
    net = SeparateReLUNet().eval()
    x = torch.randn(1, 3, 8, 8)
    want = attribute(net, x, method, [0, 2])
    got = attribute(net.cuda(), x.cuda(), method, [0, 2])
    assert got.device.type == "cuda"
    assert torch.allclose(got.cpu(), want, atol=1e-5)


class _RunsAnotherThread(nn.Module):
    """On its first call, runs the whole network on another thread and waits for it: what a
    notebook cell does while a widget computes maps on its worker thread."""

    def __init__(self) -> None:
        super().__init__()
        self.networks: list[nn.Module] = []  # a list: not registered as a submodule
        self.other_result: object = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.networks and self.other_result is None:
            self.other_result = "running"
            network = self.networks[0]

            def run() -> None:
                try:
                    self.other_result = network(torch.ones(1, 3, 8, 8))
                except BaseException as exc:
                    self.other_result = exc

            thread = threading.Thread(target=run)
            thread.start()
            thread.join()
        return x


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("layer", [None, "4"])
def test_other_threads_running_the_model_meanwhile_are_not_affected(
    method: str, layer: str | None
) -> None:
    probe = _RunsAnotherThread()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), probe, nn.GELU(), nn.Conv2d(4, 4, 3), nn.ReLU(),
                        nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).eval()
    with torch.no_grad():
        want = net(torch.ones(1, 3, 8, 8))
    probe.networks.append(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonReluActivationWarning)
        attribute(net, torch.ones(1, 3, 8, 8), method, 0, layer=layer)
    assert isinstance(probe.other_result, torch.Tensor), probe.other_result
    assert torch.allclose(probe.other_result, want)
