"""The rules reach every rectifier of the forward pass's graph: layers run on other threads,
activation checkpointing; every other operation without a rule is reported (issue 11, items 1,
2 and 6; issue 16's one-line warning)."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
import torch.nn.functional as F
import torchvision
from engine_nets import PAPER_METHODS, assert_close_maps
from torch import nn
from torch.utils.checkpoint import checkpoint, checkpoint_sequential

from backprop_lens import METHODS, NonReluActivationWarning, attribute

RULED = ("deconvnet", "guided_backprop")


def _inner(act: nn.Module | None = None) -> nn.Sequential:
    """The network of the issue's report: conv, ReLU, flatten, linear (for x of (N, 3, 8, 8))."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), act or nn.ReLU(), nn.Flatten(),
                         nn.Linear(256, 2))


class OnAThread(nn.Module):
    """Runs ``inner`` inside a ``threading.Thread``, as ``nn.DataParallel`` replicas do."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result: dict[str, torch.Tensor] = {}
        thread = threading.Thread(target=lambda: result.update(out=self.inner(x)))
        thread.start()
        thread.join()
        return result["out"]


class SplitOverThreads(nn.Module):
    """Splits the batch over a thread pool and gathers the outputs (DataParallel's pattern)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with ThreadPoolExecutor(2) as pool:
            return torch.cat(list(pool.map(self.inner, x.split(1))))


class FunctionalOnAThread(nn.Module):
    """The second half of the network, functional ReLU6 included, runs on a worker thread."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 3, padding=1)
        self.fc = nn.Linear(5 * 8 * 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv(x))
        out: list[torch.Tensor] = []
        worker = threading.Thread(target=lambda: out.append(self.fc(F.relu6(4 * x).flatten(1))))
        worker.start()
        worker.join()
        return out[0]


def _same_net_direct(wrapper: nn.Module) -> nn.Module:
    return wrapper.inner


@pytest.mark.parametrize("method", PAPER_METHODS)
def test_a_layer_run_on_another_thread_gets_the_rule(method: str) -> None:
    torch.manual_seed(0)
    inner = _inner().eval()
    x = torch.randn(1, 3, 8, 8)
    want = attribute(inner, x, method, 1)
    assert torch.equal(attribute(OnAThread(inner), x, method, 1), want)


@pytest.mark.parametrize("method", RULED)
@pytest.mark.parametrize("act", [nn.ReLU(inplace=True), nn.ReLU6(), nn.Threshold(0, 0)],
                         ids=["relu_", "relu6", "threshold"])
def test_batches_split_over_a_thread_pool_get_the_rule(method: str, act: nn.Module) -> None:
    torch.manual_seed(2)
    inner = _inner(act).eval()
    x = 3 * torch.randn(3, 3, 8, 8)
    want = attribute(inner, x, method, 0)
    got = attribute(SplitOverThreads(inner), x, method, 0)
    assert_close_maps(got, want)
    assert not torch.allclose(want, attribute(inner, x, "saliency", 0))  # the rule shows


def test_functional_rectifiers_on_a_worker_thread_get_the_rule() -> None:
    torch.manual_seed(3)
    net = FunctionalOnAThread().eval()
    x = torch.randn(1, 3, 8, 8)

    class SameOnOneThread(FunctionalOnAThread):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(F.relu6(4 * F.relu(self.conv(x))).flatten(1))

    direct = SameOnOneThread().eval()
    direct.load_state_dict(net.state_dict())
    for method in PAPER_METHODS:
        assert_close_maps(attribute(net, x, method, [0, 2]), attribute(direct, x, method, [0, 2]))


def test_activations_without_a_rule_on_another_thread_are_reported() -> None:
    net = OnAThread(_inner(nn.GELU())).eval()
    with pytest.raises(ValueError, match=r"gelu.*inner\.1"):
        attribute(net, torch.randn(1, 3, 8, 8), "guided_backprop", 0, strict=True)


# --- activation checkpointing ----------------------------------------------------------------


class Checkpointed(nn.Module):
    """A block with BatchNorm, an in-place ReLU and a ReLU6, run under ``checkpoint``."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.block = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(inplace=True),
            nn.Conv2d(6, 4, 3, padding=1), nn.ReLU6(),
        )
        self.head = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.how == "checkpoint":
            x = checkpoint(self.block, x, use_reentrant=False)
        elif self.how == "checkpoint_sequential":
            x = checkpoint_sequential(self.block, 2, x, use_reentrant=False)
        elif self.how == "reentrant":
            x = checkpoint(self.block, x, use_reentrant=True)
        else:
            x = self.block(x)
        return self.head(x.flatten(1))


