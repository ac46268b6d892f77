"""Where rows go: a Parquet data set (a folder of part files) that grows as a run goes.

A single Parquet file is only readable once its footer is written, so a crash would lose it
whole. The output is therefore a folder (``results.parquet/``, the layout Spark and Dask write,
which ``pandas.read_parquet``, ``pyarrow.parquet.read_table``, DuckDB and Polars read as one
table), holding:

- ``_settings.json``: the run's :class:`Settings`; a later run must match them;
- ``part-<run>-<n>.parquet``: rows, each part written to a hidden temporary name and then
  renamed, so a part is either complete or absent (a crash or Ctrl-C mid-write leaves nothing
  half-written behind).

Rows are buffered and written every ``flush_images`` images or ``flush_seconds`` seconds, and
on exit (also on Ctrl-C). All rows of one image (every model and method) are always in the same
part, so a resumed run skips exactly the images already written, and counts nothing twice.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .compute import SCHEMA
from .settings import Settings

SETTINGS_FILE = "_settings.json"
SETTINGS_KEY = b"backprop_lens.stats.settings"


def read(out: str | os.PathLike[str], columns: list[str] | None = None) -> pa.Table:
    """Every row written so far to the results folder ``out`` (possibly while a run goes on),
    with all columns or the ``columns`` named."""
    parts = sorted(Path(out).glob("part-*.parquet"))
    schema = SCHEMA if columns is None else pa.schema([SCHEMA.field(c) for c in columns])
    if not parts:
        return schema.empty_table()
    return pa.concat_tables(pq.read_table(part, schema=schema, columns=columns)
                            for part in parts)


class ResultsStore:
    """The results folder of one run: checks the settings, knows what is done, writes parts."""

    def __init__(self, out: str | os.PathLike[str], settings: Settings,
                 flush_images: int = 256, flush_seconds: float = 10.0) -> None:
        self.folder = Path(out)
        self.settings = settings
        self.flush_images, self.flush_seconds = flush_images, flush_seconds
        self._check_or_create()
        #: Images with rows already, from earlier runs: they are skipped.
        self.done: set[str] = set(read(self.folder, ["image"]).column("image").to_pylist())
        self._written: set[tuple[str, str, str]] = set()
        self._pending: list[pa.Table] = []
        self._pending_images: set[str] = set()
        self._last_flush = time.monotonic()
        self._run = uuid.uuid4().hex[:8]
        self._parts = 0

    def _check_or_create(self) -> None:
        folder, settings_file = self.folder, self.folder / SETTINGS_FILE
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"out: {str(folder)!r} is a file; the results are a folder of Parquet "
                             "parts (e.g. results.parquet/). Choose another path")
        if settings_file.is_file():
            theirs = Settings.from_json(settings_file.read_text("utf-8"))
            differences = self.settings.differences(theirs)
            if differences:
                raise ValueError(
                    f"out: {str(folder)!r} holds results of a run with other settings "
                    f"(this run vs that one): {'; '.join(differences)}. Use the same settings "
                    "to resume it, or another --out")
            return
        if folder.is_dir() and any(folder.iterdir()):
            raise ValueError(f"out: {str(folder)!r} is a folder that does not hold backprop-lens "
                             f"results (no {SETTINGS_FILE}); choose an empty or new path")
        folder.mkdir(parents=True, exist_ok=True)
        _atomic_write(settings_file, self.settings.to_json().encode("utf-8"))

    def add(self, table: pa.Table) -> int:
        """Buffer ``table``'s rows (those not written already); returns how many images were
        new. Writes a part when the buffer is due."""
        keys = zip(*(table.column(c).to_pylist() for c in ("image", "model", "method")),
                   strict=True)
        keep = [key not in self._written and key[0] not in self.done for key in keys]
        if not all(keep):
            table = table.filter(pa.array(keep))
        images = set(table.column("image").to_pylist())
        new = images - self._pending_images
        self._written.update(zip(*(table.column(c).to_pylist()
                                   for c in ("image", "model", "method")), strict=True))
        self._pending.append(table)
        self._pending_images |= images
        if (len(self._pending_images) >= self.flush_images
                or time.monotonic() - self._last_flush >= self.flush_seconds):
            self.flush()
        return len(new)

    def flush(self) -> None:
        """Write the buffered rows as one part (nothing when the buffer is empty)."""
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        table = pa.concat_tables(self._pending).replace_schema_metadata(
            {SETTINGS_KEY: self.settings.to_json().encode("utf-8")})
        part = self.folder / f"part-{self._run}-{self._parts:05d}.parquet"
        temporary = self.folder / f".{part.name}.tmp"
        pq.write_table(table, temporary)
        os.replace(temporary, part)
        self._parts += 1
        self.done |= self._pending_images
        self._pending, self._pending_images = [], set()


def _atomic_write(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)
