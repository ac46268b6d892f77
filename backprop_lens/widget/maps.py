"""The Explorer's rendered maps of the input being explained: the bounded cache that holds them,
the ``maps`` trait that mirrors it, and how new maps reach the front end.

New maps go to the front end at once as one binary message (``{"type": "maps", "generation",
"add", "remove"}`` plus one buffer per added map); the ``maps`` trait is synced whole only when
asked (``sync``: the worker went idle, or a view asked), so that saved notebooks and exported
pages hold every map without a full sync per map.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from typing import Any, Protocol

from ..render import RenderedMap
from .keys import CLEAN
from .scheduler import MapCache


class MapsWidget(Protocol):
    """What the store needs of its widget: the synced ``maps`` trait and the two ways to send."""

    maps: dict[str, Any]

    def send_state(self, key: str | list[str] | None = None) -> None: ...

    def send(self, content: dict[str, Any], buffers: list[Any] | None = None) -> None: ...


class MapStore:
    """The maps of one widget, cached under ``cache_bytes`` (least recently used first out;
    maps of the precomputed grid are pinned) and mirrored in its ``maps`` trait."""

    def __init__(self, widget: MapsWidget, cache_bytes: int) -> None:
        self._widget = widget
        self._cache = MapCache(cache_bytes)
        # ``maps`` is changed in place by the worker and sent by the kernel thread: one at a time.
        self._lock = threading.Lock()

    def has(self, key: str, with_clean: bool) -> bool:
        """Whether the map ``key`` is there, and (``with_clean``: a perturbed input) its
        clean counterpart too."""
        return key in self._cache and (not with_clean or CLEAN + key in self._cache)

    def clear(self) -> None:
        """Forget every map (a new input); the ``maps`` trait is reset by the widget."""
        self._cache.clear()

    def sync(self) -> None:
        """Send the ``maps`` trait whole."""
        with self._lock:
            self._widget.send_state("maps")

    def publish(self, rendered: Mapping[str, RenderedMap], generation: int, notify: bool,
                pinned: Collection[str]) -> None:
        """Cache new maps (those in ``pinned`` never evicted), mirror them in ``maps``, and
        send them: at once as a binary message (``notify``), else by syncing ``maps`` whole."""
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
            kept = [key for key in rendered if key not in evicted]
            added = [{"key": key, "mime": rendered[key].mime, "scale": rendered[key].scale,
                      "convention": rendered[key].convention} for key in kept]
            buffers = [rendered[key].image for key in kept]
        widget.send({"type": "maps", "generation": generation, "add": added, "remove": evicted},
                    buffers=buffers)
