"""The Ray engine: the local engine's chunks, spread over a Ray cluster with Ray Data.

The pending images are cut into the same chunks as the local engine cuts them; a Ray Data
set holds one row per chunk (its image indices), and ``map_batches`` hands each chunk to a
callable class, :class:`ChunkWorker`: each actor loads the models once, then reads the images
of a chunk and runs :func:`compute.compute_chunk`, the function the local engine runs. The
rows stream back to this process, which writes them (``output.ResultsStore``) as they come.

Each actor runs torch with ``threads`` threads, by default as many as the local engine uses:
some convolutions sum in an order that depends on the thread count, and the same threads give
the same rows, bit for bit, as the local engine.

Resources: on a cluster with GPUs each actor gets an equal share of them and runs its models
on CUDA. CPU actors ask for at most one CPU each and, together, for one CPU less than the
cluster has: Ray Data needs a free CPU for its own tasks, and a pipeline whose actors hold
every CPU stalls (two one-CPU actors on a two-CPU Ray hang). A killed actor is restarted by
Ray and its chunk run again; the store drops any row it already has, so every image appears
exactly once.

Ray is optional: ``pip install 'backprop-lens[ray]'``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import torch

from .compute import ModelWorker, compute_chunk
from .output import ResultsStore
from .settings import ModelLike, Settings, resolve_model
from .sources import Size, Source, read_item

#: Seconds to wait for a Ray address to answer before giving up.
CONNECT_TIMEOUT_S = 5.0


class ChunkWorker:
    """One Ray actor's state (its models, loaded once) and its work on a batch of chunks."""

    def __init__(self, source: Source, models: Sequence[ModelLike], settings: Settings,
                 sizes: Sequence[Size], device: str | None, threads: int) -> None:
        import ray

        torch.set_num_threads(threads)
        if device is None and ray.get_gpu_ids():
            device = "cuda"
        self.source, self.sizes = source, list(sizes)
        self.workers = [ModelWorker(resolve_model(model), name, settings, device)
                        for model, name in zip(models, settings.models, strict=True)]

    def __call__(self, batch: pa.Table) -> pa.Table:
        tables = [compute_chunk(self.workers,
                                [read_item(self.source, i, self.sizes) for i in indices])
                  for indices in batch.column("indices").to_pylist()]
        return pa.concat_tables(tables)


def run_ray(source: Source, pending: Sequence[int], models: Sequence[ModelLike],
            settings: Settings, sizes: Sequence[Size], store: ResultsStore, batch_size: int,
            *, workers: int | None, threads: int, device: str | None, address: str | None,
            progress: Callable[[int], object]) -> None:
    """Compute the rows of ``pending`` on Ray into ``store`` (see the module doc)."""
    ray = _import_ray()
    started = connect(address)
    try:
        resources = ray.cluster_resources()
        actors, cpus, gpus = plan_actors(resources.get("CPU", 1.0), resources.get("GPU", 0.0),
                                         workers)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours is enough
        chunks = [list(pending[i:i + batch_size]) for i in range(0, len(pending), batch_size)]
        dataset = ray.data.from_items([{"indices": chunk} for chunk in chunks],
                                      override_num_blocks=len(chunks))
        results = dataset.map_batches(
            ChunkWorker, batch_size=1, batch_format="pyarrow", concurrency=actors,
            num_cpus=cpus, num_gpus=gpus,
            fn_constructor_kwargs={"source": source, "models": list(models),
                                   "settings": settings, "sizes": list(sizes),
                                   "device": device, "threads": threads})
        for table in results.iter_batches(batch_size=None, batch_format="pyarrow"):
            progress(store.add(table))
    finally:
        if started:
            ray.shutdown()


def plan_actors(cluster_cpus: float, cluster_gpus: float,
                workers: int | None) -> tuple[int, float, float]:
    """How many actors, and the CPUs and GPUs each one asks for (see the module doc)."""
    if workers is None:
        workers = int(cluster_gpus) if cluster_gpus >= 1 else max(1, int(cluster_cpus) // 2)
    if cluster_gpus > 0:
        return workers, min(1.0, max(cluster_cpus - 1.0, 0.5) / workers), min(
            1.0, cluster_gpus / workers)
    spare = cluster_cpus - 1.0 if cluster_cpus > 1.0 else cluster_cpus / 2.0
    return workers, min(1.0, spare / workers), 0.0


def connect(address: str | None) -> bool:
    """Join the Ray cluster at ``address``, or start a local one bound to 127.0.0.1 when
    ``address`` is None; nothing when Ray is already initialised here. True when this call
    connected (and the caller should shut down afterwards).

    Raises:
        ConnectionError: within ``CONNECT_TIMEOUT_S`` seconds when nothing answers.
    """
    ray = _import_ray()
    if ray.is_initialized():
        return False
    if address is None:
        start_local_ray()
        return True
    if not isinstance(address, str) or not address:
        raise TypeError(f"address must be 'auto', 'host:port' or 'ray://host:port'; got "
                        f"{address!r}")
    check_reachable(address)
    try:
        ray.init(address=address, log_to_driver=False)
    except ConnectionError as error:
        raise ConnectionError(f"address: no Ray cluster answers at {address!r} ({error})") from None
    return True


#: Ray (2.60) turns ``_node_ip_address="127.0.0.1"`` into the machine's network address unless
#: this switch (its single-machine mode) is set before ``ray`` is imported.
LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def start_local_ray() -> None:
    """Start Ray on this machine, bound to the loopback address only (by default Ray binds to
    the machine's network address), with more logical CPUs than cores (see the module doc).
    In a process that imported Ray before, Ray may still pick the network address."""
    os.environ.update(LOOPBACK_ONLY)
    ray = _import_ray()
    ray.init(_node_ip_address="127.0.0.1", include_dashboard=False,
             num_cpus=max(4, os.cpu_count() or 1), log_to_driver=False)


def check_reachable(address: str) -> None:
    """Refuse within seconds an address of the form ``[ray://]host:port`` that does not accept
    connections (Ray itself would retry for a long while)."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", "local": Ray finds the cluster itself, and says so quickly if none
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as error:
        raise ConnectionError(f"address: nothing answers at {address!r} ({error}); is the Ray "
                              "cluster running, and is this the right host and port?") from None


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # Ray Data is an extra of Ray: check it too
    except ImportError:
        raise ImportError("engine='ray' needs Ray Data: pip install 'backprop-lens[ray]'") from None
    return ray
