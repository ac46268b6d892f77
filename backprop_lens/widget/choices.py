"""The Explorer's choices: the method, target and layer shown, and whether maps share a scale.

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


class ChoiceTraits(traitlets.HasTraits):
    """The Explorer's synced choices and their validation; the Explorer owns ``methods``,
    ``layers``, ``targets`` (per layer, the ranked ``[index, score]`` pairs) and ``_ready``."""

    method = traitlets.Unicode("guided_backprop").tag(sync=True)
    target = traitlets.Int(0).tag(sync=True)
    layer = traitlets.Unicode(OUTPUT).tag(sync=True)
    shared_scale = traitlets.Bool(False).tag(sync=True)

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
        if self._ready and value not in self.targets:
            names = [entry["name"] for entry in self.layers]
            raise traitlets.TraitError(f"layer must be one of {names}; got {value!r}")
        return str(value)

    @traitlets.validate("target")
    def _valid_target(self, proposal: dict[str, Any]) -> int:
        value = proposal["value"]
        if self._ready:
            count = len(self.targets.get(self.layer, []))
            if not 0 <= value < count:
                what = "class" if self.layer == OUTPUT else f"channel of {self.layer!r}"
                raise traitlets.TraitError(f"target must be a {what} in [0, {count}); "
                                           f"got {shown(value)}")
        return int(value)
