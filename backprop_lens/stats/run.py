"""``stats.run``: one call from a data set and some models to a results folder and its summary."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import torch
from tqdm.auto import tqdm

from ..engine import METHODS
from .compute import ModelWorker
from .local import default_loader_workers, run_local
from .output import ResultsStore, read
from .settings import (
    ModelLike,
    Settings,
    check_methods,
    check_models,
    check_targets,
    check_targets_fit,
    model_name,
    resolve_model,
)
from .sources import open_source
from .summary import Summary, summarize

ENGINES = ("local", "ray")

#: The automatic batch size keeps a chunk near this many input values (16 images at 224²).
BATCH_ELEMENTS = 16 * 3 * 224 * 224
MAX_BATCH = 64


@dataclass(frozen=True)
class StatsResult:
    """What a run left: every row in ``out`` so far, their summary, and this run's counts."""

    out: Path
    rows: pa.Table
    summary: Summary
    computed: int
    skipped: int
    seconds: float

    def __str__(self) -> str:
        return (f"{self.out}: {self.computed} images computed in {self.seconds:.1f} s, "
                f"{self.skipped} already there\n\n{self.summary.to_text()}")

    def _repr_markdown_(self) -> str:
        return str(self)


def run(
    models: ModelLike | Sequence[ModelLike],
    images: object,
    methods: str | Sequence[str] = METHODS,
    targets: str | Sequence[int] = "top5",
    out: str | os.PathLike[str] = "results.parquet",
    engine: str = "local",
    *,
    cascade: bool = False,
    pgd: bool = False,
    batch_size: int | None = None,
    workers: int | None = None,
    threads: int | None = None,
    device: str | None = None,
    address: str | None = None,
    progress: bool = True,
) -> StatsResult:
    """Measure every method on every image for every model; rows go to ``out`` as they come.

    Args:
        models: zoo names (``models.available()``), ``LensModel``s or ``nn.Module``s; rows
            name each by its zoo name or ``LensModel.name``.
        images: a folder, an image file or list of files, ``"shapes:N[:SEED]"``,
            ``"samples"``, or a ``torch.utils.data.Dataset`` (see ``stats.sources``).
        methods: names from ``backprop_lens.METHODS``.
        targets: ``"topK"`` (e.g. ``"top5"``), ``"label"``, or a list of class indices.
        out: the results folder (Parquet parts, see ``stats.output``). An existing one is
            resumed: its images are skipped; its settings must match this run's.
        engine: ``"local"`` (this process) or ``"ray"`` (Ray Data, see ``stats.ray_engine``).
        cascade, pgd: also measure stability under cascading randomisation / a PGD attack.
        batch_size: images per chunk (one forward pass per model and method); by default as
            many as keep a chunk near 16 images at 224² (at most 64).
        workers: decoding processes (local) or model actors (Ray); a default per engine.
        threads: torch threads for the models, in this process or in each Ray actor; by
            default this process's ``torch.get_num_threads()``. The rows of both engines are
            the same bit for bit with the same threads (some sums depend on the thread count).
        device: where the models run (e.g. ``"cuda"``); the model's own device by default.
        address: the Ray cluster (``"auto"``, ``"ray://host:port"``); ``None`` starts a local
            Ray bound to 127.0.0.1, or uses one already started in this process.
        progress: show a progress bar (tqdm: a bar in terminals, a widget in notebooks).

    Returns:
        A :class:`StatsResult`; its summary is also written beside ``out``
        (``<out>.summary.csv`` and ``.summary.md``).

    Raises:
        ValueError / TypeError: naming the argument, for bad input (an empty folder, an
            unknown model or method, an output of another run's settings, …).
        ConnectionError: the Ray address does not answer.
    """
    chosen = check_models(models)
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}; got {engine!r}")
    settings = Settings(models=tuple(model_name(m) for m in chosen),
                        methods=check_methods(methods), targets=check_targets(targets),
                        cascade=_flag(cascade, "cascade"), pgd=_flag(pgd, "pgd"))
    source = open_source(images)
    specs = [resolve_model(model) for model in chosen]
    for spec, name in zip(specs, settings.models, strict=True):
        check_targets_fit(settings.targets, spec, name)
    size = max(spec.input_size[0] * spec.input_size[1] * spec.channels for spec in specs)
    batch = _positive(batch_size, "batch_size",
                      default=max(1, min(MAX_BATCH, BATCH_ELEMENTS // size)))
    store = ResultsStore(out, settings)
    pending = [i for i, image in enumerate(source.ids) if image not in store.done]
    threads = _positive(threads, "threads", default=torch.get_num_threads())
    start = time.perf_counter()
    computed = 0
    bar = tqdm(total=len(pending), unit="img", desc="stats", disable=not progress)

    def advance(n: int) -> None:
        nonlocal computed
        computed += n
        bar.update(n)

    try:
        if pending and engine == "local":
            workers_here = [ModelWorker(spec, name, settings, device)
                            for spec, name in zip(specs, settings.models, strict=True)]
            run_local(source, pending, workers_here, store, batch,
                      _positive(workers, "workers", default=default_loader_workers(source),
                                low=0), threads, advance)
        elif pending:
            from .ray_engine import run_ray

            run_ray(source, pending, chosen, settings, [s.input_size for s in specs], store,
                    batch, workers=workers, threads=threads, device=device, address=address,
                    progress=advance)
    finally:
        store.flush()  # also on Ctrl-C and errors: every finished chunk is kept
        bar.close()
    rows = read(store.folder)
    summary = summarize(rows)
    summary.write(store.folder)
    return StatsResult(store.folder, rows, summary, computed, len(source.ids) - len(pending),
                       time.perf_counter() - start)


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return value


def _positive(value: object, name: str, default: int, low: int = 1) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int ≥ {low} or None; got {value!r}")
    return value

