"""Train the shipped shapes models: ``python -m backprop_lens.models.train_shapes``.

Trains ``shapes_cnn`` (max-pooling) and ``shapes_cnn_strided`` (strided convolutions) on
freshly generated ``data.shapes`` images — each round of training sees new images — and writes
``<name>.safetensors`` and ``<name>.json`` (command, seeds, data, accuracy, time, versions) into
``--out`` (default: the package's ``models/weights`` folder, where ``models.load`` reads them).

Training puts a batch normalisation after each convolution, because it reaches the accuracy we
want in a few minutes on a CPU where the plain network needs several times longer. After
training each one is folded into its convolution (in eval mode a batch norm is a per-channel
affine map), so the shipped network is exactly the plain conv-ReLU architecture of
``shapes_nets`` — no normalisation layer sits between the convolutions and the ReLUs whose
backward rules the paper studies — and computes the same function.

Which seeds mean what, so that test data never leaks into training:

- ``--seed`` (default 0): the weights' initialisation and the order of the batches.
- training images: ``data.shapes.generate(per_round, seed=TRAIN_SEED_BASE + round)``, rounds
  0, 1, …; seeds from 1000 up.
- the reported accuracy: 2,000 images of ``seed=TEST_SEED`` (2018), never used for training.
- the test suite checks the shipped weights on images of seeds below 1000 (also never used).

It runs on the CPU with 2 threads, deterministically (same seed, same weights, on the same
machine type and library versions). On 2 cores it takes a few minutes per model; the JSON
records the time it took and the machine's load when it started.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from ..data import shapes
from .init import build_uninitialized
from .shapes_nets import SHAPES_MEAN, SHAPES_MODELS, SHAPES_STD, shapes_module

COMMAND = "python -m backprop_lens.models.train_shapes"
TRAIN_SEED_BASE = 1000
#: Rounds of fresh training images per model; the strided network costs about a quarter as
#: much per image, so it sees more of them in less time.
DEFAULT_ROUNDS = {"shapes_cnn": 8, "shapes_cnn_strided": 12}
TEST_SEED = 2018
TEST_SIZE = 2000
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def to_input(images: np.ndarray) -> torch.Tensor:
    """(n, H, W, 3) uint8 → the models' (n, 3, H, W) float input."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).to(torch.float32) / 255.0
    mean = torch.tensor(SHAPES_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(SHAPES_STD).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


@torch.no_grad()
def accuracy(module: nn.Module, images: np.ndarray, labels: np.ndarray, batch: int = 500) -> float:
    """The fraction of ``images`` whose top score is the label (eval mode, restored)."""
    training = module.training
    module.eval()
    correct = 0
    for start in range(0, len(images), batch):
        scores = module(to_input(images[start:start + batch]))
        correct += int((scores.argmax(1).numpy() == labels[start:start + batch]).sum())
    module.train(training)
    return correct / max(1, len(images))


def with_batch_norm(max_pool: bool) -> nn.Sequential:
    """The shapes architecture with a ``BatchNorm2d`` (``bn1``…) after each convolution."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for name, layer in shapes_module(max_pool).named_children():
        layers[name] = layer
        if isinstance(layer, nn.Conv2d):
            layers[name.replace("conv", "bn")] = nn.BatchNorm2d(layer.out_channels)
    return nn.Sequential(layers)


@torch.no_grad()
def fold_batch_norm(trained: nn.Sequential, max_pool: bool) -> nn.Sequential:
    """The plain architecture computing what ``trained`` (from :func:`with_batch_norm`) does
    in eval mode: each batch norm's scale and shift moved into the convolution before it."""
    plain = build_uninitialized(lambda: shapes_module(max_pool))
    parts = dict(trained.named_children())
    for name, layer in plain.named_children():
        if isinstance(layer, nn.Conv2d):
            conv, norm = parts[name], parts[name.replace("conv", "bn")]
            assert isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d)
            assert conv.bias is not None and norm.running_var is not None
            scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
            layer.weight.copy_(conv.weight * scale[:, None, None, None])
            assert layer.bias is not None and norm.running_mean is not None
            layer.bias.copy_((conv.bias - norm.running_mean) * scale + norm.bias)
        elif isinstance(layer, nn.Linear):
            layer.load_state_dict(parts[name].state_dict())
    return plain.eval()


