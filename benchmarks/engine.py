"""Engine speed on VGG-16 at 224×224 on the CPU: ratios against baselines measured in the same run.

Run: ``make benchmark`` (or ``.venv/bin/python benchmarks/engine.py --repeats 5``).
Prints medians over ``--repeats`` runs of each case, then the ratios the engine is held to:
one guided-backprop map vs. the plain gradient of one logit (the floor for one map) and vs.
Captum's GuidedBackprop; ten maps from one call vs. ten Captum calls, and vs. the floor for ten
maps: one forward pass and ten plain backward passes.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import torch
import torchvision
from captum.attr import GuidedBackprop

from backprop_lens import attribute


def median_seconds(cases: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time of each case; the cases take turns so that drift hits them alike."""
    for fn in cases.values():
        fn()  # warm-up: first calls pay for allocation and lazy initialisation
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", module="captum")

    model = torchvision.models.vgg16(weights=None).eval()
    x = torch.randn(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    targets = list(range(10))
    captum_gbp = GuidedBackprop(model)

    def plain_gradient() -> torch.Tensor:
        x_in = x.detach().requires_grad_(True)
        return torch.autograd.grad(model(x_in)[0, 3], x_in)[0]

    def plain_gradients() -> list[torch.Tensor]:
        x_in = x.detach().requires_grad_(True)
        logits = model(x_in)
        return [torch.autograd.grad(logits[0, t], x_in, retain_graph=True)[0] for t in targets]

    cases: dict[str, Callable[[], object]] = {
        "plain gradient, 1 logit": plain_gradient,
        "ours GBP, 1 target": lambda: attribute(model, x, "guided_backprop", target=3),
        "Captum GBP, 1 target": lambda: captum_gbp.attribute(x, target=3),
        "plain gradient, 10 logits, 1 forward": plain_gradients,
        "ours GBP, 10 targets (1 call)": lambda: attribute(model, x, "guided_backprop", targets),
        "Captum GBP, 10 targets (10 calls)": lambda: [
            captum_gbp.attribute(x, target=t) for t in targets
        ],
    }
    seconds = median_seconds(cases, args.repeats)

    print(f"VGG-16, {args.size}x{args.size}, CPU, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, median of {args.repeats}")
    print(f"| {'case':<36} | {'seconds':>8} |")
    print(f"|{'-' * 38}|{'-' * 10}|")
    for name, value in seconds.items():
        print(f"| {name:<36} | {value:8.3f} |")
    ratios = [
        ("ours 1 / plain gradient", "ours GBP, 1 target", "plain gradient, 1 logit", 1.05),
        ("ours 1 / Captum 1", "ours GBP, 1 target", "Captum GBP, 1 target", 1.0),
        ("ours 10 / Captum 10", "ours GBP, 10 targets (1 call)",
         "Captum GBP, 10 targets (10 calls)", 0.5),
        ("ours 10 / plain 10", "ours GBP, 10 targets (1 call)",
         "plain gradient, 10 logits, 1 forward", 1.05),
    ]
    print()
    print(f"| {'ratio':<24} | {'measured':>8} | {'goal':>6} |")
    print(f"|{'-' * 26}|{'-' * 10}|{'-' * 8}|")
    for label, num, den, goal in ratios:
        ratio = seconds[num] / seconds[den]
        mark = "met" if ratio <= goal else "MISSED"
        print(f"| {label:<24} | {ratio:8.2f} | ≤{goal:<5} | {mark}")


if __name__ == "__main__":
    main()
