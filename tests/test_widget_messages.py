"""Numbers from the front end (issue 11, item 8): every numeric field of every custom message,
given a value no float can hold, or none at all, gets the same clear status error as any other
bad value; nothing escapes the handler, and the Explorer still computes afterwards."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from test_widget_explorer import small_explorer

from backprop_lens.widget import Explorer
from backprop_lens.widget.keys import map_key

HUGE = [10**400, -(10**400), 10**5000, math.inf, -math.inf, math.nan, 1e308 * 10]
HUGE_IDS = ["1e400", "-1e400", "1e5000", "inf", "-inf", "nan", "1e308*10"]


@pytest.fixture(scope="module")
def explorer() -> Explorer:
    return small_explorer()


def stroke_message(explorer: Explorer, **changes: Any) -> tuple[dict[str, Any], list[Any]]:
    height, width = explorer.input_shape
    cover = np.zeros((height, width), np.uint8)
    cover[2:6, 2:6] = 255
    content = {"type": "stroke", "mode": "brighten", "strength": 40, "width": width,
               "height": height, **changes}
    return content, [memoryview(cover.tobytes())]


def attack_message(**changes: Any) -> tuple[dict[str, Any], list[Any]]:
    return {"type": "attack", "method": "pgd", "eps": 4, "steps": 2, "target": None,
            **changes}, []


#: (message maker, numeric field, what the status must name)
FIELDS = [
    ("stroke", "strength", "strength must be a number"),
    ("stroke", "width", "width"),
    ("stroke", "height", "height"),
    ("attack", "eps", "eps must be a number"),
    ("attack", "steps", "steps must be"),
    ("attack", "target", "target must be"),
]


@pytest.mark.parametrize("value", HUGE, ids=HUGE_IDS)
@pytest.mark.parametrize(("kind", "field", "named"), FIELDS)
def test_numbers_no_float_holds_are_a_status_error_naming_the_field(
    explorer: Explorer, kind: str, field: str, named: str, value: Any,
) -> None:
    explorer.status = "idle"
    generation = explorer.generation
    if kind == "stroke":
        content, buffers = stroke_message(explorer, **{field: value})
    else:
        content, buffers = attack_message(**{field: value})
    explorer._on_custom_message(explorer, content, buffers)
    assert explorer.status.startswith("error: ") and named in explorer.status, explorer.status
    assert len(explorer.status) < 300  # a 5000-digit number is described, not printed
    assert explorer.generation == generation and not explorer.attacking


@pytest.mark.parametrize("value", [10**400, 10**5000, -(10**400)], ids=HUGE_IDS[:3])
def test_a_huge_target_from_the_front_end_is_named_and_undone(
    explorer: Explorer, value: int,
) -> None:
    target = explorer.target
    explorer.set_state({"target": value})
    assert explorer.status.startswith("error: target must be"), explorer.status
    assert "digits" in explorer.status and explorer.target == target


def test_the_worker_still_computes_after_bad_numbers(explorer: Explorer) -> None:
    content, buffers = attack_message(eps=10**400)
    explorer._on_custom_message(explorer, content, buffers)
    assert explorer.status.startswith("error: ")
    layer = explorer.layers[-1]["name"]
    explorer.layer = layer
    assert explorer.wait(60)
    assert map_key(layer, explorer.target, explorer.method) in explorer.maps
    assert explorer.status == "idle"
