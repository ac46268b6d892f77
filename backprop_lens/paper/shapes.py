"""The paper's experiments on a trained network, here the shipped shapes CNN: is a map about
the class (saliency) or about the picture (guided backprop, DeconvNet)?

- ``class_sensitivity``: two objects of different classes in one image; maps for each class.
- ``adversarial``: a PGD perturbation flips the prediction; does the map follow?
- ``partial_training``: layers re-drawn at random from the top down (cascading randomisation,
  Adebayo et al. 2018); does the map notice?

Map-to-map similarity is measured on what a user sees: SSIM of each method's display
convention (``render``: saliency as |g|, the others signed), listed as ``ssim``; the signed,
absolute and rank-correlation variants are reported beside it.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import data, models
from ..adversarial import pgd, pixels_to_input_units
from ..data.shapes import CLASSES, ShapesBatch
from ..engine import attribute
from ..engine.activations import logits_from_output
from ..engine.model_guard import eval_mode
from ..metrics import class_sensitivity as l2_distance
from ..metrics import mass_inside, rank_correlation, ssim
from ..models import LensModel
from ..render import ABS_GREY, convention_for
from .claims import RECOVERS, SENSITIVITY_FACTOR, SIMILARITY_GAP, Claim
from .inputs import (
    ADVERSARIAL_SEED,
    CLASS_SENSITIVITY_SEED,
    LABELS,
    PAPER_METHODS,
    RANDOMISATION_SEED,
    ROWS,
    as_inputs,
    budget,
    map_picture,
    maps_by_method,
)
from .results import ExperimentResult, Metrics, PictureGrid

SHAPES_MODEL = "shapes_cnn"
GBP, SALIENCY, DECONVNET = "guided_backprop", "saliency", "deconvnet"

#: The attack: L∞ PGD of 8 pixel levels (of 255), steps of 2, 10 steps, no random start.
EPS_PIXELS = 8.0
STEP_PIXELS = 2.0
PGD_STEPS = 10
#: Candidates attacked per image needed, so that enough predictions flip.
CANDIDATES_PER_IMAGE = 3

#: How many images the figures show.
SHOWN = 2


def similarity(a: torch.Tensor, b: torch.Tensor, method: str) -> dict[str, float]:
    """How alike two maps of ``method`` are: ``ssim`` in the method's display convention,
    and SSIM / Spearman rank correlation with and without absolute values."""
    return {
        "ssim": ssim(a, b, absolute=convention_for(method) == ABS_GREY),
        "ssim_signed": ssim(a, b), "ssim_abs": ssim(a, b, absolute=True),
        "spearman": rank_correlation(a, b), "spearman_abs": rank_correlation(a, b, absolute=True),
    }


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
        {"two-object images": metrics}, [], _class_grid(spec, x, batch, maps))
    distance = {m: metrics[m]["distance"] for m in PAPER_METHODS}
    result.claims = [
        *(Claim(result.id, f"saliency is at least {SENSITIVITY_FACTOR:g}× as class-sensitive "
                           f"as {LABELS[other]}",
                f"mean L2 distance: saliency / {LABELS[other]}",
                _ratio(distance[SALIENCY], distance[other]), SENSITIVITY_FACTOR, ">=")
          for other in (GBP, DECONVNET)),
        Claim(result.id, "saliency puts more mass on the chosen object than GBP",
              "mass on the chosen object: saliency − GBP",
              metrics[SALIENCY]["on_object"] - metrics[GBP]["on_object"], 0.0, ">"),
    ]
    return result


def adversarial(
    model: LensModel | None = None, images: np.ndarray | None = None, quick: bool = False
) -> ExperimentResult:
    """Maps of clean images and of PGD perturbations that flip their prediction, each for
    its own top class. ``images`` (N, H, W, 3) uint8 are the candidates; those whose
    prediction does not flip are left out."""
    chosen = budget(quick)
    spec = model or models.load(SHAPES_MODEL)
    if images is None:
        images = data.shapes.generate(CANDIDATES_PER_IMAGE * chosen.flipped_images,
                                      seed=ADVERSARIAL_SEED).images
    x = as_inputs(spec, list(images))
    eps = pixels_to_input_units(spec, EPS_PIXELS)
    step = pixels_to_input_units(spec, STEP_PIXELS)
    x_adv, report = pgd(spec, x, eps, step, PGD_STEPS)
    flipped = [i for i, f in enumerate(report.flipped) if f][:chosen.flipped_images]
    if not flipped:
        raise ValueError("PGD flipped no prediction; nothing to compare")
    x, x_adv = x[flipped], x_adv[flipped]
    clean, attacked = maps_by_method(spec, x), maps_by_method(spec, x_adv)
    metrics = {method: _mean_similarity(clean[method], attacked[method], method)
               for method in PAPER_METHODS}
    before = [report.before[i] for i in flipped]
    after = [report.after[i] for i in flipped]
    result = ExperimentResult(
        "adversarial", "an attack flips the prediction; GBP's map barely changes",
        f"{spec.description}; L∞ PGD, ε = {EPS_PIXELS:g}/255, step {STEP_PIXELS:g}/255, "
        f"{PGD_STEPS} steps; it flipped {sum(report.flipped)} of {len(report.flipped)} "
        f"candidates (data.shapes seed {ADVERSARIAL_SEED}), the first {len(flipped)} are used; "
        "target: each input's top class",
        {"clean": clean, "adversarial": attacked}, {"clean vs adversarial": metrics}, [],
        _adversarial_grid(spec, x, x_adv, clean, attacked, before, after))
    result.claims = [Claim(
        result.id, f"GBP's map changes far less than saliency's (SSIM gap ≥ {SIMILARITY_GAP:g})",
        "SSIM(clean map, adversarial map): GBP − saliency",
        metrics[GBP]["ssim"] - metrics[SALIENCY]["ssim"], SIMILARITY_GAP, ">=")]
    return result


def partial_training(
    model: LensModel | None = None, images: np.ndarray | None = None, quick: bool = False
) -> ExperimentResult:
    """Cascading randomisation from the top layer down: each level's maps against the
    trained model's, for the trained model's top class of each image."""
    spec = model or models.load(SHAPES_MODEL)
    if images is None:
        images = data.shapes.generate(budget(quick).randomisation_images,
                                      seed=RANDOMISATION_SEED).images
    x = as_inputs(spec, list(images))
    classes = _top_classes(spec, x)
    trained = {m: _maps_for_classes(spec, x, classes, m) for m in PAPER_METHODS}
    maps, metrics = {"trained": trained}, {}
    layers = spec.parameter_layers[::-1]
    for level, layer in enumerate(layers):
        column = layers[0] if level == 0 else f"{layers[0]} … {layer}"
        randomised = models.randomize(spec, "cascade", layer, seed=0)
        maps[column] = {m: _maps_for_classes(randomised, x, classes, m) for m in PAPER_METHODS}
        metrics[column] = {m: _mean_similarity(trained[m], maps[column][m], m)
                           for m in PAPER_METHODS}
    levels = list(metrics.values())
    result = ExperimentResult(
        "partial_training", "re-drawing layers changes saliency, not GBP",
        f"{spec.description}; cascading randomisation from the top ({layers[0]}) down to "
        f"{layers[-1]}, seed 0; {len(x)} images (data.shapes seed {RANDOMISATION_SEED}); "
        "target: the trained model's top class; similarity to the trained model's map",
        maps, metrics, [], _randomisation_grid(spec, x, maps, metrics))
    result.claims = [
        Claim(result.id, "GBP's map stays similar to the trained model's at every level",
              "smallest SSIM(GBP)", min(level[GBP]["ssim"] for level in levels), RECOVERS,
              ">="),
        Claim(result.id, "saliency's similarity falls well below GBP's",
              "SSIM with every layer re-drawn: GBP − saliency",
              levels[-1][GBP]["ssim"] - levels[-1][SALIENCY]["ssim"], SIMILARITY_GAP, ">="),
    ]
    return result


# --- helpers -------------------------------------------------------------------------------

def _ratio(a: float, b: float) -> float:
    """a / b, for b = 0 infinite (a > 0) or undefined (a = 0)."""
    if b > 0:
        return a / b
    return float("inf") if a > 0 else float("nan")


def _mean_similarity(a: torch.Tensor, b: torch.Tensor, method: str) -> dict[str, float]:
    scores = [similarity(a[i], b[i], method) for i in range(len(a))]
    return {key: float(np.mean([s[key] for s in scores])) for key in scores[0]}


def _top_classes(spec: LensModel, x: torch.Tensor) -> list[int]:
    with torch.no_grad(), eval_mode(spec.module):
        return logits_from_output(spec.module(x)).argmax(dim=1).tolist()


def _maps_for_classes(
    spec: LensModel, x: torch.Tensor, classes: list[int], method: str
) -> torch.Tensor:
    """The map of each input for its own class: one engine call per distinct class."""
    out = torch.empty_like(x)
    wanted = torch.tensor(classes)
    for cls in sorted(set(classes)):
        rows = torch.nonzero(wanted == cls).flatten()
        out[rows] = attribute(spec, x[rows], method, target=cls)
    return out


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


def _adversarial_grid(
    spec: LensModel, x: torch.Tensor, x_adv: torch.Tensor, clean: dict[str, torch.Tensor],
    attacked: dict[str, torch.Tensor], before: list[int], after: list[int],
) -> PictureGrid:
    grid = PictureGrid(ROWS)
    for i in range(min(SHOWN, len(x))):
        grid.add_column(f"image {i + 1}, clean: {CLASSES[before[i]]}", [
            (spec.deprocess(x[i]), ""),
            *((map_picture(clean[m][i], m), "") for m in PAPER_METHODS),
        ])
        grid.add_column(f"image {i + 1}, attacked: {CLASSES[after[i]]}", [
            (spec.deprocess(x_adv[i]), ""),
            *((map_picture(attacked[m][i], m),
               f"SSIM to clean {similarity(clean[m][i], attacked[m][i], m)['ssim']:.2f}")
              for m in PAPER_METHODS),
        ])
    return grid


def _randomisation_grid(
    spec: LensModel, x: torch.Tensor, maps: dict[str, dict[str, torch.Tensor]],
    metrics: Metrics,
) -> PictureGrid:
    grid = PictureGrid(ROWS)
    picture = spec.deprocess(x[0])
    for column, level in maps.items():
        name = column if column == "trained" else f"re-drawn: {column}"
        grid.add_column(name, [(picture, ""), *(
            (map_picture(level[m][0], m),
             f"mean SSIM {metrics[column][m]['ssim']:.2f}" if column in metrics else "")
            for m in PAPER_METHODS)])
    return grid
