"""What goes in and what is read out: the input format by what runs, grad-disabling contexts,
and which output holds the logits (issue 11, items 3, 4 and 5)."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from typing import NamedTuple

import pytest
import torch
from engine_nets import SeparateReLUNet
from torch import nn

from backprop_lens import METHODS, attribute, models

# --- item 3: the input format, by what runs --------------------------------------------------


class StemRegisteredLast(nn.Module):
    """``forward`` runs ``stem`` first, but ``body`` was registered first (the issue's model)."""

    def __init__(self, stem_in: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                                  nn.Linear(256, 2))
        self.stem = nn.Conv2d(stem_in, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.stem(x))


class StemRegisteredFirst(StemRegisteredLast):
    def __init__(self, stem_in: int = 4) -> None:
        nn.Module.__init__(self)
        self.stem = nn.Conv2d(stem_in, 3, 1)
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                                  nn.Linear(256, 2))


@pytest.mark.parametrize("method", METHODS)
def test_input_channels_are_checked_by_what_runs(method: str) -> None:
    torch.manual_seed(0)
    net = StemRegisteredLast().eval()
    reference = StemRegisteredFirst().eval()
    reference.load_state_dict(net.state_dict())
    x = torch.randn(1, 4, 8, 8)
    assert torch.equal(attribute(net, x, method, 1), attribute(reference, x, method, 1))


@pytest.mark.parametrize("channels", [3, 1, 6])
def test_a_wrong_input_names_the_layer_that_runs_first(channels: int) -> None:
    net = StemRegisteredLast().eval()
    with pytest.raises(ValueError, match=rf"x has {channels} channels where the first "
                                         r"convolution the model runs \('stem'\) expects 4"):
        attribute(net, torch.randn(1, channels, 8, 8), "guided_backprop", 0)


def test_a_wrong_width_inside_the_model_names_that_layer() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(100, 2))
    with pytest.raises(ValueError, match=r"layer '2' expects 100 input features but got 256"):
        attribute(net, torch.randn(1, 3, 8, 8), "saliency", 0)


