"""The widget's job queue and map cache, and how an Explorer uses them on layer moves."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from backprop_lens import NonReluActivationWarning, models
from backprop_lens.engine.interrupt import Interrupted
from backprop_lens.render import RenderedMap
from backprop_lens.widget import Explorer
from backprop_lens.widget.scheduler import (
    PRECOMPUTE,
    VIEW,
    WORKER_NICENESS,
    Job,
    MapCache,
    Worker,
    precompute_batches,
    wanted_at,
)


class Recorder:
    """Runs jobs in order; the first one blocks until released, so the queue can fill."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, tuple[int, ...]]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.errors: list[BaseException] = []
        self.states: list[tuple[bool, int, int]] = []

    def run(self, job: Job) -> None:
        if not self.started.is_set():
            self.started.set()
            assert self.release.wait(10)
        if job.method == "boom":
            raise RuntimeError("boom")
        self.ran.append((job.method, job.targets))

    def worker(self) -> Worker:
        return Worker(self.run, lambda *s: self.states.append(s), self.errors.append)


def test_view_requests_jump_the_queue_and_older_ones_are_dropped() -> None:
    recorder = Recorder()
    worker = recorder.worker()
    worker.submit(PRECOMPUTE, "output", "first", (0,))
    assert recorder.started.wait(10)
    worker.submit(PRECOMPUTE, "output", "pre-a", (1, 2))
    worker.submit(PRECOMPUTE, "output", "pre-b", (3,))
    worker.submit(VIEW, "output", "view-old", (4,), view=1)
    worker.submit(VIEW, "output", "view-new", (5,), view=2)
    recorder.release.set()
    assert worker.wait_idle(10)
    assert [method for method, _ in recorder.ran] == ["first", "view-new", "pre-a", "pre-b"]
    assert recorder.states[-1] == (False, 5, 5)  # the dropped job counts as done


def test_a_new_generation_drops_everything_queued() -> None:
    recorder = Recorder()
    worker = recorder.worker()
    worker.submit(PRECOMPUTE, "output", "first", (0,))
    assert recorder.started.wait(10)
    worker.submit(PRECOMPUTE, "output", "stale", (1,))
    old = Job(0, 0, worker.generation, "output", "x", (0,))
    worker.new_generation()
    assert not worker.is_current(old)
    worker.submit(PRECOMPUTE, "output", "fresh", (2,))
    recorder.release.set()
    assert worker.wait_idle(10)
    assert [method for method, _ in recorder.ran] == ["first", "fresh"]


def test_a_failing_job_is_reported_and_the_worker_goes_on() -> None:
    recorder = Recorder()
    recorder.started.set()
    worker = recorder.worker()
    worker.submit(VIEW, "output", "boom", (0,), view=0)
    worker.submit(PRECOMPUTE, "output", "after", (1,))
    assert worker.wait_idle(10)
    assert [str(e) for e in recorder.errors] == ["boom"]
    assert recorder.ran == [("after", (1,))]


def test_wait_idle_times_out_while_a_job_runs() -> None:
    recorder = Recorder()
    worker = recorder.worker()
    worker.submit(PRECOMPUTE, "output", "slow", (0,))
    assert recorder.started.wait(10)
    assert worker.wait_idle(0.05) is False
    recorder.release.set()
    assert worker.wait_idle(10) is True


def _entry(size: int) -> RenderedMap:
    return RenderedMap(b"x" * size, "image/png", 1.0, "signed_rgb")


def test_the_cache_evicts_least_recently_used_beyond_its_cap() -> None:
    cache = MapCache(max_bytes=300)
    assert cache.put("a", _entry(100)) == []
    assert cache.put("b", _entry(100)) == []
    assert cache.get("a") is not None           # a is now the most recent
    assert cache.put("c", _entry(150)) == ["b"]
    assert "a" in cache and "c" in cache and "b" not in cache
    assert cache.nbytes == 250
    assert cache.put("huge", _entry(1000)) == ["a", "c"]  # never evicts what it just stored
    assert len(cache) == 1
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0


def test_the_cache_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_bytes must be positive"):
        MapCache(0)


