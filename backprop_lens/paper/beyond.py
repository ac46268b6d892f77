"""Beyond the paper: the paper's trained-network tests on every method of the engine
(``METHODS``: the three backward rules, input × gradient, SmoothGrad, Integrated Gradients,
Grad-CAM, guided Grad-CAM), on the shapes CNN (two-object images with ground-truth masks)
and on EfficientNet-Lite0 (the sample photos).

- ``class_sensitivity`` / ``class_sensitivity_photos`` (id ``methods_class_sensitivity``):
  the paper's mean L2 distance between a picture's maps for different classes (the two
  classes present on shapes, the top-5 on photos), and on shapes the fraction of each
  method's mass on the chosen object's mask. Guided Grad-CAM multiplies GBP by Grad-CAM to
  get class sensitivity back: does it?
- ``randomisation`` / ``randomisation_photos`` (id ``methods_randomisation``): cascading
  randomisation from the top (``models.randomize``) as in ``partial_training``; per method
  and depth the SSIM and Spearman rank correlation of the map to the trained model's
  (Adebayo et al., NeurIPS 2018), compared as shown (``trained.similarity``).

Every method runs with its registered defaults in a full run; a quick run (a smoke test)
uses fewer SmoothGrad samples and IG steps, fewer pictures and, on EfficientNet, two levels.
The full budget is chosen to add about three minutes on a quiet two-core machine: fewer
pictures than the paper-method experiments, because SmoothGrad (25 samples) and IG (32
steps) each cost some thirty backward passes per map.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .. import data, models
from ..data.images import ImageLike
from ..data.shapes import CLASSES, ShapesBatch
from ..engine import METHODS, attribute
from ..engine.method_objects import IntegratedGradients, MethodObject, SmoothGrad
from ..metrics import class_sensitivity as l2_distance
from ..metrics import mass_inside
from ..models import LensModel
from ..models.efficientnet import EfficientNetLite0
from .claims import RANDOM_SSIM_KEPT, RANDOM_SSIM_LOST, SENSITIVITY_FACTOR, Claim
from .imagenet import IMAGENET_MODEL, TOP_K, stage_levels
from .inputs import CLASS_SENSITIVITY_SEED, LABELS, as_inputs, map_picture
from .results import ExperimentResult, PictureGrid
from .shapes import SHAPES_MODEL, randomisation_inputs
from .trained import (
    GBP,
    RANDOMISATION_WEIGHTS_SEED,
    SALIENCY,
    SHOWN,
    _first_parameter_layer,
    mean_similarity,
    ratio,
    top_classes,
)

GRADCAM, GUIDED_GRADCAM = "gradcam", "guided_gradcam"
#: Every method, by name, with a label for figures and claims.
ALL_LABELS = {**LABELS, "input_x_gradient": "input × gradient", "smoothgrad": "SmoothGrad",
              "integrated_gradients": "IG", "gradcam": "Grad-CAM",
              "guided_gradcam": "guided Grad-CAM"}
ALL_ROWS = ["input", *(ALL_LABELS[m] for m in METHODS)]


@dataclass(frozen=True)
class BeyondBudget:
    """How much work the block does: shapes images, photos, and the expensive methods'
    sample counts (``None``: the method's default)."""

    name: str
    class_images: int
    randomisation_images: int
    class_photos: int
    randomisation_photos: int
    samples: int | None
    steps: int | None


FULL = BeyondBudget("full", class_images=30, randomisation_images=10, class_photos=2,
                    randomisation_photos=1, samples=None, steps=None)
QUICK = BeyondBudget("quick", class_images=4, randomisation_images=2, class_photos=1,
                     randomisation_photos=1, samples=4, steps=4)


def beyond_budget(quick: bool) -> BeyondBudget:
    if not isinstance(quick, bool):
        raise TypeError(f"quick must be a bool; got {type(quick).__name__}")
    return QUICK if quick else FULL


def method_settings(chosen: BeyondBudget) -> dict[str, str | MethodObject]:
    """Each method's name → what ``attribute`` gets: the name (its defaults), or in a quick
    run SmoothGrad and IG objects with ``chosen``'s fewer samples and steps."""
    settings: dict[str, str | MethodObject] = {m: m for m in METHODS}
    if chosen.samples is not None:
        settings["smoothgrad"] = SmoothGrad(samples=chosen.samples)
    if chosen.steps is not None:
        settings["integrated_gradients"] = IntegratedGradients(steps=chosen.steps)
    return settings


def maps_per_target(
    spec: LensModel, x: torch.Tensor, targets: torch.Tensor, chosen: BeyondBudget
) -> dict[str, torch.Tensor]:
    """Method → (N, K, C, H, W): each input's maps for its K ``targets`` (N, K), one engine
    call (one forward pass) per input and method."""
    return {name: torch.stack([attribute(spec, x[i:i + 1], method, targets[i].tolist())
                               for i in range(len(x))])
            for name, method in method_settings(chosen).items()}


def class_sensitivity(
    model: LensModel | None = None, batch: ShapesBatch | None = None, quick: bool = False
) -> ExperimentResult:
    """Every method's maps for both classes of two-object shapes images.

    Metrics (mean over images): ``distance`` (the paper's L2 distance between the two unit
    maps), ``on_object`` (the fraction of the map's mass on the chosen object's mask),
    ``on_other`` (on the other object's). Raises ``ValueError`` unless ``batch`` holds
    two-object images of the model's input size.
    """
    chosen = beyond_budget(quick)
    spec = model or models.load(SHAPES_MODEL)
    batch = batch or data.shapes.generate(chosen.class_images, seed=CLASS_SENSITIVITY_SEED,
                                          objects=2)
    if batch.labels.ndim != 2 or batch.labels.shape[1] != 2:
        raise ValueError("batch must hold two-object images: data.shapes.generate(n, objects=2)")
    x = as_inputs(spec, list(batch.images))
    if batch.masks.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"the images must have the model's input size {spec.input_size}")
    maps = maps_per_target(spec, x, torch.as_tensor(batch.labels), chosen)
    metrics = {m: {"distance": float(np.mean([l2_distance(v) for v in values])),
                   "on_object": _mean_mass(values, batch.masks, same=True),
                   "on_other": _mean_mass(values, batch.masks, same=False)}
               for m, values in maps.items()}
    result = ExperimentResult(
        "methods_class_sensitivity", "which methods follow the class, and the chosen object",
        f"{spec.description}; {len(x)} two-object images (data.shapes seed "
        f"{CLASS_SENSITIVITY_SEED}); targets: the two classes present; every method"
        f"{_settings_note(chosen)}",
        {f"object {k + 1}'s class": {m: v[:, k] for m, v in maps.items()} for k in (0, 1)},
        {"two-object images": metrics}, [], _shapes_grid(spec, x, batch, maps), spec.name)
    result.claims = [*_sensitivity_claims(result, metrics), *(
        result.check(f"{ALL_LABELS[m]} puts more mass on the chosen object than GBP",
                     f"mass on the chosen object: {ALL_LABELS[m]} − GBP",
                     metrics[m]["on_object"] - metrics[GBP]["on_object"], 0.0, ">")
        for m in (GRADCAM, GUIDED_GRADCAM))]
    return result


