"""What a statistics run measures: its settings, checked once and stored with the results.

Rows of two runs can only be pooled when they were measured the same way: the same models,
methods, targets and optional measurements. ``Settings`` holds exactly that (nothing about
speed: batch size, engine, workers and device do not change what a row says), is written next
to the results, and a later run on the same output must match it field by field.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .. import models
from ..engine import METHODS, get_method
from ..models import LensModel

#: The metrics of each row, in column order (see ``compute``).
METRICS = ("recovery_r", "recovery_ssim", "class_sensitivity", "localisation",
           "cascade_top_ssim", "cascade_all_ssim", "pgd_ssim")

_TOP = re.compile(r"top(\d+)")

ModelLike = str | LensModel | nn.Module


@dataclass(frozen=True)
class Settings:
    """The settings that decide what each row means.

    ``targets``: ``"topK"`` (each image's K highest-scoring classes, for each model),
    ``"label"`` (the image's label), or a tuple of class indices (the same for every image).
    ``cascade``: also measure the maps' stability under cascading randomisation. ``pgd`` (with
    ``pgd_eps`` and ``pgd_step`` in 0–255 pixel steps and ``pgd_steps``): under an untargeted
    L∞ PGD attack. ``seed``: the seed of the re-drawn weights.
    """

    models: tuple[str, ...]
    methods: tuple[str, ...]
    targets: str | tuple[int, ...] = "top5"
    cascade: bool = False
    pgd: bool = False
    pgd_eps: float = 8.0
    pgd_step: float = 2.0
    pgd_steps: int = 10
    seed: int = 0

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        values = json.loads(text)
        for key in ("models", "methods"):
            values[key] = tuple(values[key])
        if isinstance(values["targets"], list):
            values["targets"] = tuple(values["targets"])
        return cls(**values)

    def differences(self, other: Settings) -> list[str]:
        """Each field whose value differs, as ``"field: ours vs theirs"``."""
        return [f"{f.name}: {getattr(self, f.name)!r} vs {getattr(other, f.name)!r}"
                for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(other, f.name)]


def model_name(model: ModelLike) -> str:
    """The name rows carry for ``model``: the zoo name, or the ``LensModel``'s name."""
    if isinstance(model, str):
        return model
    if isinstance(model, LensModel):
        return model.name
    return models.as_lens_model(model).name


def resolve_model(model: ModelLike) -> LensModel:
    """A zoo name loaded, a module wrapped (``models.as_lens_model``), a ``LensModel`` as is."""
    if isinstance(model, str):
        return models.load(model)
    return models.as_lens_model(model)


def check_models(values: object) -> list[ModelLike]:
    """``models`` as a non-empty list of zoo names / modules with distinct names."""
    items = [values] if isinstance(values, str | LensModel | nn.Module) else values
    if not isinstance(items, Sequence) or isinstance(items, bytes) or not items:
        raise TypeError("models must be a zoo name, a LensModel, an nn.Module, or a non-empty "
                        f"list of them; got {values!r}")
    for item in items:
        if not isinstance(item, str | LensModel | nn.Module):
            raise TypeError(f"models: each must be a zoo name (str), a LensModel or an "
                            f"nn.Module; got {type(item).__name__}")
        if isinstance(item, str) and item not in models.available(include_missing=True):
            raise ValueError(f"models: {item!r} is not a zoo name; choose from "
                             f"{models.available(include_missing=True)}")
    names = [model_name(item) for item in items]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"models: each needs its own name (rows are keyed by it); "
                         f"{repeated} appear more than once. Give LensModels distinct .name")
    return list(items)


def check_methods(values: object) -> tuple[str, ...]:
    items = (values,) if isinstance(values, str) else values
    if not isinstance(items, Sequence) or not items:
        raise TypeError(f"methods must be a method name or a non-empty list of them, from "
                        f"{METHODS}; got {values!r}")
    for item in items:
        get_method(item)  # raises naming the method and the choices
    if len(set(items)) != len(items):
        raise ValueError(f"methods: each method once, please; got {list(items)}")
    return tuple(items)


def check_targets(value: object) -> str | tuple[int, ...]:
    """``"topK"``, ``"label"`` or a non-empty list of class indices."""
    if isinstance(value, str):
        match = _TOP.fullmatch(value)
        if value == "label" or (match and int(match.group(1)) >= 1):
            return value
        raise ValueError(f"targets must be 'topK' (K ≥ 1, e.g. 'top5'), 'label' or a list of "
                         f"class indices; got {value!r}")
    if isinstance(value, Sequence) and value and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and int(v) >= 0
            for v in value):
        return tuple(int(v) for v in value)
    raise TypeError(f"targets must be 'topK', 'label' or a non-empty list of class indices "
                    f"(ints ≥ 0); got {value!r}")


def targets_for(
    targets: str | tuple[int, ...], logits: torch.Tensor, labels: Sequence[int | None]
) -> tuple[torch.Tensor, list[str | None]]:
    """The class indices (N, K) each image's maps are computed for, and per image an error
    (``None`` when its targets are valid). ``logits`` is (N, U)."""
    n, n_classes = logits.shape
    problems: list[str | None] = [None] * n
    if isinstance(targets, tuple):
        return torch.tensor([list(targets)] * n, device=logits.device), problems
    if targets == "label":
        column = []
        for i, label in enumerate(labels):
            if label is None or not 0 <= label < n_classes:
                problems[i] = ("targets='label' but the image has no label" if label is None
                               else f"label {label} is out of range for {n_classes} classes")
            column.append(0 if problems[i] else label)
        return torch.tensor(column, device=logits.device)[:, None], problems
    return logits.topk(int(targets[3:]), dim=1).indices, problems


def check_targets_fit(targets: str | tuple[int, ...], spec: LensModel, name: str) -> None:
    """Class indices and top-K counts must exist in each model (checked before any work)."""
    n_classes = len(spec.classes)
    if isinstance(targets, tuple) and max(targets) >= n_classes:
        raise ValueError(f"targets: class {max(targets)} is out of range for model {name!r} "
                         f"({n_classes} classes)")
    if isinstance(targets, str) and targets != "label" and int(targets[3:]) > n_classes:
        raise ValueError(f"targets={targets!r} asks for more classes than model {name!r} has "
                         f"({n_classes})")

