"""Which maps the worker computes next for what the view shows: a mixin of ``Explorer``.

The view's maps go ahead of everything else, the chosen method first, then the compare row's
other methods; each new (layer, target) is a new view request that makes the former one's maps
stale (``scheduler.Worker``). A slider move reaches these queues twice: at once, as the front
end's ``view`` message (``_preview``), and later as the state it sets (``_request_view``).
"""

from __future__ import annotations

from typing import Any

from .choices import layer_problem, target_problem
from .grid import PrecomputedGrid
from .keys import OUTPUT, map_key
from .maps import MapStore
from .scheduler import PRECOMPUTE, VIEW, Worker, precompute_batches, wanted_at
from .weights import WeightsControl, weights_key


class ViewQueue:
    """Queues the view's maps; the Explorer owns every attribute named here."""

    layer: str
    target: int
    method: str
    methods: list[str]
    layers: list[dict[str, Any]]
    targets: dict[str, Any]
    status: str
    weights: str
    top_k: int
    perturbed: bool
    _ready: bool
    _maps: MapStore
    _worker: Worker
    _grid: PrecomputedGrid
    _weights: WeightsControl
    _viewing: tuple[str, int] | None  # the (layer, target) of the latest view request
    _view_requests: int

    def _request_view(self) -> bool:
        """Queue, ahead of everything else, the maps the view shows now: the chosen method
        first, then the other methods of the compare row; returns whether any is missing."""
        missing = self._missing_maps(self.layer, self.target)
        # At a randomised level the view shows that level's maps (queued by ``_weights``).
        busy = bool(missing) or not all(self._maps.has(weights_key(
            self.weights, map_key(self.layer, self.target, m)), False) for m in self.methods)
        self._show_busy(busy)
        self._queue_view(self.layer, self.target, missing)
        self._weights.request_view()
        return busy

    def _preview(self, layer: Any, target: Any) -> None:
        """The front end's ``view`` message, sent with each slider move: start the maps of
        ``layer`` and ``target`` now, and drop the work of the layers left behind. ipywidgets
        sends a view's state one message at a time, each after the kernel's answer to the one
        before, so the last move of a burst reaches the traits round trips late; its maps need
        not wait for that. The traits are the state's to set."""
        problem = (layer_problem(self.layers, self.targets, layer)
                   or target_problem(self.targets, layer, target))
        if problem:
            raise ValueError(f"view: {problem}")
        if self._ready:
            self._drop_work_left_behind(layer)
            missing = self._missing_maps(layer, target)
            self._show_busy(bool(missing))
            self._queue_view(layer, target, missing)

    def _drop_work_left_behind(self, layer: str) -> None:
        """Moving to ``layer``: the queued precomputation of other layers (but the output and
        the precomputed grid) goes before it starts (a burst of moves)."""
        self._worker.retain(wanted_at({OUTPUT, layer}, self._grid.keys))

    def _show_busy(self, busy: bool) -> None:
        """The status of a new view request: computing when it queues maps (set before the
        worker can report idle), and a former error is past either way."""
        if busy or self.status.startswith("error"):
            self.status = "computing" if busy else "idle"

    def _missing_maps(self, layer: str, target: int) -> list[str]:
        """The methods whose map of ``layer`` and ``target`` is not computed, current first."""
        return [m for m in self._methods_current_first()
                if not self._maps.has(map_key(layer, target, m), self.perturbed)]

    def _queue_view(self, layer: str, target: int, methods: list[str]) -> None:
        # A new view id only for a new (layer, target): the maps of the former one go stale and
        # stop; another method, or a request made twice, leaves the running map be.
        if (layer, target) != self._viewing:
            self._viewing = (layer, target)
            self._view_requests += 1
        for method in methods:
            self._worker.submit(VIEW, layer, method, (target,), self._view_requests)

    def _precompute_top(self, layer: str) -> None:
        """Queue every method's maps of the layer's top-k targets, the current method first."""
        top = tuple(int(index) for index, _ in self.targets[layer][: self.top_k])
        for method, batch in precompute_batches(layer, OUTPUT, self._methods_current_first(), top):
            self._worker.submit(PRECOMPUTE, layer, method, batch)

    def _methods_current_first(self) -> list[str]:
        return [self.method, *(m for m in self.methods if m != self.method)]