def _trained(net: Checkpointed) -> Checkpointed:
    with torch.no_grad():
        net.block[1].running_mean.uniform_(-1, 1)
        net.block[1].running_var.uniform_(0.5, 2)
    return net


@pytest.mark.parametrize("how", ["checkpoint", "checkpoint_sequential"])
@pytest.mark.parametrize("method", METHODS)
def test_checkpointed_blocks_give_the_maps_of_the_plain_model(how: str, method: str) -> None:
    torch.manual_seed(4)
    plain = _trained(Checkpointed("plain")).eval()
    ckpt = Checkpointed(how).train()  # the recomputation must run in eval mode too
    ckpt.load_state_dict(plain.state_dict())
    stats = ckpt.block[1].running_mean.clone()
    x = 2 * torch.randn(2, 3, 8, 8)
    for target in (1, [0, 4]):
        x_one = x[:1] if isinstance(target, list) else x
        assert_close_maps(attribute(ckpt, x_one, method, target),
                          attribute(plain, x_one, method, target))
    assert torch.equal(ckpt.block[1].running_mean, stats) and ckpt.training


@pytest.mark.parametrize("layer", ["block.2", "block.3", "block"])
@pytest.mark.parametrize("method", METHODS)
def test_a_layer_inside_a_checkpointed_block(method: str, layer: str) -> None:
    torch.manual_seed(4)
    plain = _trained(Checkpointed("plain")).eval()
    ckpt = Checkpointed("checkpoint").eval()
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 8, 8)
    assert_close_maps(attribute(ckpt, x, method, 1, layer=layer),
                      attribute(plain, x, method, 1, layer=layer))


@pytest.mark.parametrize("method", METHODS)
def test_reentrant_checkpointing_is_refused_with_what_to_do(method: str) -> None:
    net = Checkpointed("reentrant").eval()
    with pytest.raises(TypeError, match=r"use_reentrant=True.*pass use_reentrant=False"):
        attribute(net, torch.randn(1, 3, 8, 8), method, 0)


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_memory_efficient_densenet_matches_the_plain_one(method: str) -> None:
    def densenet(memory_efficient: bool) -> nn.Module:
        torch.manual_seed(5)
        return torchvision.models.DenseNet(growth_rate=8, block_config=(2, 2),
                                           num_init_features=8, bn_size=2, num_classes=7,
                                           memory_efficient=memory_efficient).eval()

    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    assert_close_maps(attribute(densenet(True), x, method, [2, 5]),
                      attribute(densenet(False), x, method, [2, 5]))


@pytest.mark.slow
def test_a_compiled_model_gets_the_maps_of_its_original() -> None:
    torch.manual_seed(7)
    net = _inner(nn.ReLU6()).eval()
    compiled = torch.compile(net, backend="aot_eager")  # one opaque node in its graph
    x = 4 * torch.randn(1, 3, 8, 8)
    for method in METHODS:
        assert torch.equal(attribute(compiled, x, method, 1), attribute(net, x, method, 1))


# --- operations without a rule: complete by construction ---------------------------------


