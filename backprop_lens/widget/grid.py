"""The precomputed grid: the maps an Explorer computes up front and keeps whole in its synced
state (never evicted from the cache), so that a saved notebook or an exported page scrubs them
with no kernel.

A grid is asked for with ``precompute=`` (see ``Explorer``): ``True`` for every method × the
top-k targets × the output layer, or ``{"methods": [...], "layers": [...] or "all",
"targets": [...] or k}``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from .keys import OUTPUT, map_key

#: [publish hook] The environment variable that gives ``precompute`` its default: "1" makes every
#: Explorer created without ``precompute`` precompute its default grid. ``backprop-lens publish``
#: sets it in the kernel that runs the notebook, so that every Explorer of the page scrubs.
PRECOMPUTE_ENV = "BACKPROP_LENS_PRECOMPUTE"

GRID_KEYS = frozenset({"methods", "layers", "targets"})

#: One batch of a precomputed grid: (layer, method, targets).
GridJob = tuple[str, str, tuple[int, ...]]


def default_precompute() -> bool:
    """``precompute``'s default (see ``PRECOMPUTE_ENV``)."""
    return os.environ.get(PRECOMPUTE_ENV) == "1"


class PrecomputedGrid:
    """The grid asked for (checked once, against the Explorer's ``methods``) and the keys of
    the current input's grid.

    Raises ``TypeError``/``ValueError`` naming what is wrong with ``precompute``.
    """

    def __init__(self, precompute: bool | Mapping[str, Any] | None,
                 methods: Sequence[str]) -> None:
        if precompute is None:  # [publish hook]
            precompute = default_precompute()
        self._spec = _check_grid(precompute, methods)
        #: ``"layer/target/method"`` keys of the current input's grid (pinned in the cache).
        self.keys: frozenset[str] = frozenset()

    def jobs(self, ranked: Mapping[str, list[list[float]]], top_k: int) -> list[GridJob]:
        """(layer, method, targets) batches covering the grid for an input whose targets are
        ``ranked``; none when no grid was asked for. A layer the model lacks is a ValueError."""
        return [] if self._spec is None else _grid_jobs(self._spec, ranked, top_k)

    def keep(self, jobs: Sequence[GridJob]) -> None:
        """From now on the grid is what ``jobs`` compute."""
        self.keys = frozenset(map_key(layer, t, method) for layer, method, targets in jobs
                              for t in targets)

    def clear(self) -> None:
        """No grid for the current input (a perturbed input has none)."""
        self.keys = frozenset()

    def note(self, bytes_per_map: int) -> str:
        """What the status line says while the grid is computed: its size, maps and MB."""
        if not self.keys:
            return ""
        return (f"precomputing a grid of {len(self.keys)} maps, about "
                f"{len(self.keys) * bytes_per_map / 2**20:.1f} MB")


def _check_grid(
    precompute: bool | Mapping[str, Any], methods: Sequence[str]
) -> dict[str, Any] | None:
    """``precompute`` as a full grid spec, or None; bad specs named."""
    if precompute is False:
        return None
    grid: dict[str, Any] = {"methods": list(methods), "layers": [OUTPUT], "targets": None}
    if precompute is True:
        return grid
    if not isinstance(precompute, Mapping):
        raise TypeError(f"precompute must be True, None or a dict with keys {sorted(GRID_KEYS)}; "
                        f"got {type(precompute).__name__}")
    unknown = sorted(set(precompute) - GRID_KEYS)
    if unknown:
        raise ValueError(f"precompute has unknown keys {unknown}; expected {sorted(GRID_KEYS)}")
    grid.update(precompute)
    bad = [m for m in grid["methods"] if m not in methods]
    if bad:
        raise ValueError(f"precompute methods must be among {list(methods)}; got {bad}")
    layers, targets = grid["layers"], grid["targets"]
    if layers != "all" and (isinstance(layers, str) or not isinstance(layers, Sequence)):
        raise TypeError(f'precompute layers must be a list of names or "all"; got {layers!r}')
    if targets is not None and not isinstance(targets, int) and not (
        isinstance(targets, Sequence) and all(isinstance(t, int) for t in targets)
    ):
        raise TypeError(f"precompute targets must be an int k or a list of ints; got {targets!r}")
    return grid


def _grid_jobs(
    grid: Mapping[str, Any], ranked: Mapping[str, list[list[float]]], top_k: int
) -> list[GridJob]:
    """(layer, method, targets) batches covering ``grid`` for the current image."""
    layers = list(ranked) if grid["layers"] == "all" else list(grid["layers"])
    unknown = [name for name in layers if name not in ranked]
    if unknown:
        raise ValueError(f"precompute layers {unknown} are not layers of this model; "
                         f"choose among {list(ranked)}")
    jobs = []
    for layer in layers:
        wanted = grid["targets"]
        if wanted is None or isinstance(wanted, int):
            k = top_k if wanted is None else wanted
            targets = tuple(int(index) for index, _ in ranked[layer][:k])
        else:
            count = len(ranked[layer])
            targets = tuple(t for t in wanted if 0 <= t < count)
        jobs += [(layer, method, targets) for method in grid["methods"] if targets]
    return jobs
