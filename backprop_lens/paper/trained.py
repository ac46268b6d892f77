"""What the trained-network experiments share, whatever the network and the pictures (the
shapes CNN on ``data.shapes``, EfficientNet-Lite0 on the sample photos): map-to-map
similarity, each input's own class, the PGD comparison, cascading randomisation, and the
claims they check — the same claims with the same thresholds on every model.

Map-to-map similarity is measured on what a user sees: SSIM of each method's display
convention (``render``: saliency as |g|, the others signed), listed as ``ssim``; the signed,
absolute and rank-correlation variants are reported beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .. import models
from ..adversarial import pgd, pixels_to_input_units
from ..engine import attribute
from ..engine.activations import logits_from_output
from ..engine.model_guard import eval_twin
from ..metrics import rank_correlation, ssim
from ..models import LensModel
from ..render import ABS_GREY, convention_for
from .claims import RECOVERS, SENSITIVITY_FACTOR, SIMILARITY_GAP, Claim
from .inputs import LABELS, PAPER_METHODS, ROWS, map_picture, maps_by_method
from .results import ExperimentResult, Metrics, PictureGrid

GBP, SALIENCY, DECONVNET = "guided_backprop", "saliency", "deconvnet"

#: The attack: L∞ PGD of 8 pixel levels (of 255), steps of 2, 10 steps, no random start.
EPS_PIXELS = 8.0
STEP_PIXELS = 2.0
PGD_STEPS = 10
#: The seed of every re-drawn layer.
RANDOMISATION_WEIGHTS_SEED = 0

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


def mean_similarity(a: torch.Tensor, b: torch.Tensor, method: str) -> dict[str, float]:
    """:func:`similarity` of each pair ``a[i]``, ``b[i]`` (N, C, H, W), averaged over i."""
    scores = [similarity(a[i], b[i], method) for i in range(len(a))]
    return {key: float(np.mean([s[key] for s in scores])) for key in scores[0]}


def top_classes(spec: LensModel, x: torch.Tensor, k: int = 1) -> torch.Tensor:
    """Each input's ``k`` highest-scoring classes, best first: (N, k) int64."""
    with torch.no_grad():
        return logits_from_output(eval_twin(spec.module)(x)).topk(k, dim=1).indices


def maps_for_classes(
    spec: LensModel, x: torch.Tensor, classes: Sequence[int], method: str
) -> torch.Tensor:
    """The map of each input for its own class: one engine call per distinct class."""
    out = torch.empty_like(x)
    wanted = torch.tensor(list(classes))
    for cls in sorted(set(classes)):
        rows = torch.nonzero(wanted == cls).flatten()
        out[rows] = attribute(spec, x[rows], method, target=cls)
    return out


def ratio(a: float, b: float) -> float:
    """a / b, for b = 0 infinite (a > 0) or undefined (a = 0)."""
    if b > 0:
        return a / b
    return float("inf") if a > 0 else float("nan")


def sensitivity_claims(result: ExperimentResult, distance: dict[str, float]) -> list[Claim]:
    """Saliency is at least ``SENSITIVITY_FACTOR``× as class-sensitive as GBP and as
    DeconvNet: ``distance`` is each method's mean L2 distance between its maps for
    different classes (``metrics.class_sensitivity``)."""
    return [result.check(f"saliency is at least {SENSITIVITY_FACTOR:g}× as class-sensitive "
                         f"as {LABELS[other]}",
                         f"mean L2 distance: saliency / {LABELS[other]}",
                         ratio(distance[SALIENCY], distance[other]), SENSITIVITY_FACTOR, ">=")
            for other in (GBP, DECONVNET)]


def attack_experiment(
    spec: LensModel, x: torch.Tensor, candidates: str, limit: int | None = None
) -> ExperimentResult:
    """PGD on every input of ``x``; the maps of those whose prediction flips (the first
    ``limit`` of them; all when ``None``), clean and attacked, each for its own top class.

    ``candidates`` says what ``x`` holds (e.g. "7 sample photos"), for the setting. Raises
    ``ValueError`` when no prediction flips.
    """
    eps = pixels_to_input_units(spec, EPS_PIXELS)
    step = pixels_to_input_units(spec, STEP_PIXELS)
    x_adv, report = pgd(spec, x, eps, step, PGD_STEPS)
    flipped = [i for i, f in enumerate(report.flipped) if f][:limit]
    if not flipped:
        raise ValueError("PGD flipped no prediction; nothing to compare")
    x, x_adv = x[flipped], x_adv[flipped]
    clean, attacked = maps_by_method(spec, x), maps_by_method(spec, x_adv)
    metrics = {method: mean_similarity(clean[method], attacked[method], method)
               for method in PAPER_METHODS}
    names = [(spec.classes[report.before[i]], spec.classes[report.after[i]]) for i in flipped]
    used = "all are used" if len(flipped) == sum(report.flipped) else \
        f"the first {len(flipped)} are used"
    result = ExperimentResult(
        "adversarial", "an attack flips the prediction; GBP's map barely changes",
        f"{spec.description}; {candidates}; L∞ PGD, ε = {EPS_PIXELS:g}/255, step "
        f"{STEP_PIXELS:g}/255, {PGD_STEPS} steps; it flipped {sum(report.flipped)} of "
        f"{len(report.flipped)}, {used}; target: each input's top class",
        {"clean": clean, "adversarial": attacked}, {"clean vs adversarial": metrics}, [],
        _adversarial_grid(spec, x, x_adv, clean, attacked, names), spec.name)
    result.claims = [result.check(
        f"GBP's map changes far less than saliency's (SSIM gap ≥ {SIMILARITY_GAP:g})",
        "SSIM(clean map, adversarial map): GBP − saliency",
        metrics[GBP]["ssim"] - metrics[SALIENCY]["ssim"], SIMILARITY_GAP, ">=")]
    return result


