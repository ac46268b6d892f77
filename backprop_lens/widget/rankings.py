"""What the Explorer's sliders scrub: the targets of an input, ranked best first — the classes
by probability, and each layer's channels by activation — and the layers offered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..engine.activations import layer_channel_scores
from ..models import LensModel
from .keys import OUTPUT

#: ``{layer: [[index, score], …]}``, best first: the ``targets`` trait.
Ranked = dict[str, list[list[float]]]


def rank_targets(spec: LensModel, x: torch.Tensor) -> tuple[torch.Tensor, Ranked]:
    """The class probabilities of ``x`` (1, C, H, W), shaped (n_classes,), and the ranked
    targets of the output (by probability) and of every layer of ``spec`` that has channels."""
    layer_names = [name for name, _ in spec.layers]
    logits, scores = layer_channel_scores(spec.module, x, layer_names)
    probabilities = logits[0].softmax(dim=0)
    targets = {OUTPUT: _ranked(probabilities)}
    targets.update({name: _ranked(scores[name]) for name in layer_names if name in scores})
    return probabilities, targets


def layer_choices(spec: LensModel, ranked: Mapping[str, Any]) -> list[dict[str, str]]:
    """The ``layers`` trait: the output first, then the ranked layers from the top down, each
    with a label naming its size (classes, or the layer's output shape)."""
    layers = [{"name": OUTPUT, "label": f"output · {len(spec.classes)} classes"}]
    layers += [{"name": name, "label": f"{name} · {_shape_label(shape)}"}
               for name, shape in reversed(spec.layers) if name in ranked]
    return layers


def _shape_label(shape: Sequence[int]) -> str:
    return "×".join(str(s) for s in shape)


def _ranked(scores: torch.Tensor) -> list[list[float]]:
    """``[[index, score], …]``, best first; indices as ints for the front end. Scores keep 4
    significant digits: enough to show and to rank by, and a third of the synced bytes (a
    VGG-16 has thousands of channels, every one of them in every saved page)."""
    values, order = scores.detach().double().sort(descending=True)
    return [[int(i), float(f"{v:.4g}")]
            for i, v in zip(order.tolist(), values.tolist(), strict=True)]
