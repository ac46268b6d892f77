"""Weight randomisation: the paper's code and Adebayo et al.'s sanity checks (NeurIPS 2018).

A method whose maps barely change when the weights are re-drawn cannot be explaining what the
network learned. ``randomize`` re-draws chosen layers of a copy of the model:

- ``"cascade"``: from the top (the output) down to ``layer``, inclusive — the sanity check's
  cascading randomisation, and the authors' ``load_weights_part``;
- ``"only"``: just ``layer`` (``load_weights_only``);
- ``"reverse"``: from the bottom (the input) up to ``layer``, inclusive
  (``load_weights_reverse``).

"Layers" are the modules that own parameters, in forward order (``spec.parameter_layers``).
A layer is re-drawn by the model's own initializer: the paper's truncated normal for the
paper's networks and VGG-16 (as the authors' code re-initialises), PyTorch's default
``reset_parameters`` for the rest (what a fresh layer would hold before training). Only
parameters change; buffers such as batch-norm running statistics are kept.
"""

from __future__ import annotations

import copy
import dataclasses

from torch import nn

from .init import seeded_generator
from .lens_model import LensModel, as_lens_model

MODES = ("cascade", "only", "reverse")


def randomize(
    spec: LensModel | nn.Module, mode: str, layer: str, seed: int = 0
) -> LensModel:
    """A new ``LensModel`` whose layers chosen by ``mode`` and ``layer`` are re-drawn.

    The original is untouched (its module is deep-copied). The same seed gives the same
    weights. See the module doc for the modes.
    """
    spec = as_lens_model(spec)
    chosen = randomized_layers(spec, mode, layer)
    generator = seeded_generator(seed)
    module = copy.deepcopy(spec.module)
    modules = dict(module.named_modules())
    for name in chosen:
        spec.initializer(name, modules[name], generator)
    return dataclasses.replace(
        spec, module=module, name=f"{spec.name} [{mode} randomised: {layer}]",
        description=f"{spec.description}; {mode} randomisation at {layer!r}, seed {seed}",
    )


def randomized_layers(spec: LensModel | nn.Module, mode: str, layer: str) -> list[str]:
    """The names ``randomize(spec, mode, layer)`` re-draws, in forward order."""
    names = as_lens_model(spec).parameter_layers
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a str, one of {names}; got {type(layer).__name__}")
    if layer not in names:
        raise ValueError(f"layer must name a layer with parameters, one of {names}; "
                         f"got {layer!r}")
    index = names.index(layer)
    return {"cascade": names[index:], "only": [layer], "reverse": names[:index + 1]}[mode]
