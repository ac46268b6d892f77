"""A map from a kept forward pass (``engine.RetainedForward``) against ``attribute``, which runs
its own forward pass: the cost of a layer move in the Explorer, before and after.

Run: ``make benchmark`` (or ``.venv/bin/python benchmarks/retained.py``). For the default model
(EfficientNet-Lite0) and the random VGG-16, at 224×224 on the CPU: the medians of one
guided-backprop map at a shallow, a middle and the last named layer and at the output, each way,
the cases taking turns, and their ratio; and what the kept pass costs once (its time, and the
growth of the process's resident memory while it is kept).
"""

from __future__ import annotations

import argparse
import time

import psutil
import torch
from engine import median_seconds

from backprop_lens import attribute, data, models
from backprop_lens.engine import RetainedForward


def measure(name: str, repeats: int) -> None:
    spec = models.load(name)
    x = spec.preprocess(data.sample_image("cat"))
    names = [layer for layer, _ in spec.layers]
    process = psutil.Process()
    before = process.memory_info().rss
    began = time.perf_counter()
    kept = RetainedForward(spec, x, names)
    once = time.perf_counter() - began
    grown = (process.memory_info().rss - before) / 2**20
    print(f"\n{name}: the kept forward pass {once * 1000:.0f} ms once, resident memory "
          f"+{grown:.0f} MiB while kept")
    print("| layer | attribute (ms) | kept pass (ms) | ratio |")
    print("|---|---|---|---|")
    for layer in (names[1], names[len(names) // 2], names[-1], None):
        times = median_seconds({
            "attribute": lambda layer=layer: attribute(spec, x, "guided_backprop", [0],
                                                       layer=layer),
            "kept": lambda layer=layer: kept.maps(layer, "guided_backprop", [0]),
        }, repeats)
        print(f"| {layer or 'output'} | {times['attribute'] * 1000:.1f} | "
              f"{times['kept'] * 1000:.1f} | {times['kept'] / times['attribute']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--models", nargs="*", default=["efficientnet_lite0", "vgg16_random"])
    args = parser.parse_args()
    torch.manual_seed(0)
    for name in args.models:
        measure(name, args.repeats)


if __name__ == "__main__":
    main()
