"""What the kernel sends per user action: bytes per layer move, over 50 moves, on the shapes CNN.

Run: ``make benchmark-widget`` (or ``.venv/bin/python benchmarks/widget_traffic.py``).
Each move is a layer-slider move (the layers in turn, so that later moves revisit layers whose
maps are cached) followed by a target-slider move to a target not yet seen there. Per move it
prints the bytes the widget's comm sent, the bytes of the maps that move added, and, as the
baseline measured in the same process, what re-sending the whole ``maps`` trait once the worker
is idle (the former design) would have sent at that point; then the ratio baseline / sent.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_widget_traffic import Traffic

from backprop_lens.widget import Explorer


def whole_maps_bytes(explorer: Explorer) -> int:
    """The bytes of one whole ``maps`` sync: its JSON without the pictures, plus the pictures."""
    maps = explorer.maps
    meta = {key: {k: v for k, v in entry.items() if k != "image"} for key, entry in maps.items()}
    return len(json.dumps(meta)) + sum(len(entry["image"]) for entry in maps.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=50)
    args = parser.parse_args()
    explorer = Explorer(model="shapes_cnn")
    assert explorer.wait(300)
    traffic = Traffic(explorer)
    layers = [entry["name"] for entry in explorer.layers]
    print(f"{'move':>4}  {'layer':<12} {'sent kB':>8} {'new maps kB':>11} "
          f"{'whole re-send kB':>16} {'ratio':>6}")
    totals = [0, 0, 0]
    for step in range(args.moves):
        layer = layers[(step + 1) % len(layers)]
        before, sent = set(explorer.maps), traffic.total()
        explorer.layer = layer
        assert explorer.wait(300)
        ranked = [index for index, _ in explorer.targets[layer]]
        fresh = [t for t in ranked if f"{layer}/{t}/{explorer.method}" not in explorer.maps]
        if fresh:
            explorer.target = fresh[0]
            assert explorer.wait(300)
        spent = traffic.total() - sent
        new = sum(len(explorer.maps[key]["image"]) for key in set(explorer.maps) - before)
        whole = whole_maps_bytes(explorer)
        totals = [totals[0] + spent, totals[1] + new, totals[2] + whole]
        print(f"{step + 1:>4}  {layer:<12} {spent / 1e3:>8.1f} {new / 1e3:>11.1f} "
              f"{whole / 1e3:>16.1f} {whole / max(spent, 1):>6.1f}")
    print(f"total over {args.moves} moves: sent {totals[0] / 1e6:.2f} MB for "
          f"{totals[1] / 1e6:.2f} MB of new maps; whole re-sends would have sent "
          f"{totals[2] / 1e6:.2f} MB ({totals[2] / max(totals[0], 1):.1f}×)")


if __name__ == "__main__":
    main()