def class_sensitivity_photos(
    model: LensModel | None = None, images: Sequence[ImageLike] | None = None,
    quick: bool = False,
) -> ExperimentResult:
    """Every method's maps of each photo for its top-5 classes (top-2 in a quick run); the
    paper's mean L2 distance between them (``distance``), mean over photos."""
    chosen = beyond_budget(quick)
    spec = model or models.load(IMAGENET_MODEL)
    pictures, about = _pictures(images, chosen.class_photos)
    k = min(2 if quick else TOP_K, len(spec.classes))
    if k < 2:
        raise ValueError(f"model must have at least 2 classes; got {len(spec.classes)}")
    x = as_inputs(spec, pictures)
    classes = top_classes(spec, x, k)
    maps = maps_per_target(spec, x, classes, chosen)
    metrics = {m: {"distance": float(np.mean([l2_distance(v) for v in values]))}
               for m, values in maps.items()}
    result = ExperimentResult(
        "methods_class_sensitivity", "which methods follow the class",
        f"{spec.description}; {about}; targets: each photo's top-{k} classes; every method"
        f"{_settings_note(chosen)}",
        {f"top-{j + 1} class": {m: v[:, j] for m, v in maps.items()} for j in range(k)},
        {"mean over photos": metrics}, [], _photo_grid(spec, x, classes, maps), spec.name)
    result.claims = _sensitivity_claims(result, metrics)
    return result


