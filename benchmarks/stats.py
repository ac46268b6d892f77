"""Throughput of ``stats.run`` against a loop of Captum calls, and of the Ray engine against the
local one, measured in the same run on the same images.

Run: ``make benchmark`` (or ``.venv/bin/python benchmarks/stats.py --n 40`` for a quick look).

The images: ``--n`` JPEG files written to a temporary folder, each a random crop (half to all of
the side), maybe mirrored, of one of the package's sample photos, so that decoding and resizing
are part of the work as with a real folder. The work: EfficientNet-Lite0 at 224², the paper's
three methods, each image's top-5 classes, and per (image, method) the row's metrics (recovery
r and SSIM, class sensitivity).

- ours: ``stats.run`` (local engine, defaults), rows to Parquet.
- Captum: for each image, one forward pass for its top 5, then one Captum call per method and
  target (``Saliency(abs=False)``, ``Deconvolution``, ``GuidedBackprop``), then the same
  metrics. (Captum's rules act on ``nn.ReLU`` modules only; EfficientNet-Lite0's ReLU6 get the
  plain gradient there. Its cost per call is what is measured here, not its maps.)

The two take turns on segments of ``--segment`` images so that a busy machine slows both
alike; the CPU time they use (this process and its data-loader workers) is printed too, as it
depends less on what else the machine runs.

Then, unless ``--no-ray``: the Ray engine with ``--ray-workers`` actors on a local Ray (started
first and timed apart) against the local engine, on the same images. One machine shows Ray's
overhead, not a speed-up.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from captum.attr import Deconvolution, GuidedBackprop, Saliency
from PIL import Image

from backprop_lens import data, metrics, models, stats
from backprop_lens.stats.ray_engine import start_local_ray

METHODS = ("saliency", "deconvnet", "guided_backprop")
TARGETS = 5


def write_images(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` JPEGs: random crops (maybe mirrored) of the sample photos."""
    rng = np.random.default_rng(seed)
    photos = [np.asarray(data.sample_image(name)) for name in data.sample_images()]
    paths = []
    for i in range(n):
        photo = photos[i % len(photos)]
        height, width = photo.shape[:2]
        side = int(min(height, width) * rng.uniform(0.5, 1.0))
        top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
        crop = photo[top:top + side, left:left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        path = folder / f"{i:04d}.jpg"
        Image.fromarray(np.ascontiguousarray(crop)).save(path, quality=90)
        paths.append(path)
    return paths


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the data-loader workers)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def captum_loop(spec: models.LensModel) -> Callable[[list[Path]], None]:
    """One image, one target, one method at a time, then the same metrics as a stats row."""
    explainers = {"saliency": Saliency(spec.module), "deconvnet": Deconvolution(spec.module),
                  "guided_backprop": GuidedBackprop(spec.module)}

    def run(paths: list[Path]) -> None:
        for path in paths:
            x = spec.preprocess(path)
            with torch.no_grad():
                top = spec.module(x).topk(TARGETS, dim=1).indices[0].tolist()
            for method, explainer in explainers.items():
                options = {"abs": False} if method == "saliency" else {}
                maps = torch.cat([explainer.attribute(x, target=t, **options) for t in top])
                metrics.recovery_correlation(maps[0], x)
                metrics.recovery_ssim(maps[0], x)
                metrics.class_sensitivity(maps)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="images (default 200)")
    parser.add_argument("--segment", type=int, default=40, help="images per turn")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--ray-workers", type=int, default=2)
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray comparison")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", module="captum")
    spec = models.load(args.model)
    loop = captum_loop(spec)
    seconds = {"ours": 0.0, "Captum": 0.0}
    cpu = {"ours": 0.0, "Captum": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "images").mkdir()
        paths = write_images(folder / "images", args.n)
        warm = paths[:2]
        loop(warm)
        stats.run(spec, warm, METHODS, f"top{TARGETS}", out=folder / "warm.parquet",
                  progress=False)
        for k, start in enumerate(range(0, args.n, args.segment)):
            segment = paths[start:start + args.segment]
            for name, work in (
                ("ours", lambda s=segment, k=k: stats.run(
                    spec, s, METHODS, f"top{TARGETS}", out=folder / f"ours{k}.parquet",
                    progress=False)),
                ("Captum", lambda s=segment: loop(s)),
            ):
                began, cpu_began = time.perf_counter(), cpu_seconds()
                work()
                seconds[name] += time.perf_counter() - began
                cpu[name] += cpu_seconds() - cpu_began
        print(f"{args.model}, 224², {len(METHODS)} methods × top-{TARGETS}, {args.n} images, "
              f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}")
        rates = {name: args.n / value for name, value in seconds.items()}
        for name, rate in rates.items():
            print(f"  {name:<8} {rate:6.2f} images/s ({seconds[name]:.1f} s; CPU "
                  f"{cpu[name] / args.n:.2f} s per image)")
        print(f"  ours / Captum: {rates['ours'] / rates['Captum']:.2f}× in images/s, "
              f"{cpu['Captum'] / cpu['ours']:.2f}× in CPU time (goal ≥ 2×)")
        if not args.no_ray:
            ray_vs_local(spec, paths, folder, args.ray_workers)


def ray_vs_local(spec: models.LensModel, paths: list[Path], folder: Path, workers: int) -> None:
    began = time.perf_counter()
    start_local_ray()
    started = time.perf_counter() - began
    rates = {}
    for engine in ("local", "ray"):
        began = time.perf_counter()
        stats.run(spec, paths, METHODS, f"top{TARGETS}", out=folder / f"{engine}.parquet",
                  engine=engine, workers=workers if engine == "ray" else None, progress=False)
        rates[engine] = len(paths) / (time.perf_counter() - began)
    print(f"Ray ({workers} workers, local Ray started in {started:.1f} s, not counted) vs the "
          "local engine, same images:")
    for engine, rate in rates.items():
        print(f"  {engine:<8} {rate:6.2f} images/s")
    print(f"  ray / local: {rates['ray'] / rates['local']:.2f}×")


if __name__ == "__main__":
    main()
