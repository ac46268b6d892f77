"""Background computation for the widget: a prioritised job queue on one worker thread, and a
bounded cache of rendered maps.

Why a thread: the kernel must stay responsive while maps are computed (a cell can run meanwhile);
torch releases the GIL inside its kernels. Why priorities: a slider move to a map not yet computed
must be served before the rest of the precomputation. Why generations: when the image or model
changes, everything queued for the old one is dropped, and results still in flight are discarded.
Why small jobs at inner layers: a burst of slider moves must not wait behind the precomputation
of a layer the user already left; such work is dropped before it starts (``retain``), what runs
when the burst begins is at most one map per method (``precompute_batches``), and that map is
stopped at the engine's next checkpoint once a newer request makes it stale
(``engine.interrupt``).
"""

from __future__ import annotations

import atexit
import contextlib
import heapq
import itertools
import os
import sys
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar

from ..engine.interrupt import Interrupted, interruptible
from ..render import RenderedMap
from .keys import map_key

#: Job priorities: a change of the input (an attack) first, then what the view shows now,
#: then the precomputation.
INPUT, VIEW, PRECOMPUTE = -1, 0, 1

#: The default memory cap of the map cache (PNG bytes).
DEFAULT_CACHE_BYTES = 64 * 2**20


@dataclass(order=True)
class Job:
    priority: int
    order: int
    generation: int = field(compare=False)
    layer: str = field(compare=False)
    method: str = field(compare=False)
    targets: tuple[int, ...] = field(compare=False)
    view: int = field(compare=False, default=-1)  # the view request it serves (VIEW jobs)
    #: Work other than a map (an attack): run instead of ``run(job)`` when set.
    task: Callable[[], None] | None = field(compare=False, default=None)


def precompute_batches(layer: str, output: str, methods: Sequence[str],
                       targets: tuple[int, ...]) -> Iterator[tuple[str, tuple[int, ...]]]:
    """(method, targets) jobs precomputing ``targets`` of ``layer`` for each method: one batch
    per method at the ``output`` layer (the class-sensitivity statistic needs the batch whole),
    one target per job at inner layers (so that a newer request never waits for more than one
    map)."""
    for method in methods:
        if layer == output:
            yield method, targets
        else:
            yield from ((method, (t,)) for t in targets)


def wanted_at(layers: Collection[str], pinned: Collection[str]) -> Callable[[Job], bool]:
    """The ``retain`` rule after a layer move: keep the jobs of ``layers`` (the output and the
    layer shown), those computing a ``pinned`` map (the precomputed grid), and every view
    job (``Worker`` drops stale ones itself)."""

    def keep(job: Job) -> bool:
        return (job.priority != PRECOMPUTE or job.layer in layers
                or any(map_key(job.layer, t, job.method) in pinned for t in job.targets))

    return keep


class MapCache:
    """Rendered maps by key, least recently used evicted first beyond ``max_bytes``.

    Pinned maps (a precomputed grid that a published page needs whole) are never evicted.
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive; got {max_bytes}")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, RenderedMap] = OrderedDict()
        self._pinned: set[str] = set()
        self._bytes = 0
        self._lock = threading.Lock()

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get(self, key: str) -> RenderedMap | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: str, value: RenderedMap, pinned: bool = False) -> list[str]:
        """Store ``value``; returns the keys evicted to stay under the cap (never ``key``, never
        a pinned one: pinned maps may hold the cache above its cap)."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.image)
            self._entries[key] = value
            self._bytes += len(value.image)
            if pinned:
                self._pinned.add(key)
            evicted = []
            for victim in [k for k in self._entries if k != key and k not in self._pinned]:
                if self._bytes <= self.max_bytes:
                    break
                self._bytes -= len(self._entries.pop(victim).image)
                evicted.append(victim)
            return evicted

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._pinned.clear()
            self._bytes = 0


#: How much lower the worker thread's CPU priority is than the kernel's (Unix niceness). The
#: kernel's own threads, the notebook server and the browser then come first: on a machine with
#: few cores, a slider's message and the map it brings travel while the worker computes. On the
#: 2-core CPU, measured with the default model in JupyterLab (``make benchmark-widget``): a
#: burst of 5 layer moves took 400 ms instead of 602 ms, a single layer move 103–119 ms
#: instead of 124 ms.
WORKER_NICENESS = 10

#: How long the interpreter's exit waits for a running job (queued ones are dropped).
EXIT_WAIT_S = 30.0