def test_wait_idle_returns_only_after_the_idle_state_is_reported() -> None:
    reported: list[bool] = []

    def slow_report(busy: bool, done: int, total: int) -> None:
        if not busy:
            time.sleep(0.2)  # a status update and a whole-state sync take time
            reported.append(busy)

    worker = Worker(lambda job: None, slow_report, lambda exc: None)
    worker.submit(PRECOMPUTE, "output", "m", (0,))
    assert worker.wait_idle(10)
    assert reported == [False]


def test_retain_drops_the_work_of_layers_left_behind_before_it_starts() -> None:
    recorder = Recorder()
    worker = recorder.worker()
    worker.submit(PRECOMPUTE, "output", "first", (0,))
    assert recorder.started.wait(10)
    for layer in ("a", "b", "c"):
        worker.submit(PRECOMPUTE, layer, f"pre-{layer}", (1,))
    worker.submit(PRECOMPUTE, "output", "pre-output", (2,))
    worker.submit(PRECOMPUTE, "a", "grid-a", (7,))
    worker.submit_task(lambda: recorder.ran.append(("task", ())))
    dropped = worker.retain(wanted_at({"output", "c"}, pinned={"a/7/grid-a"}))
    assert dropped == 2  # pre-a and pre-b, never started
    recorder.release.set()
    assert worker.wait_idle(10)
    assert [method for method, _ in recorder.ran] == [
        "first", "task", "pre-c", "pre-output", "grid-a"]
    assert recorder.states[-1] == (False, 7, 7)  # the dropped jobs count as done


def test_inner_layers_are_precomputed_one_map_per_job_and_the_output_in_one_batch() -> None:
    assert list(precompute_batches("conv", "output", ["s", "g"], (3, 1))) == [
        ("s", (3,)), ("s", (1,)), ("g", (3,)), ("g", (1,))]
    assert list(precompute_batches("output", "output", ["s", "g"], (3, 1))) == [
        ("s", (3, 1)), ("g", (3, 1))]


def test_a_burst_of_layer_moves_runs_no_stale_work() -> None:
    """Five quick layer moves while the worker is busy: only the last layer's maps (and the
    output's) are computed afterwards, the view's first; nothing of the layers passed over."""
    spec = models.paper_cnn(n_filters=4, input_size=16, n_classes=3, depth=3)
    explorer = Explorer(model=spec, image=np.zeros((16, 16, 3), np.uint8), top_k=2)
    assert explorer.wait(60)
    ran: list[tuple[int, str]] = []
    run = explorer._run_job

    def recording(job: Job) -> None:
        ran.append((job.priority, job.layer))
        run(job)

    explorer._run_job = recording  # type: ignore[method-assign]
    explorer._worker._run = recording
    gate = threading.Event()
    explorer._worker.submit_task(lambda: gate.wait(30))
    inner = [entry["name"] for entry in explorer.layers[1:]]
    assert len(inner) >= 5
    for layer in inner[:5]:
        explorer.layer = layer
    gate.set()
    assert explorer.wait(60)
    assert {layer for _, layer in ran} == {inner[4]}
    assert ran[0][0] == VIEW


def test_the_interpreter_exits_cleanly_while_maps_are_computed() -> None:
    """A script that ends right after creating an Explorer exits with 0, not with an abort from
    a worker thread stopped inside torch."""
    script = ("import numpy as np\nfrom backprop_lens import Explorer, models\n"
              "spec = models.paper_cnn(n_filters=16, input_size=64, n_classes=10)\n"
              "Explorer(model=spec, image=np.zeros((64, 64, 3), np.uint8), top_k=10)\n")
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           timeout=300)
    assert found.returncode == 0, found.stderr[-2000:]
    assert "terminate called" not in found.stderr


