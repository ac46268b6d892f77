"""Guards (issue 11, item 14): random trait values and random custom messages, as a front end
could send them, never escape the Explorer: the status names the problem, and the worker still
computes afterwards; and a storm of 1000 target changes in 2 s ends on the map of the last one,
with memory bounded."""

from __future__ import annotations

import gc
import os
import time
import tracemalloc
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_widget_explorer import small_explorer

from backprop_lens import models
from backprop_lens.widget import OUTPUT, Explorer
from backprop_lens.widget.explorer import FRONTEND_WRITABLE
from backprop_lens.widget.keys import map_key

#: Whatever JSON (and Python's json module) can carry: huge ints, non-finite floats, text, nests.
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**300),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["output", "guided_backprop", "saliency", "pgd", "fgsm", "brighten", ""]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)
trait_updates = st.dictionaries(
    st.sampled_from([*sorted(FRONTEND_WRITABLE), "maps", "status", "_esm", "generation"]),
    values, min_size=1, max_size=3)
MESSAGE_FIELDS = ["type", "mode", "strength", "width", "height", "method", "eps", "steps",
                  "target", "masked"]
messages = st.one_of(
    values,
    st.dictionaries(st.sampled_from(MESSAGE_FIELDS), values, max_size=6),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["stroke", "attack", "undo", "cancel", "launch"])},
        optional={key: values for key in MESSAGE_FIELDS[1:]}),
)
buffers = st.lists(st.binary(max_size=64), max_size=2)


@pytest.fixture(scope="module")
def explorer() -> Explorer:
    return small_explorer()


def assert_named(status: str) -> None:
    """A status line that names a problem: short, readable text after "error: "."""
    assert status in ("idle", "computing") or (
        status.startswith("error: ") and 8 < len(status) < 600), status


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(update=trait_updates, message=messages, payload=buffers)
def test_random_traits_and_messages_never_escape(
    explorer: Explorer, update: dict[str, Any], message: Any, payload: list[bytes],
) -> None:
    explorer.set_state(update)
    assert_named(explorer.status)
    explorer._on_custom_message(explorer, message, [memoryview(b) for b in payload])
    assert_named(explorer.status)


def test_the_worker_still_computes_after_the_fuzzing(explorer: Explorer) -> None:
    """Runs after the property test (same module-scoped Explorer)."""
    explorer.cancel()
    assert explorer.wait(120)
    explorer.set_state({"layer": explorer.layers[-1]["name"]})
    explorer.set_state({"target": 1})
    assert explorer.wait(120)
    assert map_key(explorer.layer, 1, explorer.method) in explorer.maps
    assert explorer.status == "idle"


@pytest.mark.slow
def test_a_storm_of_1000_target_changes_ends_on_the_last_map_with_bounded_memory() -> None:
    spec = models.paper_cnn(n_filters=8, input_size=32, n_classes=1000)
    explorer = Explorer(model=spec, image=small_explorer().image, cache_mb=4)
    assert explorer.wait(120)
    ranked = [int(t) for t, _ in explorer.targets[OUTPUT]]
    gc.collect()
    rss_before = resident_bytes()
    tracemalloc.start()
    began = time.monotonic()
    for step in range(1000):  # as the front end sends them: 1000 in 2 s
        explorer.set_state({"target": ranked[(step * 7919) % len(ranked)]})
        time.sleep(max(0.0, began + (step + 1) * 0.002 - time.monotonic()))
    storm_s = time.monotonic() - began
    assert explorer.wait(120)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    grown = resident_bytes() - rss_before
    last = ranked[(999 * 7919) % len(ranked)]
    print(f"\n1000 target changes in {storm_s:.2f} s, settled "
          f"{time.monotonic() - began - storm_s:.2f} s later; Python heap peak {peak / 2**20:.1f} "
          f"MB, resident memory grew {grown / 2**20:.1f} MB; "
          f"{len(explorer.maps)} maps kept, {explorer._maps._cache.nbytes / 2**20:.2f} MB")
    assert storm_s < 4.0
    assert explorer.target == last and explorer.status == "idle"
    for method in explorer.methods:
        assert map_key(OUTPUT, last, method) in explorer.maps
    assert explorer._maps._cache.nbytes <= 4 * 2**20
    assert peak < 64 * 2**20, f"the storm held {peak / 2**20:.0f} MB at its peak"
    assert grown < 256 * 2**20, f"resident memory grew {grown / 2**20:.0f} MB"


def resident_bytes() -> int:
    """This process's resident memory now (Linux), torch's allocations included."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