class Worker:
    """Runs jobs on one daemon thread, highest priority first.

    ``run(job)`` does the work; ``on_state(busy, done, total)`` reports progress after every
    job; ``on_error(exc)`` gets what a job raised (the worker keeps going). When the
    interpreter exits, queued jobs are dropped and the running one is waited for: a daemon
    thread stopped inside torch aborts the process ("terminate called without an active
    exception").
    """

    _alive: ClassVar[weakref.WeakSet[Worker]] = weakref.WeakSet()

    def __init__(
        self,
        run: Callable[[Job], None],
        on_state: Callable[[bool, int, int], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self._run = run
        self._on_state = on_state
        self._on_error = on_error
        self._heap: list[Job] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._busy = False
        self._done = 0
        self._total = 0
        self._latest_view = -1
        self._generation = 0
        self._keep: Callable[[Job], bool] | None = None  # the latest ``retain`` rule
        self._thread = threading.Thread(target=self._loop, name="backprop-lens-worker",
                                        daemon=True)
        self._thread.start()
        Worker._alive.add(self)

    @property
    def generation(self) -> int:
        return self._generation

    def submit(self, priority: int, layer: str, method: str, targets: tuple[int, ...],
               view: int = -1) -> None:
        with self._cond:
            if view >= 0:
                self._latest_view = max(self._latest_view, view)
            job = Job(priority, next(self._order), self._generation, layer, method, targets, view)
            heapq.heappush(self._heap, job)
            self._total += 1
            self._cond.notify_all()  # the worker, and nobody waiting for idleness by mistake

    def submit_task(self, task: Callable[[], None], priority: int = INPUT) -> None:
        """Queue ``task()`` (dropped like any job by a new generation before it starts)."""
        with self._cond:
            job = Job(priority, next(self._order), self._generation, "", "", (), task=task)
            heapq.heappush(self._heap, job)
            self._total += 1
            self._cond.notify_all()

    def retain(self, keep: Callable[[Job], bool]) -> int:
        """Drop the queued map jobs (not tasks) for which ``keep(job)`` is false, before they
        start, and stop the running one if it is such a job; returns how many were dropped
        from the queue."""
        with self._cond:
            self._keep = keep  # the running job too, at its next checkpoint (``_stale``)
            kept = [job for job in self._heap if job.task is not None or keep(job)]
            dropped = len(self._heap) - len(kept)
            if dropped:
                heapq.heapify(kept)
                self._heap = kept
                self._done += dropped
                self._cond.notify_all()
            return dropped

    def new_generation(self) -> int:
        """Drop every queued job; results of the running one will be discarded too."""
        with self._cond:
            self._generation += 1
            self._keep = None
            self._heap.clear()
            self._done = self._total = 0
            return self._generation

    def is_current(self, job: Job) -> bool:
        return job.generation == self._generation

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no job is queued or running; False if ``timeout`` ran out first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._heap and not self._busy, timeout)

    def _stale(self, job: Job) -> bool:
        """Whether ``job`` is no longer wanted: of a former input, a view request that a newer
        one replaced, or precomputation that the latest ``retain`` rule drops."""
        return (job.generation != self._generation
                or 0 <= job.view < self._latest_view
                or (job.task is None and self._keep is not None and not self._keep(job)))

    def _next(self) -> Job:
        with self._cond:
            while True:
                self._cond.wait_for(lambda: bool(self._heap))
                job = heapq.heappop(self._heap)
                if not self._stale(job):
                    self._busy = True
                    return job
                self._done += 1  # dropped: a newer view request or a new image replaced it

    def _loop(self) -> None:
        _lower_priority()  # the computation gives way to the messages that steer it
        while True:
            job = self._next()
            try:
                if job.task is not None:
                    job.task()
                else:
                    # Read without the lock: a check that sees a change one checkpoint late
                    # costs one module's work, a lock on every module call costs more.
                    with interruptible(partial(self._stale, job)):
                        self._run(job)
            except Interrupted:
                pass  # stale since it started: counted done like one dropped from the queue
            except BaseException as exc:  # the thread must survive any job
                self._on_error(exc)
            with self._cond:
                if job.generation == self._generation:  # else counted in no total
                    self._done += 1
                busy, done, total = bool(self._heap), self._done, self._total
                if not busy:
                    self._done = self._total = 0
            # Still busy for waiters until the state is reported: wait_idle() must not return
            # before the status says idle and the maps are synced.
            self._on_state(busy, done, total)
            with self._cond:
                self._busy = bool(self._heap)
                self._cond.notify_all()


def _lower_priority() -> None:
    """Lower the calling thread's CPU priority by ``WORKER_NICENESS`` (Linux: niceness is per
    thread, and the threads torch starts for this one inherit it). Elsewhere, or where it is
    not allowed, the thread keeps its priority: slower under load, never wrong."""
    if not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, thread,
                       os.getpriority(os.PRIO_PROCESS, thread) + WORKER_NICENESS)


@atexit.register
def _finish_at_exit() -> None:
    """Drop every worker's queue and let its running job end (see ``Worker``)."""
    workers = list(Worker._alive)
    for worker in workers:
        worker.new_generation()
    for worker in workers:
        worker.wait_idle(EXIT_WAIT_S)