class _HeldBackward(torch.autograd.Function):
    """The identity; its backward pass waits at ``gate`` while the gate is armed."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, gate: Gate) -> torch.Tensor:
        ctx.gate = gate
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        ctx.gate.hold()
        return grad, None


class Gate(nn.Module):
    """Passes its input on; while ``armed`` is set, the worker's backward pass through it waits
    until ``release`` (after saying so by ``entered``). In the backward pass: a layer move runs
    no forward pass (the input's is kept)."""

    def __init__(self) -> None:
        super().__init__()
        # Events, not flags: the engine runs a twin of the model, made when the input's forward
        # pass ran, which shares these objects but not later assignments.
        self.armed = threading.Event()
        self.entered = threading.Event()
        self.release = threading.Event()

    def hold(self) -> None:
        if self.armed.is_set() and threading.current_thread().name == "backprop-lens-worker":
            self.entered.set()
            assert self.release.wait(30)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _HeldBackward.apply(x, self)  # type: ignore[no-any-return]


def gated_explorer() -> tuple[Explorer, Gate]:
    torch.manual_seed(0)
    gate = Gate()
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), gate,
                          nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * 16 * 16, 3)).eval()
    spec = models.as_lens_model(model, input_size=16)
    with pytest.warns(NonReluActivationWarning, match="_HeldBackward"):  # no rule: true
        explorer = Explorer(model=spec, image=np.zeros((16, 16, 3), np.uint8), top_k=1)
    assert explorer.wait(60)
    return explorer, gate


def test_a_running_map_that_a_newer_request_made_stale_stops_before_it_ends() -> None:
    """The user moves on while a map of the layer they left is being computed: the engine stops
    it at its next checkpoint (no map of that layer appears), and the new layer's maps come."""
    explorer, gate = gated_explorer()
    left, chosen = "5", "3"  # the last convolution, then the one below it (both after the gate)
    gate.armed.set()
    explorer.layer = left
    assert gate.entered.wait(30)  # the view's first map of ``left`` is running, held at the gate
    explorer.layer = chosen
    gate.armed.clear()
    gate.release.set()
    assert explorer.wait(60)
    assert explorer.status == "idle"
    assert not [key for key in explorer.maps if key.startswith(f"{left}/")]
    assert all(f"{chosen}/{explorer.target}/{method}" in explorer.maps
               for method in explorer.methods)


def test_a_layer_move_requests_its_view_once() -> None:
    """A second request would make the first one's running map stale, and stop it."""
    spec = models.paper_cnn(n_filters=4, input_size=16, n_classes=3, depth=3)
    explorer = Explorer(model=spec, image=np.zeros((16, 16, 3), np.uint8), top_k=2)
    assert explorer.wait(60)
    for entry in explorer.layers[1:3]:
        before = explorer._view_requests
        explorer.layer = entry["name"]
        assert explorer._view_requests == before + 1
    assert explorer.wait(60)


def test_another_method_chosen_while_the_view_computes_leaves_the_running_map_be() -> None:
    """Every method's map of the layer and target shown is still wanted: none is stopped (to
    be computed again)."""
    explorer, gate = gated_explorer()
    stopped: list[tuple[str, str]] = []
    run = explorer._worker._run

    def recording(job: Job) -> None:
        try:
            run(job)
        except Interrupted:
            stopped.append((job.layer, job.method))
            raise

    explorer._worker._run = recording
    gate.armed.set()
    explorer.layer = "5"
    assert gate.entered.wait(30)  # the view's first map is running, held at the gate
    explorer.method = next(m for m in explorer.methods if m != explorer.method)
    explorer.set_state({"layer": "5", "target": explorer.target})  # as the front end may send
    gate.armed.clear()
    gate.release.set()
    assert explorer.wait(60) and explorer.status == "idle"
    assert stopped == []
    assert all(f"5/{explorer.target}/{method}" in explorer.maps for method in explorer.methods)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="niceness per thread: Linux")
def test_the_worker_computes_at_a_lower_priority_than_the_kernel() -> None:
    """The messages that steer the worker (and the server and browser that carry them) must not
    wait behind its computation; the kernel's own threads keep their priority."""
    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    worker = Worker(lambda job: None, lambda *state: None, lambda exc: None)
    worker.submit_task(lambda: None)  # run once the thread has set its priority
    assert worker.wait_idle(5)
    native = worker._thread.native_id
    assert native is not None
    assert os.getpriority(os.PRIO_PROCESS, native) == min(19, main + WORKER_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main
