"""The paper's image-recovery experiments: on random networks, guided backprop
shows the input picture while saliency and DeconvNet show noise.

Each function builds the paper's network(s) unless given others, runs the three methods on the
photos (or the given pictures) with each image's top class as the target, and measures how
much of the picture each map recovers: Pearson r against the mean-subtracted input, and SSIM
of the grey pictures (``metrics.recovery_correlation`` / ``recovery_ssim``), averaged over the
images. The figure shows the first image (the cat).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from .. import models
from ..data.images import ImageLike
from ..metrics import recovery_correlation, recovery_ssim
from ..models import LensModel
from .claims import FCN_GAP, NOISE, POOL_FACTOR, POOL_SSIM, RECOVERS, Claim
from .inputs import (
    LABELS,
    ROWS,
    Budget,
    as_inputs,
    budget,
    map_picture,
    maps_by_method,
    photos,
)
from .results import ExperimentResult, Metrics, PictureGrid

FILTERS = (4, 16, 64, 128)
DEPTHS = (1, 2, 4, 8)
GBP, SALIENCY, DECONVNET = "guided_backprop", "saliency", "deconvnet"


def measure_recovery(
    experiment_id: str, title: str, setting: str, networks: Mapping[str, LensModel],
    images: Sequence[ImageLike],
) -> ExperimentResult:
    """Maps and recovery numbers of every network (one figure column each); no claims yet.
    The result's ``model`` names the networks (each distinct ``LensModel.name`` once).

    Metrics per column and method: ``r`` (mean Pearson r), ``|r|`` (mean of its magnitude),
    ``ssim`` (mean SSIM).
    """
    maps: dict[str, dict[str, torch.Tensor]] = {}
    metrics: Metrics = {}
    grid = PictureGrid(ROWS)
    for column, spec in networks.items():
        x = as_inputs(spec, images)
        maps[column] = maps_by_method(spec, x)
        metrics[column] = {}
        cells = [(spec.deprocess(x[0]), f"{x.shape[-2]}×{x.shape[-1]}")]
        for method, values in maps[column].items():
            r = [recovery_correlation(values[i], x[i]) for i in range(len(x))]
            s = [recovery_ssim(values[i], x[i]) for i in range(len(x))]
            metrics[column][method] = {"r": float(np.mean(r)), "|r|": float(np.mean(np.abs(r))),
                                       "ssim": float(np.mean(s))}
            cells.append((map_picture(values[0], method),
                          f"r {np.mean(r):.2f} · SSIM {np.mean(s):.2f}"))
        grid.add_column(column, cells)
    names = ", ".join(dict.fromkeys(spec.name for spec in networks.values()))
    return ExperimentResult(experiment_id, title, setting, maps, metrics, [], grid, names)


def random_cnn(
    model: LensModel | None = None, images: Sequence[ImageLike] | None = None,
    quick: bool = False,
) -> ExperimentResult:
    """The paper's random CNN (64 filters, no pooling): GBP recovers the picture, saliency
    and DeconvNet are noise."""
    chosen = budget(quick)
    spec = model or models.paper_cnn(n_filters=64, input_size=chosen.input_size)
    pictures, about = _pictures(images, chosen)
    result = measure_recovery("random_cnn", "random CNN: GBP recovers, the others are noise",
                              f"{spec.description}; {about}", {spec.name: spec}, pictures)
    column = result.metrics[spec.name]
    result.claims = [
        result.check("GBP recovers the image", "r(GBP, x)", column[GBP]["r"], RECOVERS,
                     ">="),
        *_noise_claims(result, column, SALIENCY),
        *_noise_claims(result, column, DECONVNET),
    ]
    return result


def filters(
    networks: Mapping[str, LensModel] | None = None,
    images: Sequence[ImageLike] | None = None, quick: bool = False,
) -> ExperimentResult:
    """The random CNN with more and more filters: GBP's recovery grows with N (the order of
    ``networks`` is the order the claim checks)."""
    chosen = budget(quick)
    networks = networks or {f"N={n}": models.paper_cnn(n_filters=n, input_size=chosen.input_size)
                            for n in FILTERS}
    pictures, about = _pictures(images, chosen)
    result = measure_recovery("filters", "more filters, better recovery",
                              f"the paper's random CNN, no pooling, {', '.join(networks)}; "
                              f"{about}", networks, pictures)
    r = [result.metrics[column][GBP]["r"] for column in networks]
    steps = np.diff(r)
    result.claims = [result.check(
        "GBP recovery grows with N (r strictly increasing)",
        "smallest increase of r(GBP) from one N to the next (r: "
        + ", ".join(f"{v:.3f}" for v in r) + ")",
        float(steps.min()) if steps.size else float("nan"), 0.0, ">",
    )]
    return result


def fcn(
    model: LensModel | None = None, reference: LensModel | None = None,
    images: Sequence[ImageLike] | None = None, quick: bool = False,
) -> ExperimentResult:
    """The paper's random fully connected network against the random CNN at the same input
    size (the FCN's, 64×64 by default: a 224×224 FCN would need 3 GB of weights)."""
    chosen = budget(quick)
    spec = model or models.paper_fcn(hidden=5000)
    size = spec.input_size
    cnn = reference or models.paper_cnn(n_filters=64, input_size=size)
    pictures, about = _pictures(images, chosen)
    networks = {"CNN": cnn, "FCN": spec}
    result = measure_recovery("fcn", "a fully connected network recovers far less",
                              f"{spec.description} vs {cnn.description}, both at "
                              f"{size[0]}×{size[1]}; {about}", networks, pictures)
    gap = result.metrics["CNN"][GBP]["r"] - result.metrics["FCN"][GBP]["r"]
    result.claims = [result.check("the FCN recovers far less than the CNN",
                                  "r_CNN(GBP) − r_FCN(GBP)", gap, FCN_GAP, ">=")]
    return result


def max_pool(
    model: LensModel | None = None, reference: LensModel | None = None,
    images: Sequence[ImageLike] | None = None, quick: bool = False,
) -> ExperimentResult:
    """The random CNN with a 9×9 max-pool: DeconvNet now shows structure (its switches carry
    the picture), saliency stays noise."""
    chosen = budget(quick)
    spec = model or models.paper_cnn(n_filters=64, max_pool=True, input_size=chosen.input_size)
    plain = reference or models.paper_cnn(n_filters=64, input_size=spec.input_size)
    pictures, about = _pictures(images, chosen)
    networks = {"no pooling": plain, "max-pool 9×9": spec}
    result = measure_recovery("max_pool", "max-pooling makes DeconvNet recover structure",
                              f"{spec.description}; {about}", networks, pictures)
    pooled, unpooled = result.metrics["max-pool 9×9"], result.metrics["no pooling"]
    result.claims = [
        result.check("DeconvNet recovers structure with max-pooling", "SSIM(DeconvNet, x)",
                     pooled[DECONVNET]["ssim"], POOL_SSIM, ">="),
        result.check(f"… at least {POOL_FACTOR:g}× its SSIM without pooling",
                     f"SSIM with pooling − {POOL_FACTOR:g} × SSIM without (DeconvNet)",
                     pooled[DECONVNET]["ssim"] - POOL_FACTOR * unpooled[DECONVNET]["ssim"],
                     0.0, ">="),
        result.check("saliency stays noise with max-pooling", "SSIM(saliency, x)",
                     pooled[SALIENCY]["ssim"], NOISE, "<="),
    ]
    return result


def random_vgg(
    model: LensModel | None = None, images: Sequence[ImageLike] | None = None,
    quick: bool = False,
) -> ExperimentResult:
    """VGG-16 drawn the paper's way: GBP still recovers the picture, saliency does not."""
    chosen = budget(quick)
    spec = model or _at_size(models.vgg16(weights="random"), chosen.input_size)
    pictures, about = _pictures(images, chosen)
    result = measure_recovery("random_vgg", "random VGG-16: GBP recovers, saliency is noise",
                              f"{spec.description}, input {spec.input_size[0]}×"
                              f"{spec.input_size[1]}; {about}", {"VGG-16": spec}, pictures)
    column = result.metrics["VGG-16"]
    result.claims = [
        result.check("GBP recovers the image", "SSIM(GBP, x)", column[GBP]["ssim"],
                     RECOVERS, ">="),
        result.check("saliency is noise", "SSIM(saliency, x)", column[SALIENCY]["ssim"],
                     NOISE, "<="),
    ]
    return result


def depth(
    networks: Mapping[str, LensModel] | None = None,
    images: Sequence[ImageLike] | None = None, quick: bool = False,
) -> ExperimentResult:
    """Stacked conv-ReLU layers: the behaviour does not change with depth — GBP recovers and
    saliency stays noise at every depth (same thresholds as ``random_cnn``)."""
    chosen = budget(quick)
    networks = networks or {
        f"{d} conv layer{'s' if d > 1 else ''}": models.paper_cnn(
            n_filters=64, depth=d, input_size=chosen.input_size)
        for d in DEPTHS
    }
    pictures, about = _pictures(images, chosen)
    result = measure_recovery("depth", "deeper random CNNs behave the same",
                              f"the paper's random CNN (64 filters, no pooling) with "
                              f"{', '.join(networks)}; {about}", networks, pictures)
    columns = list(result.metrics.values())
    result.claims = [
        result.check("GBP recovers the image at every depth", "smallest r(GBP, x)",
                     min(c[GBP]["r"] for c in columns), RECOVERS, ">="),
        result.check("saliency is noise at every depth", "largest mean |r(saliency, x)|",
                     max(c[SALIENCY]["|r|"] for c in columns), NOISE, "<="),
        result.check("saliency is noise at every depth", "largest SSIM(saliency, x)",
                     max(c[SALIENCY]["ssim"] for c in columns), NOISE, "<="),
    ]
    return result


def _noise_claims(
    result: ExperimentResult, column: dict[str, dict[str, float]], method: str
) -> list[Claim]:
    label = LABELS[method]
    return [
        result.check(f"{label} is noise", f"mean |r({label}, x)|", column[method]["|r|"],
                     NOISE, "<="),
        result.check(f"{label} is noise", f"SSIM({label}, x)", column[method]["ssim"],
                     NOISE, "<="),
    ]


def _pictures(images: Sequence[ImageLike] | None, chosen: Budget) -> tuple[list[ImageLike], str]:
    """The given pictures, or the sample photos; and a line saying which, for the setting."""
    if images is not None:
        return list(images), f"target: each image's top class; mean over {len(images)} images"
    named = photos(chosen)
    return list(named.values()), (f"target: each image's top class; mean over {len(named)} "
                                  f"photos ({', '.join(named)})")


def _at_size(spec: LensModel, side: int) -> LensModel:
    """The same network fed pictures of ``side``×``side`` (VGG-16's adaptive pooling takes any
    size of at least 32)."""
    if spec.input_size == (side, side):
        return spec
    return dataclasses.replace(spec, input_size=(side, side))

