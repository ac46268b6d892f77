"""The per-batch work of a statistics run: a chunk of images in, one row per (image, model,
method) out. The local engine and the Ray engine both call :func:`compute_chunk`, with the same
chunks, so that they give the same rows.

Each row's metrics (``METRICS``; ``None`` where not measured):

- ``recovery_r``, ``recovery_ssim``: does the map of the first target show the input picture
  (``metrics.recovery_correlation`` / ``recovery_ssim``).
- ``class_sensitivity``: the paper's mean L2 distance between the unit maps of the image's
  targets (``metrics.class_sensitivity``; needs K ≥ 2 targets).
- ``localisation``: the share of the first target's map on the object mask
  (``metrics.mass_inside``; images with a mask).
- ``cascade_top_ssim`` / ``cascade_all_ssim``: SSIM, in the method's display convention,
  between the first target's map and the map of the same model with its top layer / every
  layer re-drawn (``models.randomize``, cascading from the top).
- ``pgd_ssim``: SSIM between the first target's map before and after an untargeted L∞ PGD
  attack (``adversarial.pgd``), and ``pgd_flipped``: whether it changed the prediction.

The first target is the top class with ``"topK"``, the label with ``"label"``.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import pyarrow as pa
import torch

from .. import metrics, models
from ..adversarial import pgd, pixels_to_input_units
from ..engine.activations import logits_from_output
from ..engine.model_guard import eval_twin
from ..models import LensModel
from ..render import ABS_GREY, convention_for
from .batched import target_maps
from .settings import METRICS, Settings, targets_for
from .sources import Item, Size

SCHEMA = pa.schema([
    ("index", pa.int64()), ("image", pa.string()), ("model", pa.string()),
    ("method", pa.string()), ("label", pa.int64()), ("label_name", pa.string()),
    ("predicted", pa.int64()), ("confidence", pa.float64()), ("targets", pa.list_(pa.int64())),
    *((name, pa.float64()) for name in METRICS),
    ("pgd_flipped", pa.bool_()), ("error", pa.string()),
])

Row = dict[str, Any]


class ModelWorker:
    """One model's state in a worker: loaded once, its randomised copies made on first use."""

    def __init__(self, spec: LensModel, name: str, settings: Settings,
                 device: str | None = None) -> None:
        self.name = name
        self.spec = spec if device is None else _on_device(spec, device)
        self.settings = settings

    @property
    def size(self) -> Size:
        return self.spec.input_size

    @cached_property
    def randomised(self) -> tuple[LensModel, LensModel]:
        """The model with its top layer, and with every layer, re-drawn (cascading)."""
        layers = self.spec.parameter_layers
        return (models.randomize(self.spec, "cascade", layers[-1], seed=self.settings.seed),
                models.randomize(self.spec, "cascade", layers[0], seed=self.settings.seed))

    def rows(self, items: Sequence[Item]) -> list[Row]:
        """The rows of ``items`` (all readable). If the batch fails, each image is tried on its
        own, and one that still fails gets rows that name the error."""
        if not items:
            return []
        try:
            return self._rows(items)
        except Exception as error:  # find out which image(s) the model fails on
            if len(items) == 1:
                message = f"model {self.name!r} failed: {type(error).__name__}: {error}"
                return self.error_rows(items[0], message)
        return [row for item in items for row in self.rows([item])]

    def error_rows(self, item: Item, message: str) -> list[Row]:
        return [_row(item, self.name, method, error=message)
                for method in self.settings.methods]

    def _rows(self, items: Sequence[Item]) -> list[Row]:
        spec, settings = self.spec, self.settings
        x = torch.cat([spec.preprocess(item.pixels[self.size]) for item in items])
        with torch.no_grad():
            probabilities = logits_from_output(eval_twin(spec.module)(x)).softmax(dim=1)
        targets, problems = targets_for(settings.targets, probabilities,
                                        [item.label for item in items])
        confidence, predicted = probabilities.max(dim=1)
        adversarial = self._attack(x) if settings.pgd else None
        rows: list[Row] = []
        for method in settings.methods:
            maps = target_maps(spec, x, method, targets)
            first = targets[:, :1]
            cascade = ([target_maps(m, x, method, first)[:, 0] for m in self.randomised]
                       if settings.cascade else None)
            attacked = (target_maps(spec, adversarial[0], method, first)[:, 0]
                        if adversarial is not None else None)
            for i, item in enumerate(items):
                if problems[i]:
                    rows.append(_row(item, self.name, method, error=problems[i]))
                    continue
                row = _row(item, self.name, method, predicted=int(predicted[i]),
                           confidence=float(confidence[i]), targets=targets[i].tolist())
                row.update(_map_metrics(maps[i], x[i], item.masks.get(self.size)))
                display = convention_for(method) == ABS_GREY
                if cascade is not None:
                    row["cascade_top_ssim"], row["cascade_all_ssim"] = (
                        metrics.ssim(maps[i, 0], other[i], absolute=display) for other in cascade)
                if attacked is not None and adversarial is not None:
                    row["pgd_ssim"] = metrics.ssim(maps[i, 0], attacked[i], absolute=display)
                    row["pgd_flipped"] = adversarial[1][i]
                rows.append(row)
        return rows

    def _attack(self, x: torch.Tensor) -> tuple[torch.Tensor, list[bool]]:
        settings = self.settings
        eps = pixels_to_input_units(self.spec, settings.pgd_eps)
        step = pixels_to_input_units(self.spec, settings.pgd_step)
        x_adv, report = pgd(self.spec, x, eps, step, settings.pgd_steps)
        return x_adv, report.flipped


def _on_device(spec: LensModel, device: str) -> LensModel:
    """``spec`` with its module on ``device`` (a copy when it moves: the user's model stays)."""
    param = next(spec.module.parameters(), None)
    if param is None or param.device == torch.device(device):
        return spec
    return dataclasses.replace(spec, module=copy.deepcopy(spec.module).to(device))


def _map_metrics(maps: torch.Tensor, x: torch.Tensor, mask: Any) -> Row:
    """Recovery, class sensitivity and localisation of one image's maps (K, C, H, W)."""
    return {
        "recovery_r": metrics.recovery_correlation(maps[0], x),
        "recovery_ssim": metrics.recovery_ssim(maps[0], x),
        "class_sensitivity": metrics.class_sensitivity(maps) if len(maps) >= 2 else None,
        "localisation": None if mask is None else metrics.mass_inside(maps[0], mask),
    }


def _row(item: Item, model: str, method: str, **values: Any) -> Row:
    row: Row = dict.fromkeys(SCHEMA.names)
    row.update(index=item.index, image=item.image_id, model=model, method=method,
               label=item.label, label_name=item.label_name, **values)
    return row


def compute_chunk(workers: Sequence[ModelWorker], items: Sequence[Item]) -> pa.Table:
    """The rows of a chunk of images for every model and method, as a table of ``SCHEMA``.

    Unreadable images get one row per model and method naming why (``error``), as do images a
    model fails on; the rest get their metrics.
    """
    good = [item for item in items if item.error is None]
    rows: list[Row] = []
    for worker in workers:
        rows += worker.rows(good)
        for item in items:
            if item.error is not None:
                rows += worker.error_rows(item, item.error)
    return pa.Table.from_pylist(rows, schema=SCHEMA)