def _net_with(act: Callable[[torch.Tensor], torch.Tensor], channels: int = 4) -> nn.Module:
    """conv → act → linear; ``act`` is not registered in the net (as if made in forward)."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(channels * 8 * 8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(act(self.conv(x)).flatten(1))

    return Net().eval()


class _Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:
        return x**3

    @staticmethod
    def backward(ctx: object, g: torch.Tensor) -> torch.Tensor:
        return g


WITHOUT_RULE: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "nn.Threshold(0.1, 20)": nn.Threshold(0.1, 20.0),
    "nn.Threshold(0, 5)": nn.Threshold(0.0, 5.0),
    "F.threshold(x, -1, 0)": lambda x: F.threshold(x, -1.0, 0.0),
    "nn.Hardtanh()": nn.Hardtanh(),
    "x.clamp(min=0.5)": lambda x: x.clamp(min=0.5),
    "x.clamp(-1, 1)": lambda x: x.clamp(-1, 1),
    "x.clamp(max=0)": lambda x: x.clamp(max=0),
    "torch.maximum(x, 0)": lambda x: torch.maximum(x, torch.zeros(())),
    "torch.where(x > 0, x, 0.1 x)": lambda x: torch.where(x > 0, x, 0.1 * x),
    "x.abs()": torch.abs,
    "x.exp()": torch.exp,
    "x * sigmoid(x)": lambda x: x * torch.sigmoid(x),
    "erf GELU by hand": lambda x: 0.5 * x * (1 + torch.erf(x / 2**0.5)),
    "custom autograd.Function": lambda x: _Cube.apply(x),
    "F.relu on a view, in place": lambda x: (F.relu(x[:, :2], inplace=True), x)[1],
    "F.silu on a view, in place": lambda x: (F.silu(x[:, 1:], inplace=True), x)[1],
    "x * x": lambda x: x * x,
    "hardswish by hand": lambda x: x * F.relu6(x + 3) / 6,
    "softsign by hand": lambda x: x / (1 + torch.relu(x) + torch.relu(-x)),
}


def _activation_modules() -> dict[str, nn.Module]:
    """Every element-wise activation module of torch.nn that builds with its defaults."""
    found = {}
    for name in nn.modules.activation.__all__:
        try:
            module = getattr(nn, name)()
        except TypeError:
            continue  # needs arguments: Threshold (above), MultiheadAttention
        found[name] = module
    return found


NOT_ELEMENT_WISE = {"Softmax", "Softmin", "LogSoftmax", "Softmax2d"}
RECTIFIERS = {"ReLU", "ReLU6"}


@pytest.mark.parametrize("name", sorted(set(_activation_modules()) - NOT_ELEMENT_WISE))
def test_every_activation_module_of_torch_nn_gets_a_rule_or_is_reported(name: str) -> None:
    act = _activation_modules()[name]
    net = _net_with(act, channels=2 if name == "GLU" else 4)  # GLU halves the channels
    x = torch.randn(1, 3, 8, 8)
    if name in RECTIFIERS:
        with warnings.catch_warnings():
            warnings.simplefilter("error", NonReluActivationWarning)
            attribute(net, x, "guided_backprop", 0, strict=True)
        return
    for method in RULED:
        with pytest.raises(ValueError, match=r"no DeconvNet/guided-backprop rule .*strict=True"):
            attribute(net, x, method, 0, strict=True)


@pytest.mark.parametrize("name", list(WITHOUT_RULE))
def test_other_nonlinearities_are_reported_never_silent(name: str) -> None:
    net = _net_with(WITHOUT_RULE[name])
    x = torch.randn(1, 3, 8, 8)
    with pytest.warns(NonReluActivationWarning, match="no DeconvNet/guided-backprop rule"):
        attribute(net, x, "deconvnet", 0)
    with pytest.raises(ValueError, match="strict=True"):
        attribute(net, x, "guided_backprop", 0, strict=True)


class LayerScale(nn.Module):
    """Products with parameters or constants are linear in x: not reported."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.gamma = nn.Parameter(torch.full((4, 1, 1), 0.5))
        self.fc = nn.Linear(4 * 32 * 32, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv(x)) * self.gamma / 3 * torch.rand(1, 4, 1, 1)
        y[:, :2] += 1  # in place on a view, linear
        y[:, 2:].mul_(2)
        return self.fc((x.mean(1, keepdim=True) + y).flatten(1))


def test_plain_architectures_are_not_reported() -> None:
    """What every method treats by its plain gradient (pools, norms, concatenation, scaling,
    …) is not reported: the warnings are about real gaps only."""
    torch.manual_seed(0)
    x = torch.randn(1, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonReluActivationWarning)
        for build in (torchvision.models.squeezenet1_1, torchvision.models.shufflenet_v2_x0_5,
                      LayerScale):
            attribute(build().eval(), x, "guided_backprop", 1, strict=True)


def test_the_warning_is_one_short_line_once_per_model() -> None:
    class ManyBlocks(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.blocks = nn.ModuleList(nn.GELU() for _ in range(6))
            self.fc = nn.Linear(4 * 8 * 8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.conv(x)
            for block in self.blocks:
                x = block(x)
            return self.fc(F.silu(x).flatten(1))

    net = ManyBlocks().eval()
    x = torch.randn(1, 3, 8, 8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for method in ("guided_backprop", "deconvnet", "guided_backprop"):
            attribute(net, x, method, [0, 1])
        attribute(ManyBlocks().eval(), x, "deconvnet", 0)  # another model: warned again
    messages = [str(w.message) for w in caught if w.category is NonReluActivationWarning]
    assert len(messages) == 2
    line = messages[0]
    assert "\n" not in line and len(line) < 300
    assert "7 operations" in line and "(gelu ×6, silu) in 7 modules" in line
    assert "(blocks.0, blocks.1, blocks.2 and 4 more)" in line and "strict=True" in line
    with pytest.raises(ValueError, match=r"blocks\.5: gelu; <model>: silu"):
        attribute(net, x, "guided_backprop", 0, strict=True)
