"""Run the paper's experiments and write what they measured: a figure per experiment and
model, ``claims.json``, ``claims.md`` and ``metrics.json``. What ``backprop-lens reproduce``
does.

Each experiment id runs in the paper's setting (``EXPERIMENTS``: random networks, or the
shapes CNN for the trained-network experiments); the trained-network experiments then run
again on EfficientNet-Lite0 with the sample photos (``ON_IMAGENET``). A run is filed under
its key: the experiment id for the first, ``<id>-<model>`` for the others.

After the paper comes a block beyond it (``BEYOND``, see ``beyond``): the paper's tests on
every method of the engine, on the shapes CNN and on EfficientNet-Lite0.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tqdm import tqdm

from . import beyond, imagenet, recovery, shapes
from .claims import Claim
from .inputs import budget
from .results import ExperimentResult

#: Every experiment by its stable id, in the order of the report.
EXPERIMENTS: dict[str, Callable[..., ExperimentResult]] = {
    "random_cnn": recovery.random_cnn,
    "filters": recovery.filters,
    "fcn": recovery.fcn,
    "max_pool": recovery.max_pool,
    "random_vgg": recovery.random_vgg,
    "depth": recovery.depth,
    "class_sensitivity": shapes.class_sensitivity,
    "adversarial": shapes.adversarial,
    "partial_training": shapes.partial_training,
}

#: The trained-network experiments on a real ImageNet network, run after the paper's setting.
ON_IMAGENET: dict[str, Callable[..., ExperimentResult]] = {
    "class_sensitivity": imagenet.class_sensitivity,
    "adversarial": imagenet.adversarial,
    "partial_training": imagenet.partial_training,
}

#: Beyond the paper: every method of the engine, each id on the shapes CNN, then on
#: EfficientNet-Lite0 with the sample photos; run after the paper's experiments.
BEYOND: dict[str, list[Callable[..., ExperimentResult]]] = {
    "methods_class_sensitivity": [beyond.class_sensitivity, beyond.class_sensitivity_photos],
    "methods_randomisation": [beyond.randomisation, beyond.randomisation_photos],
}


def check_ids(ids: Sequence[str]) -> list[str]:
    """``ids`` in report order (the paper's, then ``BEYOND``), each checked to name an
    experiment."""
    known = [*EXPERIMENTS, *BEYOND]
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ValueError(f"unknown experiment id(s) {', '.join(map(repr, unknown))}; "
                         f"choose from {', '.join(known)}")
    if not ids:
        raise ValueError(f"no experiment chosen; choose from {', '.join(known)}")
    return [i for i in known if i in ids]


def prepare_output(out: str | Path) -> Path:
    """Create ``out`` if needed and make sure files can be written there, before any work."""
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".backprop-lens-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise OSError(f"cannot write to the output folder {str(folder)!r}: "
                      f"{error.strerror or error}") from None
    return folder


def reproduce(
    out: str | Path, quick: bool = False, only: Sequence[str] | None = None,
    progress: bool = True,
) -> list[Claim]:
    """Run the experiments (all, or ``only`` those ids: a list, or ``"id,id"``), each on
    every model it runs on (see the module doc); write a figure per run (``<id>.png``,
    ``<id>-<model>.png``), ``claims.json``, ``claims.md`` and ``metrics.json`` into ``out``;
    return the claims. ``metrics.json`` holds every number measured, by run key: the model,
    the setting, the metrics and the claims.

    ``quick``: smaller inputs and fewer images (a smoke test; its numbers are not the paper's
    setting). ``progress``: progress bars on stderr, one step per experiment id: one bar for
    the paper's experiments, one for the block beyond it.
    """
    if isinstance(only, str):
        only = only.split(",")
    ids = check_ids(list(EXPERIMENTS) if only is None else list(only))
    folder = prepare_output(out)
    claims: list[Claim] = []
    seconds: dict[str, float] = {}
    measured: dict[str, dict[str, object]] = {}
    blocks = [("reproduce", [i for i in ids if i in EXPERIMENTS]),
              ("beyond the paper", [i for i in ids if i in BEYOND])]
    for experiment_id in (i for desc, block in blocks if block
                          for i in _bar(block, desc, progress)):
        for n, run in enumerate(runs(experiment_id)):
            start = time.perf_counter()
            result = run(quick=quick)
            key = f"{experiment_id}-{result.model}" if n else experiment_id
            result.save_figure(folder / f"{key}.png")
            seconds[key] = time.perf_counter() - start
            claims.extend(result.claims)
            measured[key] = {"model": result.model, "setting": result.setting,
                             "metrics": result.metrics,
                             "claims": [c.as_dict() for c in result.claims]}
    _write_json(folder / "claims.json", [c.as_dict() for c in claims])
    _write_json(folder / "metrics.json", measured)
    summary = (f"{sum(c.holds for c in claims)} of {len(claims)} claims hold "
               f"({budget(quick).name} run; "
               + ", ".join(f"{i} {s:.0f} s" for i, s in seconds.items()) + ").")
    (folder / "claims.md").write_text(f"{claims_table(claims)}\n{summary}\n", "utf-8")
    return claims


def _bar(ids: list[str], desc: str, progress: bool) -> Iterator[str]:
    """``ids``, one step each of a progress bar on stderr that names the current one."""
    bar = tqdm(ids, desc=desc, unit="experiment", file=sys.stderr, disable=not progress)
    for experiment_id in bar:
        bar.set_postfix_str(experiment_id)
        yield experiment_id


def runs(experiment_id: str) -> list[Callable[..., ExperimentResult]]:
    """The functions that run ``experiment_id``, the paper's setting (or the shapes CNN)
    first."""
    if experiment_id in BEYOND:
        return BEYOND[experiment_id]
    extra = ON_IMAGENET.get(experiment_id)
    return [EXPERIMENTS[experiment_id], *([extra] if extra else [])]


def claims_table(claims: Sequence[Claim]) -> str:
    """The claims as a Markdown table, the model measured first: holds or fails, as
    measured."""
    return "\n".join([
        "| model | id | claim | metric | value | threshold | holds |",
        "|---|---|---|---|---|---|---|",
        *(f"| {_code(c.model)} | `{c.id}` | {_cell(c.claim)} | {_cell(c.metric)} | "
          f"{c.value:.3f} | {c.condition()} | {'yes' if c.holds else '**no**'} |"
          for c in claims),
    ]) + "\n"


def _write_json(path: Path, content: object) -> None:
    path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", "utf-8")


def _code(names: str) -> str:
    """Model names as code in a table cell (``a, b`` → `` `a`, `b` ``); a dash for none."""
    return ", ".join(f"`{name}`" for name in names.split(", ")) if names else "—"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|")
