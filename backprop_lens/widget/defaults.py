"""What an Explorer shows when not told: EfficientNet-Lite0 (ImageNet weights, shipped offline)
on the cat photo, or, for the shapes CNNs, their two-shape picture; and how the ``model`` argument
(a ``LensModel``, an ``nn.Module`` or a zoo name) becomes a ``LensModel``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from .. import data, models
from ..engine import METHODS, RULE_METHODS, get_method
from ..models import LensModel

DEFAULT_MODEL = "efficientnet_lite0"
#: The photo a model trained on ImageNet (or any model but the shapes CNNs) explains by default:
#: EfficientNet-Lite0 ranks it Egyptian cat, tabby, tiger cat, so that scrubbing the target
#: shows which maps follow the class.
DEFAULT_PHOTO = "cat"
#: The shapes CNNs' default picture: a star and an arrow, which the shapes CNN ranks as its top
#: two classes (p = 0.83 and 0.15).
DEFAULT_SHAPES_SEED = 47


def as_spec(model: LensModel | nn.Module | str | None) -> LensModel:
    """``model`` as a ``LensModel``: the shipped default for None, a zoo model for a name."""
    if model is None:
        return models.load(DEFAULT_MODEL)
    if isinstance(model, str):
        return models.load(model)
    return models.as_lens_model(model)


def default_image(spec: LensModel) -> Any:
    """What ``spec`` explains when no image is given: for the shapes CNNs, a (64, 64, 3) uint8
    two-shape picture of their own data; for every other model, the cat photo (a PIL image)."""
    if spec.name.startswith("shapes_cnn"):
        return data.shapes.generate(1, seed=DEFAULT_SHAPES_SEED, objects=2).images[0]
    return data.sample_image(DEFAULT_PHOTO)


#: The methods an Explorer compares when not told: the paper's three (``backprop_lens.METHODS``
#: lists every method the engine offers; ``methods=`` picks others, ``methods="all"`` all of
#: them). Not all eight by default: SmoothGrad and Integrated Gradients take 25 and 32 passes
#: per map, and their top-k precomputation would keep the worker (and ``wait()``) busy for
#: minutes on EfficientNet-Lite0 on a laptop CPU.
DEFAULT_METHODS = ("saliency", "deconvnet", "guided_backprop")

#: Shown after the others (and so computed after them): many passes per map.
SLOW_METHODS = ("smoothgrad", "integrated_gradients")


def ordered_methods(methods: Sequence[str] | str) -> tuple[str, ...]:
    """The methods as buttons show them and the worker computes them: the backward-rule
    methods first, then the others in the order given, the slow ones (``SLOW_METHODS``) last;
    ``"all"``: every method of ``backprop_lens.METHODS``."""
    if isinstance(methods, str) and methods != "all":
        raise ValueError(f"methods must be a sequence of method names or \"all\"; got {methods!r}")
    names = [get_method(m).name for m in (METHODS if methods == "all" else methods)]
    rank = {name: 0 if name in RULE_METHODS else 2 if name in SLOW_METHODS else 1
            for name in names}
    return tuple(sorted(dict.fromkeys(names), key=lambda name: rank[name]))
