"""What the kernel sends per user action (issue 11, item 9): bytes proportional to the new maps,
never to the history, while whatever keeps the widget's state (JupyterLab saving a notebook,
nbclient executing one, an exported page) still holds every map."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from backprop_lens.widget import Explorer
from backprop_lens.widget.maps import MAP_PREFIX

pytestmark = pytest.mark.slow  # the shipped CNN's maps at every layer: minutes on a small machine

#: Per message and per map, what the JSON around the pictures may take (keys, mime, scale).
OVERHEAD_PER_MESSAGE = 2_000
OVERHEAD_PER_MAP = 400


class Traffic:
    """Every message the widget's comm sends, and nbclient's view of the state: each ``update``
    merged key by key, buffers by path (nbclient's ``handle_comm_msg``)."""

    def __init__(self, widget: Explorer) -> None:
        self.sizes: list[int] = []
        self.state: dict[str, Any] = {}
        self.buffers: dict[tuple[str, ...], bytes] = {}
        self.sent_keys: list[str] = []
        send = widget.comm.send

        def record(data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
            blobs = [bytes(b) for b in buffers or []]
            self.sizes.append(len(json.dumps(data)) + sum(len(b) for b in blobs))
            if isinstance(data, dict) and data.get("method") == "update":
                self.state.update(data["state"])
                for path, blob in zip(data.get("buffer_paths", []), blobs, strict=True):
                    self.buffers[tuple(path)] = blob
                self.sent_keys += [k for k in data["state"] if k.startswith(MAP_PREFIX)
                                   and len(blobs[data["buffer_paths"].index([k, "image"])])]
            send(data=data, metadata=metadata, buffers=buffers)

        widget.comm.send = record  # type: ignore[method-assign]

    def total(self) -> int:
        return sum(self.sizes)

    def merged_maps(self) -> dict[str, bytes]:
        """The maps nbclient would save: per-map keys with a picture, plus the ``maps`` trait."""
        found = {key: self.buffers[("maps", key, "image")] for key in self.state.get("maps", {})}
        for name in self.state:
            blob = self.buffers.get((name, "image"), b"")
            if name.startswith(MAP_PREFIX) and blob:
                found[name.removeprefix(MAP_PREFIX)] = blob
        return found


def moves(explorer: Explorer, count: int) -> Iterator[tuple[str, int]]:
    """``count`` layer moves over the Explorer's layers, in turn."""
    names = [entry["name"] for entry in explorer.layers]
    for step in range(count):
        yield names[(step + 1) % len(names)], step


@pytest.fixture()
def explorer() -> Explorer:
    w = Explorer(model="shapes_cnn")  # as in the report: 8 layer moves on the shapes CNN
    assert w.wait(120)
    return w


def map_bytes(explorer: Explorer) -> dict[str, int]:
    return {key: len(entry["image"]) for key, entry in explorer.maps.items()}


def test_bytes_per_layer_move_follow_the_new_maps_not_the_history(explorer: Explorer) -> None:
    traffic = Traffic(explorer)
    report = []
    for layer, _ in moves(explorer, 8):
        before, sent = map_bytes(explorer), traffic.total()
        explorer.layer = layer
        assert explorer.wait(120)
        after = map_bytes(explorer)
        new = {key: size for key, size in after.items() if key not in before}
        spent = traffic.total() - sent
        report.append((layer, spent, sum(new.values()), sum(after.values())))
        allowed = sum(new.values()) + OVERHEAD_PER_MESSAGE * 4 + OVERHEAD_PER_MAP * len(new)
        assert spent <= allowed, (
            f"moving to {layer} sent {spent} bytes for {len(new)} new maps of "
            f"{sum(new.values())} bytes (all maps: {sum(after.values())})")
    # The history grew (so a whole re-send would have grown with it); what was sent did not.
    assert report[-1][3] > 3 * report[0][3]
    assert len(traffic.sent_keys) == len(set(traffic.sent_keys)), "a map was sent twice"


def test_a_client_that_merges_updates_keeps_every_map(explorer: Explorer) -> None:
    """As nbclient (``nbconvert --execute``) and JupyterLab's saved state keep them."""
    traffic = Traffic(explorer)
    explorer.send_state()  # what the client holds at the start: the whole state, once
    for layer, _ in moves(explorer, 4):
        explorer.layer = layer
        assert explorer.wait(120)
    kept = traffic.merged_maps()
    assert set(kept) == set(explorer.maps)
    for key, entry in explorer.maps.items():
        assert kept[key] == entry["image"], key
    # The exported page's state (ipywidgets' embed) holds them too.
    embedded = explorer._get_embed_state()
    assert set(embedded["state"]["maps"]) == set(explorer.maps)
    assert {tuple(b["path"]) for b in embedded["buffers"]} >= {
        ("maps", key, "image") for key in explorer.maps}
    assert base64.b64decode(embedded["buffers"][0]["data"])


def test_a_new_input_takes_every_former_map_out_of_the_merged_state(explorer: Explorer) -> None:
    traffic = Traffic(explorer)
    explorer.send_state()
    explorer.layer = explorer.layers[1]["name"]
    assert explorer.wait(120)
    former = set(explorer.maps)
    explorer.image = np.full((64, 64, 3), 200, np.uint8)
    assert explorer.wait(120)
    kept = traffic.merged_maps()
    assert set(kept) == set(explorer.maps)
    assert former - set(explorer.maps), "the new input should have dropped some maps"
