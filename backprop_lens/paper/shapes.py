"""The paper's experiments on a trained network, here the shipped shapes CNN: is a map about
the class (saliency) or about the picture (guided backprop, DeconvNet)?

- ``class_sensitivity``: two objects of different classes in one image; maps for each class.
- ``adversarial``: a PGD perturbation flips the prediction; does the map follow?
- ``partial_training``: layers re-drawn at random from the top down (cascading randomisation,
  Adebayo et al. 2018; the authors' ``load_weights_part``); does the map notice?

The same experiments on EfficientNet-Lite0 and the sample photos are in ``imagenet``; what
both share (similarity, the attack, the cascade, the claims) is in ``trained``.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import data, models
from ..data.shapes import CLASSES, ShapesBatch
from ..engine import attribute
from ..metrics import class_sensitivity as l2_distance
from ..metrics import mass_inside
from ..models import LensModel
from .inputs import (
    ADVERSARIAL_SEED,
    CLASS_SENSITIVITY_SEED,
    PAPER_METHODS,
    RANDOMISATION_SEED,
    ROWS,
    as_inputs,
    budget,
    map_picture,
)
from .results import ExperimentResult, PictureGrid
from .trained import (
    GBP,
    SALIENCY,
    SHOWN,
    attack_experiment,
    cascade_experiment,
    sensitivity_claims,
)

SHAPES_MODEL = "shapes_cnn"

#: Candidates attacked per image needed, so that enough predictions flip.
CANDIDATES_PER_IMAGE = 3


def class_sensitivity(
    model: LensModel | None = None, batch: ShapesBatch | None = None, quick: bool = False
) -> ExperimentResult:
    """Maps for each of the two classes present in two-object images.

    Metrics (mean over images): ``distance``, the paper's L2 distance between the two unit
    maps; ``on_object``, the fraction of a map's mass on the object of the chosen class;
    ``on_other``, on the other object.
    """
    spec = model or models.load(SHAPES_MODEL)
    batch = batch or data.shapes.generate(budget(quick).class_images,
                                          seed=CLASS_SENSITIVITY_SEED, objects=2)
    if batch.labels.ndim != 2 or batch.labels.shape[1] != 2:
        raise ValueError("batch must hold two-object images: data.shapes.generate(n, objects=2)")
    x = as_inputs(spec, list(batch.images))
    if batch.masks.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"the images must have the model's input size {spec.input_size}")
    n = len(x)
    maps = {  # method → (N, 2, C, H, W): each image's maps for its two classes
        method: torch.stack([attribute(spec, x[i:i + 1], method, batch.labels[i].tolist())
                             for i in range(n)])
        for method in PAPER_METHODS
    }
    metrics = {}
    for method, values in maps.items():
        on = [[mass_inside(values[i, k], batch.masks[i, k]) for k in (0, 1)] for i in range(n)]
        off = [[mass_inside(values[i, k], batch.masks[i, 1 - k]) for k in (0, 1)]
               for i in range(n)]
        metrics[method] = {"distance": float(np.mean([l2_distance(v) for v in values])),
                           "on_object": float(np.mean(on)), "on_other": float(np.mean(off))}
    result = ExperimentResult(
        "class_sensitivity", "saliency follows the class, GBP and DeconvNet do not",
        f"{spec.description}; {n} two-object images (data.shapes seed "
        f"{CLASS_SENSITIVITY_SEED}); targets: the two classes present",
        {f"object {k + 1}'s class": {m: v[:, k] for m, v in maps.items()} for k in (0, 1)},
        {"two-object images": metrics}, [], _class_grid(spec, x, batch, maps), spec.name)
    result.claims = [
        *sensitivity_claims(result, {m: metrics[m]["distance"] for m in PAPER_METHODS}),
        result.check("saliency puts more mass on the chosen object than GBP",
                     "mass on the chosen object: saliency − GBP",
                     metrics[SALIENCY]["on_object"] - metrics[GBP]["on_object"], 0.0, ">"),
    ]
    return result


def adversarial(
    model: LensModel | None = None, images: np.ndarray | None = None, quick: bool = False
) -> ExperimentResult:
    """Maps of clean images and of PGD perturbations that flip their prediction, each for
    its own top class. ``images`` (N, H, W, 3) uint8 are the candidates; those whose
    prediction does not flip are left out (see ``trained.attack_experiment``)."""
    chosen = budget(quick)
    spec = model or models.load(SHAPES_MODEL)
    source = "given images"
    if images is None:
        images = data.shapes.generate(CANDIDATES_PER_IMAGE * chosen.flipped_images,
                                      seed=ADVERSARIAL_SEED).images
        source = f"candidates (data.shapes seed {ADVERSARIAL_SEED})"
    return attack_experiment(spec, as_inputs(spec, list(images)), f"{len(images)} {source}",
                             limit=chosen.flipped_images)


def partial_training(
    model: LensModel | None = None, images: np.ndarray | None = None, quick: bool = False
) -> ExperimentResult:
    """Cascading randomisation from the top layer down, one level per layer with parameters:
    each level's maps against the trained model's, for the trained model's top class of each
    image (see ``trained.cascade_experiment``)."""
    spec, x, described = randomisation_inputs(model, images, budget(quick).randomisation_images)
    return cascade_experiment(spec, x, spec.parameter_layers[::-1], described)


def randomisation_inputs(
    model: LensModel | None, images: np.ndarray | None, count: int
) -> tuple[LensModel, torch.Tensor, str]:
    """The shapes CNN (or ``model``), the inputs of a randomisation experiment (``images``, or
    ``count`` shapes of ``RANDOMISATION_SEED``) and how they were made, in words."""
    spec = model or models.load(SHAPES_MODEL)
    source = "given images"
    if images is None:
        images = data.shapes.generate(count, seed=RANDOMISATION_SEED).images
        source = f"data.shapes seed {RANDOMISATION_SEED}"
    x = as_inputs(spec, list(images))
    return spec, x, f"{len(x)} images ({source})"


# --- helpers -------------------------------------------------------------------------------

def _class_grid(spec: LensModel, x: torch.Tensor, batch: ShapesBatch,
                maps: dict[str, torch.Tensor]) -> PictureGrid:
    """Per shown image and class: the picture with the other object dimmed, and the maps."""
    grid = PictureGrid(["input (target bright)", *ROWS[1:]])
    for i in range(min(SHOWN, len(x))):
        picture = spec.deprocess(x[i])
        for k in (0, 1):
            dimmed = np.where(batch.masks[i, 1 - k][..., None], picture // 3, picture)
            cells = [(dimmed.astype(np.uint8), "")]
            for method in PAPER_METHODS:
                share = mass_inside(maps[method][i, k], batch.masks[i, k])
                cells.append((map_picture(maps[method][i, k], method), f"{share:.0%} on target"))
            grid.add_column(f"image {i + 1} → {CLASSES[batch.labels[i, k]]}", cells)
    return grid
