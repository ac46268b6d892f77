"""The local engine: chunks of images through every model in this process, decoded ahead in a
``torch.utils.data.DataLoader`` with worker processes.

A chunk is ``batch_size`` consecutive pending images; its maps for all their targets come from
one forward pass per model and method (``batched.target_maps``). The Ray engine cuts the same
chunks and runs the same :func:`compute.compute_chunk`, so both give the same rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from .compute import ModelWorker, compute_chunk
from .output import ResultsStore
from .sources import Item, ShapesSource, Size, Source, read_item

#: Called with the number of images each finished chunk added.
Progress = Callable[[int], object]


class ItemReader(Dataset[Item]):
    """The pending images of a source as a map-style dataset of :class:`Item`s."""

    def __init__(self, source: Source, pending: Sequence[int], sizes: Sequence[Size]) -> None:
        self.source, self.pending, self.sizes = source, list(pending), list(sizes)

    def __len__(self) -> int:
        return len(self.pending)

    def __getitem__(self, position: int) -> Item:
        return read_item(self.source, self.pending[position], self.sizes)


def _as_list(items: list[Item]) -> list[Item]:
    return items  # chunks stay lists: items carry ids, labels and masks, not only tensors


def default_loader_workers(source: Source) -> int:
    """Decoding processes: none for images already in memory, else all cores but one (≤ 4)."""
    if isinstance(source, ShapesSource):
        return 0
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def run_local(source: Source, pending: Sequence[int], workers: Sequence[ModelWorker],
              store: ResultsStore, batch_size: int, loader_workers: int, threads: int,
              progress: Progress) -> None:
    """Compute the rows of ``pending`` (indices into ``source``) into ``store``, with torch
    using ``threads`` threads (restored afterwards)."""
    reader = ItemReader(source, pending, sorted({worker.size for worker in workers}))
    loader = DataLoader(reader, batch_size=batch_size, collate_fn=_as_list,
                        num_workers=loader_workers,
                        prefetch_factor=2 if loader_workers else None)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for chunk in loader:
            progress(store.add(compute_chunk(workers, chunk)))
    finally:
        torch.set_num_threads(before)