def train(
    name: str,
    seed: int = 0,
    rounds: int | None = None,
    per_round: int = 16_000,
    batch_size: int = 128,
    learning_rate: float = 3e-3,
    log: bool = True,
    command: str | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train model ``name``; returns the module and a record of how (seeds, accuracy, time).

    ``command`` is the command line to record; by default, the one that repeats this call.
    """
    if name not in SHAPES_MODELS:
        raise ValueError(f"name must be one of {SHAPES_MODELS}; got {name!r}")
    rounds = DEFAULT_ROUNDS[name] if rounds is None else rounds
    load_at_start = os.getloadavg()[0]
    start = time.perf_counter()
    max_pool = name == "shapes_cnn"
    with torch.random.fork_rng(devices=[]):  # PyTorch's default init, from our seed
        torch.manual_seed(seed)
        module = with_batch_norm(max_pool).to(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(module.parameters(), lr=learning_rate)
    steps_per_round = math.ceil(per_round / batch_size)
    total_steps = rounds * steps_per_round
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=learning_rate, total_steps=total_steps, pct_start=0.15
    )
    module.train()
    for round_index in range(rounds):
        batch = shapes.generate(per_round, seed=TRAIN_SEED_BASE + round_index)
        x = to_input(batch.images).contiguous(memory_format=torch.channels_last)
        y = torch.from_numpy(batch.labels)
        order = torch.randperm(per_round, generator=generator)
        loss_sum, correct = 0.0, 0
        for step in range(steps_per_round):
            chosen = order[step * batch_size:(step + 1) * batch_size]
            scores = module(x[chosen])
            loss = F.cross_entropy(scores, y[chosen])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += float(loss.detach()) * len(chosen)
            correct += int((scores.argmax(1) == y[chosen]).sum())
        if log:
            print(f"{name} round {round_index + 1}/{rounds}: loss {loss_sum / per_round:.4f}, "
                  f"train accuracy {correct / per_round:.4f}, "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
    module.eval()
    plain = fold_batch_norm(module, max_pool)
    train_seconds = time.perf_counter() - start
    test = shapes.generate(TEST_SIZE, seed=TEST_SEED)
    test_accuracy = accuracy(plain, test.images, test.labels)
    record = {
        "model": name,
        "architecture": ("conv3x3-ReLU-maxpool2 x3 (16, 32, 64 channels), fc 4096-128-10"
                         if name == "shapes_cnn" else
                         "conv3x3/stride2-ReLU x3 (16, 32, 64 channels), fc 4096-128-10"),
        "command": command or (f"{COMMAND} --model {name} --seed {seed} --rounds {rounds} "
                               f"--per-round {per_round}"),
        "seed": seed,
        "train_data": {"generator": "backprop_lens.data.shapes.generate", "rounds": rounds,
                       "images_per_round": per_round,
                       "seeds": [TRAIN_SEED_BASE, TRAIN_SEED_BASE + rounds - 1]},
        "optimizer": {"name": "Adam", "max_lr": learning_rate, "schedule": "OneCycleLR",
                      "batch_size": batch_size, "steps": total_steps},
        "batch_norm": "after each convolution during training, folded into it afterwards",
        "preprocessing": {"input": "RGB in [0, 1], 64x64", "mean": SHAPES_MEAN,
                          "std": SHAPES_STD},
        "test_data": {"seed": TEST_SEED, "images": TEST_SIZE},
        "test_accuracy": round(test_accuracy, 4),
        "train_seconds": round(train_seconds, 1),
        "machine": {"cpu": platform.machine(), "cpu_count": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(),
                    "load_average_at_start": round(load_at_start, 2)},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "numpy": np.__version__},
    }
    if log:
        print(f"{name}: test accuracy {test_accuracy:.4f} on {TEST_SIZE} images "
              f"(seed {TEST_SEED}); trained in {train_seconds:.0f} s", flush=True)
    return plain, record


def save(module: nn.Module, record: dict[str, Any], out: Path) -> Path:
    """Write ``<name>.safetensors`` and ``<name>.json`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    name = record["model"]
    weights = out / f"{name}.safetensors"
    state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(weights), metadata={"model": name, "seed": str(record["seed"])})
    weights.chmod(0o644)  # safetensors writes owner-only files; these ship to everyone
    record = {**record, "weights_bytes": weights.stat().st_size}
    (out / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return weights


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=(*SHAPES_MODELS, "all"), default="all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=None,
                        help=f"rounds of fresh images (default: {DEFAULT_ROUNDS})")
    parser.add_argument("--per-round", type=int, default=16_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(arguments)
    command = " ".join([COMMAND, *arguments])
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    names = SHAPES_MODELS if args.model == "all" else (args.model,)
    for name in names:
        module, record = train(name, seed=args.seed, rounds=args.rounds,
                               per_round=args.per_round, command=command)
        print(f"wrote {save(module, record, args.out)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
