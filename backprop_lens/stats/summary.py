"""The summary of a results table: per model × method × metric, the mean with a bootstrap 95%
confidence interval, and the images that could not be measured.

Intervals come from ``scipy.stats.bootstrap`` (2,000 resamples from a fixed seed, so a summary
is reproducible): BCa up to 5,000 values, where it is the better interval, the percentile
interval above (BCa's jackknife costs n² there, and the two agree at that size). An interval
needs two distinct values; otherwise it is the mean itself (all equal) or NaN (one value).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from scipy import stats

from .settings import METRICS

CONFIDENCE = 0.95
RESAMPLES = 2000
BCA_LIMIT = 5000

SUMMARY_SCHEMA = pa.schema([
    ("model", pa.string()), ("method", pa.string()), ("metric", pa.string()),
    ("n", pa.int64()), ("mean", pa.float64()), ("std", pa.float64()),
    ("ci_low", pa.float64()), ("ci_high", pa.float64()),
])


@dataclass(frozen=True)
class Summary:
    """``table`` (``SUMMARY_SCHEMA``), the images measured, and the failed ones with why."""

    table: pa.Table
    images: int
    failures: dict[str, str]

    def to_text(self) -> str:
        """The summary as a Markdown table, then the failed images by name."""
        lines = [f"{self.images} images measured, {len(self.failures)} failed", "",
                 "| model | method | metric | n | mean | std | 95% CI |",
                 "|---|---|---|---:|---:|---:|---|"]
        for row in self.table.to_pylist():
            lines.append(f"| {row['model']} | {row['method']} | {row['metric']} | {row['n']} | "
                         f"{row['mean']:.4g} | {row['std']:.3g} | "
                         f"[{row['ci_low']:.4g}, {row['ci_high']:.4g}] |")
        if self.failures:
            lines += ["", f"Failed ({len(self.failures)}):"]
            lines += [f"- {image}: {error}" for image, error in sorted(self.failures.items())]
        return "\n".join(lines)

    def write(self, out: Path) -> tuple[Path, Path]:
        """Write ``<out>.summary.csv`` and ``<out>.summary.md`` beside the results ``out``."""
        stem = out.name.removesuffix(".parquet")
        csv_path, text_path = (out.with_name(f"{stem}.summary.{ext}") for ext in ("csv", "md"))
        pacsv.write_csv(self.table, csv_path)
        text_path.write_text(self.to_text() + "\n", encoding="utf-8")
        return csv_path, text_path


def summarize(rows: pa.Table) -> Summary:
    """The summary of ``rows`` (a results table, as ``stats.read`` returns it)."""
    failed = rows.filter(pc.is_valid(rows.column("error")))
    failures: dict[str, str] = {}
    for image, error in zip(failed.column("image").to_pylist(),
                            failed.column("error").to_pylist(), strict=True):
        failures.setdefault(image, error)
    measured = rows.filter(pc.is_null(rows.column("error")))
    records = []
    groups = measured.group_by(["model", "method"], use_threads=False).aggregate([])
    for model, method in zip(groups.column("model").to_pylist(),
                             groups.column("method").to_pylist(), strict=True):
        part = measured.filter(pc.and_(pc.equal(measured.column("model"), model),
                                       pc.equal(measured.column("method"), method)))
        for metric in METRICS:
            values = part.column(metric).drop_null().to_numpy()
            values = values[np.isfinite(values)]
            if len(values):
                records.append({"model": model, "method": method, "metric": metric,
                                "n": len(values), **_describe(values)})
    table = pa.Table.from_pylist(records, schema=SUMMARY_SCHEMA)
    return Summary(table, len(set(measured.column("image").to_pylist())), failures)


def _describe(values: np.ndarray) -> dict[str, float]:
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
    low, high = _interval(values, mean)
    return {"mean": mean, "std": std, "ci_low": low, "ci_high": high}


def _interval(values: np.ndarray, mean: float) -> Sequence[float]:
    if len(values) < 2:
        return math.nan, math.nan
    if np.ptp(values) == 0:
        return mean, mean
    result = stats.bootstrap((values,), np.mean, confidence_level=CONFIDENCE,
                             n_resamples=RESAMPLES, batch=200,
                             method="BCa" if len(values) <= BCA_LIMIT else "percentile",
                             rng=np.random.default_rng(0))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)
