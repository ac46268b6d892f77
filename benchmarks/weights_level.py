"""The cost of one level of the Explorer's weights slider on the default model (EfficientNet-
Lite0, the cat photo, 224²), as ratios to one trained guided-backprop map in the same process:
re-drawing the layers (``randomize``: a copy of the model, the top unit or every unit re-drawn),
and one map per fast method on the copy. Medians of ``REPEATS`` runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from backprop_lens import data, models
from backprop_lens.widget.compute import compute_maps
from backprop_lens.widget.weights import SEED, weight_levels

REPEATS = 3
FAST = ("saliency", "deconvnet", "guided_backprop", "input_x_gradient", "gradcam",
        "guided_gradcam")


def median_s(work: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    torch.manual_seed(0)
    spec = models.load("efficientnet_lite0")
    x = spec.preprocess(data.sample_image("cat"))
    levels = [level["name"] for level in weight_levels(spec)]
    encoding = ("png", 85)
    target = int(spec.module(x).argmax())
    baseline = median_s(lambda: compute_maps(spec, x, "output", "guided_backprop", [target],
                                             encoding))
    print(f"one trained guided-backprop map: {baseline:.3f} s (the unit below)")
    for name, level in (("top unit re-drawn", levels[1]), ("every layer re-drawn", levels[-1])):
        made = median_s(lambda level=level: models.randomize(spec, "cascade", level, seed=SEED))
        twin = models.randomize(spec, "cascade", level, seed=SEED)
        maps = median_s(lambda twin=twin: [compute_maps(twin, x, "output", m, [target], encoding)
                                           for m in FAST])
        print(f"{name}: randomize {made:.3f} s ({made / baseline:.2f}×), "
              f"{len(FAST)} maps {maps:.3f} s ({maps / baseline:.2f}×)")


if __name__ == "__main__":
    main()
