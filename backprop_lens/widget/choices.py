"""The Explorer's choices: the method, target and layer shown, whether maps share a scale, the
opacity of heat maps over the image, and whether the hint is shown.

A mixin of ``Explorer`` (as ``weights.WeightsTraits`` is): these traits are the user's, set by the
view or from Python, and each is validated alike on either path (the Explorer's ``set_state``
turns a rejection from the view into its ``status``). A layer and a target are checked against the
ranked ``targets`` only once the Explorer is ``_ready`` (while an input loads, they change
together).
"""

from __future__ import annotations

from typing import Any

import traitlets

from .keys import OUTPUT
from .perturb import shown

#: Traits the front end may set; everything else is Python's.
FRONTEND_WRITABLE = frozenset({"method", "target", "layer", "shared_scale", "show_hint",
                               "weights", "overlay_opacity"})
#: Keyword arguments of ``Explorer()`` besides its parameters: first choices that hold for any
#: model (the layer, target and weights depend on the model: they are set once it is made).
INITIAL_CHOICES = frozenset({"method", "shared_scale", "show_hint", "overlay_opacity", "layout"})


def check_initial_choices(kwargs: dict[str, Any]) -> None:
    """A ``TypeError`` naming what ``Explorer(**kwargs)`` does not take: traitlets only warns
    of names it does not know, and a misspelt setting would be lost."""
    unknown = sorted(set(kwargs) - INITIAL_CHOICES)
    if unknown:
        raise TypeError(f"Explorer() got unexpected keyword arguments {unknown}; besides its "
                        f"parameters it takes {sorted(INITIAL_CHOICES)} (set layer, target "
                        "and weights once it is made; input_size goes to as_lens_model)")


class ChoiceTraits(traitlets.HasTraits):
    """The Explorer's synced choices and their validation; the Explorer owns ``methods``,
    ``layers``, ``targets`` (per layer, the ranked ``[index, score]`` pairs) and ``_ready``."""

    method = traitlets.Unicode("guided_backprop").tag(sync=True)
    target = traitlets.Int(0).tag(sync=True)
    layer = traitlets.Unicode(OUTPUT).tag(sync=True)
    shared_scale = traitlets.Bool(False).tag(sync=True)
    overlay_opacity = traitlets.Float(0.6).tag(sync=True)  # of heat maps over the image
    show_hint = traitlets.Bool(True).tag(sync=True)  # the paper's finding, under the maps

    methods: list[str]
    layers: list[dict[str, Any]]
    targets: dict[str, Any]
    _ready: bool

    @traitlets.validate("method")
    def _valid_method(self, proposal: dict[str, Any]) -> str:
        value = proposal["value"]
        if self.methods and value not in self.methods:
            raise traitlets.TraitError(f"method must be one of {self.methods}; got {value!r}")
        return str(value)

    @traitlets.validate("layer")
    def _valid_layer(self, proposal: dict[str, Any]) -> str:
        value = proposal["value"]
        if self._ready and (problem := layer_problem(self.layers, self.targets, value)):
            raise traitlets.TraitError(problem)
        return str(value)

    @traitlets.validate("target")
    def _valid_target(self, proposal: dict[str, Any]) -> int:
        value = proposal["value"]
        if self._ready and (problem := target_problem(self.targets, self.layer, value)):
            raise traitlets.TraitError(problem)
        return int(value)

    @traitlets.validate("overlay_opacity")
    def _valid_opacity(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if not 0.0 <= value <= 1.0:  # NaN too
            raise traitlets.TraitError(f"overlay_opacity must be in [0, 1]; got {shown(value)}")
        return value


def layer_problem(layers: list[dict[str, Any]], targets: dict[str, Any], layer: Any) -> str | None:
    """What is wrong with ``layer`` as the layer shown (one with ranked ``targets``), or None."""
    if isinstance(layer, str) and layer in targets:
        return None
    return f"layer must be one of {[entry['name'] for entry in layers]}; got {shown(layer)}"


def target_problem(targets: dict[str, Any], layer: str, target: Any) -> str | None:
    """What is wrong with ``target`` as the target shown at ``layer`` (an index into the
    layer's ranked ``targets``), or None."""
    count = len(targets.get(layer, []))
    if not isinstance(target, bool) and isinstance(target, int) and 0 <= target < count:
        return None
    what = "class" if layer == OUTPUT else f"channel of {layer!r}"
    return f"target must be a {what} in [0, {count}); got {shown(target)}"
