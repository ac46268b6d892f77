"""The Explorer's rendered maps of the input being explained: the bounded cache that holds them,
the ``maps`` trait that mirrors it, and how new maps reach the front end.

Each new map reaches the front end once, as its own key of the widget's state (``MAP_PREFIX`` +
``"layer/target/method"``: ``{"image", "mime", "scale", "convention", "generation"}``, the
picture a binary buffer), sent in one standard ``update`` message per batch. So the bytes sent per
user action follow the new maps, never the history, and whatever keeps a widget's state keeps
every map: JupyterLab saving a notebook (it writes the front end's model), nbclient executing
one (``nbconvert --execute``: it merges each update). A map evicted from the cache, or of a former
input, is sent again empty, so that neither side keeps it.

The ``maps`` trait holds every map of the cache too, updated in place, never re-sent as maps
come: it is what a front end gets when it (re)connects and asks for the whole state, and what
exported pages write (``export``). The front end looks a map up in both (``js/mapstore.ts``).
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from typing import Any, Protocol

from ..render import RenderedMap
from .keys import CLEAN
from .scheduler import MapCache

#: The prefix of the state keys that carry one map each (read by ``js/mapstore.ts``).
MAP_PREFIX = "map:"


class MapsWidget(Protocol):
    """What the store needs of its widget: the synced ``maps`` trait, sending it whole, and
    sending a state update (``ipywidgets.Widget._send``)."""

    maps: dict[str, Any]

    def send_state(self, key: str | list[str] | None = None) -> None: ...

    def _send(self, msg: dict[str, Any], buffers: list[Any] | None = None) -> None: ...


class MapStore:
    """The maps of one widget, cached under ``cache_bytes`` (least recently used first out;
    maps of the precomputed grid are pinned), mirrored in its ``maps`` trait, each sent once."""

    def __init__(self, widget: MapsWidget, cache_bytes: int) -> None:
        self._widget = widget
        self._cache = MapCache(cache_bytes)
        # ``maps`` is changed in place by the worker, state sent by the kernel thread: one at a
        # time, and in order (a map of a former input must never arrive after its removal).
        self._lock = threading.Lock()
        self._sent: set[str] = set()  # the keys whose state key holds a map now

    def has(self, key: str, with_clean: bool) -> bool:
        """Whether the map ``key`` is there, and (``with_clean``: a perturbed input) its
        clean counterpart too."""
        return key in self._cache and (not with_clean or CLEAN + key in self._cache)

    def clear(self) -> None:
        """Forget every map (a new input), here and in the front end's per-map state keys; the
        ``maps`` trait is reset by the widget."""
        with self._lock:
            self._cache.clear()
            self._send_maps({}, removed=self._sent, generation=-1)

    def publish(self, rendered: Mapping[str, RenderedMap], generation: int, notify: bool,
                pinned: Collection[str]) -> None:
        """Cache new maps (those in ``pinned`` never evicted), mirror them in ``maps``, and
        send them: each as its own state key (``notify``), else by sending ``maps`` whole."""
        widget = self._widget
        with self._lock:
            evicted: list[str] = []
            for key, entry in rendered.items():
                evicted += self._cache.put(key, entry, pinned=key in pinned)
                widget.maps[key] = {"image": entry.image, "mime": entry.mime,
                                    "scale": entry.scale, "convention": entry.convention}
            for key in evicted:
                widget.maps.pop(key, None)
            if not notify:
                widget.send_state("maps")
                return
            kept = {key: rendered[key] for key in rendered if key not in evicted}
            self._send_maps(kept, removed=set(evicted) & self._sent, generation=generation)

    def _send_maps(self, maps: Mapping[str, RenderedMap], removed: Collection[str],
                   generation: int) -> None:
        """One ``update`` message: a state key per map of ``maps``, and an empty one per key of
        ``removed`` (an empty buffer too, so that a client merging buffers by path, as nbclient
        does, drops the old picture). Called with the lock held."""
        state: dict[str, Any] = {}
        buffers: list[bytes] = []
        for key in removed:
            state[MAP_PREFIX + key] = {"mime": "", "scale": 0.0, "convention": "",
                                       "generation": generation}
            buffers.append(b"")
        for key, entry in maps.items():
            state[MAP_PREFIX + key] = {"mime": entry.mime, "scale": entry.scale,
                                       "convention": entry.convention, "generation": generation}
            buffers.append(entry.image)
        if not state:
            return
        self._sent.difference_update(removed)
        self._sent.update(maps)
        paths = [[name, "image"] for name in state]
        self._widget._send({"method": "update", "state": state, "buffer_paths": paths},
                           buffers=buffers)