def cascade_experiment(
    spec: LensModel, x: torch.Tensor, levels: Sequence[str], inputs: str
) -> ExperimentResult:
    """Cascading randomisation: at each level, from the top down, the model with every layer
    from the output down to ``levels[i]`` re-drawn; each level's maps against the trained
    model's, for the trained model's top class of each input.

    ``levels``: module names, top first; a level re-draws every parameter layer from the
    first one at or inside that module (in forward order) to the output. ``inputs`` says
    what ``x`` holds, for the setting.
    """
    starts = [_first_parameter_layer(spec, level) for level in levels]
    classes = top_classes(spec, x)[:, 0].tolist()
    trained = {m: maps_for_classes(spec, x, classes, m) for m in PAPER_METHODS}
    maps, metrics = {"trained": trained}, {}
    for i, (level, start) in enumerate(zip(levels, starts, strict=True)):
        column = levels[0] if i == 0 else f"{levels[0]} … {level}"
        randomised = models.randomize(spec, "cascade", start, seed=RANDOMISATION_WEIGHTS_SEED)
        maps[column] = {m: maps_for_classes(randomised, x, classes, m) for m in PAPER_METHODS}
        metrics[column] = {m: mean_similarity(trained[m], maps[column][m], m)
                           for m in PAPER_METHODS}
    result = ExperimentResult(
        "partial_training", "re-drawing layers changes saliency, not GBP",
        f"{spec.description}; cascading randomisation from the top ({levels[0]}) down to "
        f"{levels[-1]}, seed {RANDOMISATION_WEIGHTS_SEED}; {inputs}; target: the trained "
        "model's top class; similarity to the trained model's map",
        maps, metrics, [], _randomisation_grid(spec, x, maps, metrics), spec.name)
    columns = list(metrics.values())
    result.claims = [
        result.check("GBP's map stays similar to the trained model's at every level",
                     "smallest SSIM(GBP)", min(c[GBP]["ssim"] for c in columns), RECOVERS,
                     ">="),
        result.check("saliency's similarity falls well below GBP's",
                     "SSIM with every layer re-drawn: GBP − saliency",
                     columns[-1][GBP]["ssim"] - columns[-1][SALIENCY]["ssim"], SIMILARITY_GAP,
                     ">="),
    ]
    return result


def _first_parameter_layer(spec: LensModel, level: str) -> str:
    """The first parameter layer (forward order) that is ``level`` or lies inside it."""
    layers = spec.parameter_layers
    inside = [name for name in layers if name == level or name.startswith(f"{level}.")]
    if not inside:
        raise ValueError(f"levels must name modules that hold parameter layers, e.g. "
                         f"{layers[-1]!r}; got {level!r}")
    return inside[0]


def _adversarial_grid(
    spec: LensModel, x: torch.Tensor, x_adv: torch.Tensor, clean: dict[str, torch.Tensor],
    attacked: dict[str, torch.Tensor], names: list[tuple[str, str]],
) -> PictureGrid:
    """Per shown input: the clean picture and maps, then the attacked ones with their SSIM."""
    grid = PictureGrid(ROWS)
    for i in range(min(SHOWN, len(x))):
        before, after = names[i]
        grid.add_column(f"image {i + 1}, clean: {before}", [
            (spec.deprocess(x[i]), ""),
            *((map_picture(clean[m][i], m), "") for m in PAPER_METHODS),
        ])
        grid.add_column(f"image {i + 1}, attacked: {after}", [
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
    """The first input at every level: trained, then each re-drawn level with its mean SSIM."""
    grid = PictureGrid(ROWS)
    picture = spec.deprocess(x[0])
    for column, level in maps.items():
        name = column if column == "trained" else f"re-drawn: {column}"
        grid.add_column(name, [(picture, ""), *(
            (map_picture(level[m][0], m),
             f"mean SSIM {metrics[column][m]['ssim']:.2f}" if column in metrics else "")
            for m in PAPER_METHODS)])
    return grid
