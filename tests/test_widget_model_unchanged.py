"""The user's model while the Explorer's worker computes (issue 11, item 12): no visible change
at any time, from any thread. A watcher thread reads every submodule's ``training`` flag and
hooks as fast as it can while the worker computes maps, ranks targets and runs an attack; a
cell running the model meanwhile gets train-mode results. And what the eval-mode twin costs."""

from __future__ import annotations

import threading
import tracemalloc
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from backprop_lens import attribute, models
from backprop_lens.engine.model_guard import eval_twin, original_of
from backprop_lens.widget import Explorer


def train_mode_net() -> nn.Module:
    """A small CNN with BatchNorm and Dropout, in train mode (the user is training it)."""
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict([
        ("conv", nn.Conv2d(3, 8, 3, padding=1)), ("bn", nn.BatchNorm2d(8)), ("relu", nn.ReLU()),
        ("drop", nn.Dropout(0.5)), ("flat", nn.Flatten()), ("fc", nn.Linear(8 * 16 * 16, 10)),
    ]))
    return net.train()


class Watcher:
    """Reads every submodule's flag and hook counts in a loop on its own thread; records each
    time one differs from how the user left it."""

    def __init__(self, net: nn.Module) -> None:
        self.net = net
        self.modules = list(net.modules())
        self.hooks = [self._hook_counts(m) for m in self.modules]
        self.changes: list[str] = []
        self.reads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    @staticmethod
    def _hook_counts(module: nn.Module) -> tuple[int, int]:
        return len(module._forward_hooks), len(module._forward_pre_hooks)

    def _watch(self) -> None:
        while not self._stop.is_set():
            for module, hooks in zip(self.modules, self.hooks, strict=True):
                if not module.training:
                    self.changes.append(f"{type(module).__name__}.training is False")
                if self._hook_counts(module) != hooks:
                    self.changes.append(f"{type(module).__name__} has other hooks")
            self.reads += 1

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_the_model_never_changes_while_the_worker_computes() -> None:
    net = train_mode_net()
    params = {name: p.detach().clone() for name, p in net.state_dict().items()}
    spec = models.as_lens_model(net, input_size=16)
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    x = torch.rand(2, 3, 16, 16)
    with Watcher(net) as watcher:
        explorer = Explorer(model=spec, image=image, precompute={"layers": "all"})
        # A cell that runs the model meanwhile, on the kernel's thread: train mode, as left.
        while not explorer.wait(0.01):
            out_a, out_b = net(x), net(x)
            assert not torch.equal(out_a, out_b), "dropout should be on: the model is training"
        explorer.layer = "conv"
        explorer.attack(method="pgd", eps=4.0, steps=3)
        assert explorer.wait(120)
    assert explorer.status == "idle" and explorer.attack_report
    assert watcher.reads > 10, "the watcher did not get to look"
    assert watcher.changes == [], sorted(set(watcher.changes))
    for name, value in net.state_dict().items():
        if not name.endswith(("running_mean", "running_var", "num_batches_tracked")):
            assert torch.equal(value, params[name]), name  # the cell's passes move BN stats


def test_the_twin_runs_in_eval_mode_on_the_models_own_parameters() -> None:
    net = train_mode_net()
    twin = eval_twin(net)
    assert all(not m.training for m in twin.modules())
    assert all(m.training for m in net.modules())
    assert [n for n, _ in twin.named_modules()] == [n for n, _ in net.named_modules()]
    for (name, p), (_, q) in zip(net.named_parameters(), twin.named_parameters(), strict=True):
        assert p is q, name  # shared, not copied
    assert original_of(twin.get_submodule("bn")) is net.get_submodule("bn")
    # A hook set on the twin stays there; the model's own hooks run on the twin too.
    seen: list[str] = []
    net.get_submodule("relu").register_forward_hook(lambda *_: seen.append("user"))
    twin = eval_twin(net)
    handle = twin.get_submodule("fc").register_forward_hook(lambda *_: seen.append("twin"))
    assert len(net.get_submodule("fc")._forward_hooks) == 0
    x = torch.rand(2, 3, 16, 16)
    assert torch.equal(twin(x), net.eval()(x))
    assert seen == ["user", "twin", "user"]
    handle.remove()


def test_maps_match_those_of_the_model_in_eval_mode() -> None:
    net = train_mode_net()
    x = torch.rand(1, 3, 16, 16)
    maps = attribute(net, x, method="guided_backprop", target=3)
    assert net.training
    reference = attribute(net.eval(), x, method="guided_backprop", target=3)
    assert torch.equal(maps, reference)


def test_what_the_twin_costs_on_vgg16() -> None:
    vgg = models.vgg16(weights="random").module
    tracemalloc.start()
    twin = eval_twin(vgg)
    size, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    tensors = sum(t.numel() * t.element_size() for t in vgg.state_dict().values())
    print(f"\nVGG-16 eval twin: {size / 1024:.1f} KiB ({peak / 1024:.1f} KiB peak) for "
          f"{len(list(twin.modules()))} modules; the model's tensors: {tensors / 2**20:.0f} MiB, "
          "shared, not copied")
    assert size < 1 * 2**20
    assert all(p is q for p, q in zip(vgg.parameters(), twin.parameters(), strict=True))