def test_errors_of_other_kinds_pass_unchanged() -> None:
    class Fails(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        attribute(Fails(), torch.randn(1, 3, 8, 8), "saliency", 0)


def test_as_lens_model_reads_the_channels_from_the_layer_that_runs_first() -> None:
    grey = models.as_lens_model(StemRegisteredLast(stem_in=1), input_size=8)
    assert grey.channels == 1
    assert grey.preprocess(torch.rand(3, 8, 8)).shape == (1, 1, 8, 8)
    with pytest.raises(ValueError, match=r"first convolution the model runs \('stem'\) takes 4 "
                                         r"input channels.*RGB \(3\) or grey \(1\)"):
        models.as_lens_model(StemRegisteredLast(stem_in=4), input_size=8)


def test_as_lens_model_says_which_argument_to_give() -> None:
    class Functional(nn.Module):
        """No conv or linear module runs: nothing to read the input format from."""

        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.randn(2, 1, 3, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return nn.functional.conv2d(x, self.weight).flatten(2).mean(2)

    with pytest.raises(ValueError, match=r"pass input_size= \(and channels="):
        models.as_lens_model(Functional())
    spec = models.as_lens_model(Functional(), input_size=8, channels=1)
    assert spec.channels == 1 and spec.classes == ["0", "1"]
    with pytest.raises(ValueError, match=r"channels must be 3 \(RGB\) or 1"):
        models.as_lens_model(Functional(), channels=4)


# --- item 4: inference mode ------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_inference_mode_works_as_no_grad_does(method: str) -> None:
    torch.manual_seed(1)
    net = SeparateReLUNet().eval()
    x = torch.randn(1, 3, 8, 8)
    want = attribute(net, x, method, [1, 3])
    with torch.inference_mode():
        x_made_here = x.clone()
        inside = attribute(net, x_made_here, method, [1, 3])
        inside_layer = attribute(net, x, method, 2, layer="conv2")
    assert torch.equal(inside, want)
    assert torch.equal(attribute(net, x_made_here, method, [1, 3]), want)  # x made there
    assert torch.equal(inside_layer, attribute(net, x, method, 2, layer="conv2"))


def test_a_model_made_in_inference_mode_is_a_clear_error() -> None:
    with torch.inference_mode():
        net = SeparateReLUNet().eval()
    with pytest.raises(ValueError, match=r"made under torch.inference_mode\(\).*outside "
                                         "inference mode"):
        attribute(net, torch.randn(1, 3, 8, 8), "saliency", 0)


# --- item 5: which output holds the logits -------------------------------------------------


class Out(NamedTuple):
    embedding: torch.Tensor
    logits: torch.Tensor


@dataclasses.dataclass
class DataOut:
    features: torch.Tensor
    logits: torch.Tensor


class ModelOutput(OrderedDict):  # type: ignore[type-arg]
    """Like Hugging Face's: a dict whose entries are attributes too."""

    def __getattr__(self, name: str) -> object:
        return self[name]


class Heads(nn.Module):
    """An embedding (N, 8) and 6 class scores, returned in a form chosen by ``wrap``."""

    def __init__(self, wrap: str) -> None:
        super().__init__()
        self.wrap = wrap
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 6)

    def forward(self, x: torch.Tensor) -> object:
        embedding = torch.relu(self.conv(x)).mean(dim=(2, 3))
        logits = self.fc(embedding)
        return {
            "logits": logits,
            "namedtuple": Out(embedding, logits),
            "dataclass": DataOut(embedding, logits),
            "model_output": ModelOutput(embedding=embedding, logits=logits),
            "nested": (embedding, {"head": Out(embedding, logits)}),
            "tuple": (embedding, logits),
            "dict": {"features": embedding, "scores": logits},
            "with_maps": (logits, torch.relu(self.conv(x))),
        }[self.wrap]


def _heads(wrap: str) -> nn.Module:
    torch.manual_seed(2)
    return Heads(wrap).eval()


@pytest.mark.parametrize("wrap", ["namedtuple", "dataclass", "model_output", "nested",
                                  "with_maps"])
def test_the_logits_are_found_wherever_they_are(wrap: str) -> None:
    x = torch.randn(1, 3, 8, 8)
    want = attribute(_heads("logits"), x, "guided_backprop", [0, 5])
    assert torch.equal(attribute(_heads(wrap), x, "guided_backprop", [0, 5]), want)
    with pytest.raises(ValueError, match=r"target must be in \[0, 6\); got 12"):
        attribute(_heads(wrap), x, "guided_backprop", 12)


@pytest.mark.parametrize(("wrap", "hint"), [("tuple", "output=1"), ("dict", "output='scores'")])
def test_an_ambiguous_output_is_refused_saying_how_to_choose(wrap: str, hint: str) -> None:
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match=rf"several \(N, n_classes\) tensors.*e\.g\. {hint}"):
        attribute(_heads(wrap), x, "saliency", 0)
    want = attribute(_heads("logits"), x, "saliency", 4)
    chosen = 1 if wrap == "tuple" else "scores"
    assert torch.equal(attribute(_heads(wrap), x, "saliency", 4, output=chosen), want)
    pick = (lambda out: out[1]) if wrap == "tuple" else (lambda out: out["scores"])
    assert torch.equal(attribute(_heads(wrap), x, "saliency", 4, output=pick), want)


def test_output_chooses_over_the_default_and_is_checked() -> None:
    x = torch.randn(1, 3, 8, 8)
    net = _heads("namedtuple")
    embedding_map = attribute(net, x, "saliency", 7, output="embedding")  # 8 units there
    assert embedding_map.shape == x.shape
    with pytest.raises(ValueError, match=r"target must be in \[0, 8\)"):
        attribute(net, x, "saliency", 8, output=0)
    with pytest.raises(ValueError, match=r"output=5: .* no element 5"):
        attribute(net, x, "saliency", 0, output=5)
    with pytest.raises(ValueError, match=r"output='probs': .* no key or attribute 'probs'"):
        attribute(net, x, "saliency", 0, output="probs")
    with pytest.raises(TypeError, match=r"output must be an int"):
        attribute(net, x, "saliency", 0, output=1.5)  # type: ignore[arg-type]