def randomisation(
    model: LensModel | None = None, images: np.ndarray | None = None, quick: bool = False
) -> ExperimentResult:
    """Randomisation curves of every method on the shapes CNN: one level per layer with
    parameters, top first (see :func:`curves`)."""
    spec, x, described = randomisation_inputs(model, images,
                                              beyond_budget(quick).randomisation_images)
    return curves(spec, x, spec.parameter_layers[::-1], described, quick)


def randomisation_photos(
    model: LensModel | None = None, images: Sequence[ImageLike] | None = None,
    quick: bool = False,
) -> ExperimentResult:
    """Randomisation curves of every method on photos: EfficientNet-Lite0's stages as levels
    (``imagenet.stage_levels``; in a quick run only the top and the last), every layer with
    parameters for any other network."""
    chosen = beyond_budget(quick)
    spec = model or models.load(IMAGENET_MODEL)
    pictures, about = _pictures(images, chosen.randomisation_photos)
    levels = (stage_levels(spec) if isinstance(spec.module, EfficientNetLite0)
              else spec.parameter_layers[::-1])
    if quick:
        levels = [levels[0], levels[-1]]
    return curves(spec, as_inputs(spec, pictures), levels, about, quick)


def curves(
    spec: LensModel, x: torch.Tensor, levels: Sequence[str], inputs: str, quick: bool = False
) -> ExperimentResult:
    """Cascading randomisation, every method: at each level (module names, top first; a level
    re-draws from the output down to its first parameter layer) each method's maps for the
    trained model's top class of each input, against the trained model's maps.

    Metrics: ``metrics[column][method]`` holds ``trained.similarity``'s scores (``ssim`` as
    shown, ``spearman``, …), mean over inputs; the last column has every layer re-drawn when
    ``levels`` ends at the first layer. ``inputs`` says what ``x`` holds, for the setting.
    """
    if isinstance(levels, str) or not levels:
        raise ValueError(f"levels must be a non-empty list of module names; got {levels!r}")
    chosen = beyond_budget(quick)
    starts = [_first_parameter_layer(spec, level) for level in levels]
    classes = top_classes(spec, x)
    trained = {m: v[:, 0] for m, v in maps_per_target(spec, x, classes, chosen).items()}
    maps, metrics = {"trained": trained}, {}
    for i, (level, start) in enumerate(zip(levels, starts, strict=True)):
        column = levels[0] if i == 0 else f"{levels[0]} … {level}"
        randomised = models.randomize(spec, "cascade", start, seed=RANDOMISATION_WEIGHTS_SEED)
        maps[column] = {m: v[:, 0] for m, v in
                        maps_per_target(randomised, x, classes, chosen).items()}
        metrics[column] = {m: mean_similarity(trained[m], maps[column][m], m) for m in METHODS}
    result = ExperimentResult(
        "methods_randomisation", "which methods notice that the weights are re-drawn",
        f"{spec.description}; cascading randomisation from the top ({levels[0]}) down to "
        f"{levels[-1]}, seed {RANDOMISATION_WEIGHTS_SEED}; {inputs}; target: the trained "
        f"model's top class; SSIM and Spearman ρ to the trained model's map"
        f"{_settings_note(chosen)}",
        maps, metrics, [], _curves_grid(spec, x, maps, metrics), spec.name)
    last = list(metrics.values())[-1]
    result.claims = [
        *(result.check(f"with every layer re-drawn, {ALL_LABELS[m]}'s map is unlike the "
                       "trained one", f"SSIM({ALL_LABELS[m]}) with every layer re-drawn",
                       last[m]["ssim"], RANDOM_SSIM_LOST, "<=") for m in (GRADCAM, SALIENCY)),
        result.check("with every layer re-drawn, GBP's map stays like the trained one",
                     "SSIM(GBP) with every layer re-drawn", last[GBP]["ssim"],
                     RANDOM_SSIM_KEPT, ">="),
    ]
    return result


# --- helpers -------------------------------------------------------------------------------

