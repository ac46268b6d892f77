"""The Ray engine on a real local Ray, bound to 127.0.0.1 only: the same rows as the local
engine, a killed worker retried, and addresses that do not answer refused within seconds.

Every test has a time limit: a Ray pipeline that starves hangs instead of failing.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from backprop_lens import stats
from backprop_lens.stats.ray_engine import LOOPBACK_ONLY, plan_actors, start_local_ray

os.environ.update(LOOPBACK_ONLY)  # before Ray is imported: loopback only (see ray_engine)
ray = pytest.importorskip("ray")

METHODS = ["saliency", "deconvnet", "guided_backprop"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.timeout(30)
@pytest.mark.parametrize("address", ["ray://127.0.0.1:{port}", "127.0.0.1:{port}"])
def test_an_address_that_does_not_answer_fails_within_seconds(tmp_path: Path,
                                                             address: str) -> None:
    assert not ray.is_initialized()
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match="nothing answers"):
        stats.run("shapes_cnn", "shapes:2", methods="saliency", out=tmp_path / "r.parquet",
                  engine="ray", address=address.format(port=_free_port()), progress=False)
    assert time.perf_counter() - start < 10


def test_actors_leave_a_cpu_for_ray_data() -> None:
    assert plan_actors(2.0, 0.0, 2) == (2, 0.5, 0.0)  # two actors on 2 CPUs: half a CPU each
    assert plan_actors(4.0, 0.0, None) == (2, 1.0, 0.0)
    assert plan_actors(1.0, 0.0, 1) == (1, 0.5, 0.0)
    assert plan_actors(16.0, 2.0, None) == (2, 1.0, 1.0)  # GPUs: one each


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    start_local_ray()  # what engine="ray" starts without an address: loopback, 4+ CPUs
    assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
    yield
    ray.shutdown()


def _sorted(rows: pa.Table) -> pa.Table:
    return rows.sort_by([("image", "ascending"), ("model", "ascending"),
                         ("method", "ascending")])


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.usefixtures("local_ray")
@pytest.mark.parametrize(("model", "images"), [("shapes_cnn", "shapes:64:0"),
                                               ("efficientnet_lite0", "samples")])
def test_ray_gives_the_local_engines_rows_bit_for_bit(tmp_path: Path, model: str,
                                                      images: str) -> None:
    options = {"methods": METHODS, "targets": "top5", "progress": False, "batch_size": 16}
    local = stats.run(model, images, out=tmp_path / "local.parquet", **options)  # type: ignore[arg-type]
    remote = stats.run(model, images, out=tmp_path / "ray.parquet", engine="ray", workers=2,
                       **options)  # type: ignore[arg-type]
    assert remote.computed == local.computed == len(stats.open_source(images).ids)
    assert _sorted(remote.rows).equals(_sorted(local.rows))


def _worker_pids() -> list[int]:
    """The processes of our Ray Data actors (their process title names the callable class)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"ChunkWorker" in title:
                pids.append(int(entry.name))
    return pids


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.usefixtures("local_ray")
def test_a_killed_worker_is_retried_and_every_image_appears_once(tmp_path: Path) -> None:
    n, out = 96, tmp_path / "r.parquet"
    result: list[stats.StatsResult] = []
    runner = threading.Thread(target=lambda: result.append(stats.run(
        "shapes_cnn", f"shapes:{n}:1", methods=METHODS, targets="top5", out=out,
        engine="ray", workers=2, batch_size=4, progress=False)))
    runner.start()
    deadline = time.monotonic() + 300
    while not _worker_pids() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3.0)  # let the actors load their models and start on chunks
    victims = _worker_pids()
    assert victims and runner.is_alive(), "the run ended before a worker could be killed"
    os.kill(victims[0], signal.SIGKILL)
    runner.join(timeout=500)
    assert result, "the run did not finish after its worker was killed"
    rows = result[0].rows
    keys = list(zip(rows.column("image").to_pylist(), rows.column("method").to_pylist(),
                    strict=True))
    assert len(keys) == len(set(keys)) == n * len(METHODS)
    assert result[0].computed == n and not result[0].summary.failures
