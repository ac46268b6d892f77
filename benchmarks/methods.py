"""SmoothGrad and Integrated Gradients on VGG-16 at 224×224 on the CPU: ours vs. Captum, same run.

Run: ``make benchmark`` (or ``.venv/bin/python benchmarks/methods.py --repeats 3``).
The same computations on both sides: SmoothGrad over the plain gradient with ``--samples`` noisy
copies (Captum: ``NoiseTunnel(Saliency(abs=False))``, ``stdevs`` = our σ = 0.15 × the input's
range); Integrated Gradients with ``--steps`` Gauss–Legendre points from a zero baseline
(Captum: ``IntegratedGradients``, ``internal_batch_size`` unset: every point in one batch).
Prints medians over ``--repeats`` runs of each case (the cases take turns), then the ratios
the engine is held to: one target, ours / Captum (goal ≤ 0.8); ten targets from one call, ours
/ ten Captum calls (goal ≤ 0.6). ``--cases one`` or ``ten`` runs half of them (on a busy
machine the ten-target cases take minutes each); ``--size`` shrinks the input.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable

import torch
import torchvision
from captum.attr import IntegratedGradients, NoiseTunnel, Saliency
from engine import median_seconds

from backprop_lens import attribute, methods

GOALS = {"one": 0.8, "ten": 0.6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", choices=["one", "ten", "all"], default="all")
    parser.add_argument("--samples", type=int, default=25)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    warnings.filterwarnings("ignore", module="captum")
    torch.set_num_threads(args.threads)

    model = torchvision.models.vgg16(weights=None).eval()
    x = torch.randn(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    noise_level = 0.15
    sigma = noise_level * float(x.max() - x.min())
    ours_sg = methods.SmoothGrad(base="saliency", noise_level=noise_level, samples=args.samples)
    ours_ig = methods.IntegratedGradients(steps=args.steps, baseline="zeros")
    captum_sg = NoiseTunnel(Saliency(model))
    captum_ig = IntegratedGradients(model)

    def captum_smoothgrad(target: int) -> torch.Tensor:
        return captum_sg.attribute(x, nt_type="smoothgrad", nt_samples=args.samples,
                                   stdevs=sigma, target=target, abs=False)

    def captum_integrated(target: int) -> torch.Tensor:
        return captum_ig.attribute(x, baselines=torch.zeros_like(x), target=target,
                                   n_steps=args.steps, method="gausslegendre")

    ten = list(range(10))
    cases: dict[str, dict[str, Callable[[], object]]] = {
        "one": {
            "ours SmoothGrad, 1 target": lambda: attribute(model, x, ours_sg, 3),
            "Captum NoiseTunnel, 1 target": lambda: captum_smoothgrad(3),
            "ours IG, 1 target": lambda: attribute(model, x, ours_ig, 3),
            "Captum IG, 1 target": lambda: captum_integrated(3),
        },
        "ten": {
            "ours SmoothGrad, 10 targets, 1 call": lambda: attribute(model, x, ours_sg, ten),
            "Captum NoiseTunnel, 10 calls": lambda: [captum_smoothgrad(t) for t in ten],
            "ours IG, 10 targets, 1 call": lambda: attribute(model, x, ours_ig, ten),
            "Captum IG, 10 calls": lambda: [captum_integrated(t) for t in ten],
        },
    }
    chosen = list(cases) if args.cases == "all" else [args.cases]
    print(f"VGG-16, {args.size}×{args.size}, CPU, {args.threads} threads; SmoothGrad "
          f"{args.samples} samples, IG {args.steps} steps; medians of {args.repeats}")
    for group in chosen:
        times = median_seconds(cases[group], args.repeats)
        for name, seconds in times.items():
            print(f"  {name:40s} {seconds:8.3f} s")
        names = list(times)
        for ours, theirs, label in ((names[0], names[1], "SmoothGrad"),
                                    (names[2], names[3], "IG")):
            ratio = times[ours] / times[theirs]
            verdict = "met" if ratio <= GOALS[group] else "MISSED"
            print(f"  ratio {label}, {group} target{'s' if group == 'ten' else ''}: "
                  f"{ratio:.2f} (goal ≤ {GOALS[group]}, {verdict})")


if __name__ == "__main__":
    main()