def _sensitivity_claims(result: ExperimentResult, metrics: dict[str, dict[str, float]]
                        ) -> list[Claim]:
    """Grad-CAM and guided Grad-CAM are each ≥ ``SENSITIVITY_FACTOR``× as class-sensitive
    as GBP (the paper's mean L2 distance)."""
    return [result.check(f"{ALL_LABELS[m]} is at least {SENSITIVITY_FACTOR:g}× as "
                         "class-sensitive as GBP", f"mean L2 distance: {ALL_LABELS[m]} / GBP",
                         ratio(metrics[m]["distance"], metrics[GBP]["distance"]),
                         SENSITIVITY_FACTOR, ">=")
            for m in (GRADCAM, GUIDED_GRADCAM)]


def _mean_mass(maps: torch.Tensor, masks: np.ndarray, same: bool) -> float:
    """Mean over images and both targets of the mass of map k on object k's mask (``same``)
    or on the other object's; ``maps`` (N, 2, C, H, W), ``masks`` (N, 2, H, W)."""
    return float(np.mean([mass_inside(maps[i, k], masks[i, k if same else 1 - k])
                          for i in range(len(maps)) for k in (0, 1)]))


def _pictures(images: Sequence[ImageLike] | None, n: int) -> tuple[list[ImageLike], str]:
    """The given pictures, or the first ``n`` sample photos (cat first); and a line saying
    what they are."""
    if images is not None:
        return list(images), f"{len(images)} given images"
    names = data.sample_images()[:n]
    return ([data.sample_image(name) for name in names],
            f"{len(names)} sample photo(s) ({', '.join(names)})")


def _settings_note(chosen: BeyondBudget) -> str:
    if chosen.samples is None and chosen.steps is None:
        return " with its defaults"
    return f" (quick: SmoothGrad {chosen.samples} samples, IG {chosen.steps} steps)"


def _shapes_grid(spec: LensModel, x: torch.Tensor, batch: ShapesBatch,
                 maps: dict[str, torch.Tensor]) -> PictureGrid:
    """Per shown image and class: the picture with the other object dimmed, every map with
    its mass on the chosen object."""
    grid = PictureGrid(["input (target bright)", *ALL_ROWS[1:]])
    for i in range(min(SHOWN, len(x))):
        picture = spec.deprocess(x[i])
        for k in (0, 1):
            dimmed = np.where(batch.masks[i, 1 - k][..., None], picture // 3, picture)
            grid.add_column(f"image {i + 1} → {CLASSES[batch.labels[i, k]]}", [
                (dimmed.astype(np.uint8), ""),
                *((map_picture(maps[m][i, k], m),
                   f"{mass_inside(maps[m][i, k], batch.masks[i, k]):.0%} on target")
                  for m in METHODS)])
    return grid


def _photo_grid(spec: LensModel, x: torch.Tensor, classes: torch.Tensor,
                maps: dict[str, torch.Tensor]) -> PictureGrid:
    """The first photo's top-1 and top-2 classes: every map, the second with its L2 distance
    to the first."""
    grid = PictureGrid(ALL_ROWS)
    picture = spec.deprocess(x[0])
    for j in (0, 1):
        grid.add_column(f"→ {spec.classes[int(classes[0, j])]}", [(picture, ""), *(
            (map_picture(maps[m][0, j], m),
             f"L2 to top-1 {l2_distance(maps[m][0, :2]):.2f}" if j else "") for m in METHODS)])
    return grid


def _curves_grid(spec: LensModel, x: torch.Tensor, maps: dict[str, dict[str, torch.Tensor]],
                 metrics: dict[str, dict[str, dict[str, float]]]) -> PictureGrid:
    """The first input at every level, each map with its mean SSIM and Spearman ρ."""
    grid = PictureGrid(ALL_ROWS)
    picture = spec.deprocess(x[0])
    for column, level in maps.items():
        grid.add_column(column if column == "trained" else f"re-drawn: {column}", [
            (picture, ""), *((map_picture(level[m][0], m),
                              f"SSIM {metrics[column][m]['ssim']:.2f} "
                              f"ρ {metrics[column][m]['spearman']:.2f}"
                              if column in metrics else "") for m in METHODS)])
    return grid

