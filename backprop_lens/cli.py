"""``backprop-lens``: the command line. One subcommand per job; ``reproduce`` runs the paper,
``publish`` writes a notebook as one self-contained HTML page.

Each subcommand is a ``register_*`` function that adds its parser and sets ``run`` to the
function doing the work, so a new subcommand is one more function in ``SUBCOMMANDS``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import TypeAlias

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def register_reproduce(subparsers: Subparsers) -> None:
    from .paper.reproduce import BEYOND, EXPERIMENTS

    parser = subparsers.add_parser(
        "reproduce", help="run the paper's experiments; write figures and the claims table",
        description="Run the experiments of Nie, Zhang & Patel (ICML 2018) and write one PNG "
                    "figure per experiment and model, claims.json, claims.md and metrics.json "
                    "into --out. The trained-network experiments (class_sensitivity, "
                    "adversarial, partial_training) run on the shapes CNN and on "
                    "EfficientNet-Lite0 with the sample photos. Every claim is reported as "
                    "measured, holds or fails.")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    parser.add_argument("--quick", action="store_true",
                        help="smaller inputs and fewer images: a smoke test of a few minutes")
    parser.add_argument("--only", type=_id_list, metavar="ID[,ID]",
                        help=f"run only these experiments (each on all its models): the "
                             f"paper's {', '.join(EXPERIMENTS)}; beyond it {', '.join(BEYOND)}")
    parser.set_defaults(run=_run_reproduce)


def _id_list(text: str) -> list[str]:
    from .paper.reproduce import check_ids

    try:
        return check_ids([part.strip() for part in text.split(",") if part.strip()])
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _run_reproduce(args: argparse.Namespace) -> int:
    from .paper.reproduce import prepare_output, reproduce

    try:
        out = prepare_output(args.out)
    except OSError as error:
        print(f"backprop-lens reproduce: error: {error}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    claims = reproduce(out, quick=args.quick, only=args.only)
    held = sum(claim.holds for claim in claims)
    print(f"{held} of {len(claims)} claims hold; the figures and the claims table are in "
          f"{out} ({time.perf_counter() - start:.0f} s)")
    return 0


def register_publish(subparsers: Subparsers) -> None:
    from .render import ENCODINGS
    from .widget.export import PAGE_ENCODING, PAGE_QUALITY, WAIT_TIMEOUT_S

    parser = subparsers.add_parser(
        "publish", help="run a notebook; write it as one self-contained HTML page",
        description="Execute NOTEBOOK in a fresh kernel and write it as one HTML page that "
                    "opens from disk with no network and no kernel. Every Explorer in it "
                    "precomputes its default grid (unless the notebook chose one), and the page "
                    "scrubs that grid.")
    parser.add_argument("notebook", metavar="NOTEBOOK", help="the .ipynb file to run")
    parser.add_argument("--out", required=True, metavar="PAGE.html",
                        help="the page to write (its folder is created)")
    parser.add_argument("--encoding", choices=sorted(ENCODINGS), default=PAGE_ENCODING,
                        help=f"how lossless maps are stored in the page (default {PAGE_ENCODING})")
    parser.add_argument("--quality", type=int, default=PAGE_QUALITY, metavar="1-100",
                        help=f"WebP/JPEG quality (default {PAGE_QUALITY})")
    parser.add_argument("--timeout", type=float, default=WAIT_TIMEOUT_S, metavar="S",
                        help=f"seconds allowed per cell and for the grids (default "
                             f"{WAIT_TIMEOUT_S:.0f})")
    parser.set_defaults(run=_run_publish)


def _run_publish(args: argparse.Namespace) -> int:
    from nbclient.exceptions import CellExecutionError

    from .widget.publish import publish

    start = time.perf_counter()
    try:
        page = publish(args.notebook, args.out, encoding=args.encoding, quality=args.quality,
                       timeout=args.timeout)
    except (OSError, ValueError) as error:
        print(f"backprop-lens publish: error: {error}", file=sys.stderr)
        return 2
    except CellExecutionError as error:
        print(f"backprop-lens publish: the notebook failed:\n{error}", file=sys.stderr)
        return 1
    print(f"wrote {page} in {time.perf_counter() - start:.0f} s")
    return 0


def register_stats(subparsers: Subparsers) -> None:
    from .engine import METHODS
    from .stats import ENGINES

    parser = subparsers.add_parser(
        "stats", help="measure the methods over a data set; rows to Parquet, a summary",
        description="Compute, for every image, model and method, image recovery, class "
                    "sensitivity, localisation (images with masks) and optionally stability "
                    "under cascading randomisation and PGD; write the rows to a Parquet folder "
                    "as they come (run again to resume) and print the summary per model and "
                    "method with bootstrap 95% intervals (also written beside --out).")
    parser.add_argument("--model", action="append", required=True, metavar="NAME",
                        help="a zoo model (repeat for several)")
    parser.add_argument("--images", required=True, metavar="SOURCE",
                        help="a folder (labels from sub-folders), an image file, "
                             "shapes:N[:SEED] or samples")
    parser.add_argument("--out", required=True, metavar="RESULTS.parquet",
                        help="the results folder (resumed when it exists)")
    parser.add_argument("--methods", type=_names, default=list(METHODS), metavar="M[,M]",
                        help=f"methods (default: all of {', '.join(METHODS)})")
    parser.add_argument("--targets", type=_targets, default="top5", metavar="topK|label|C[,C]",
                        help="each image's K top classes (default top5), its label, or "
                             "class indices")
    parser.add_argument("--cascade", action="store_true",
                        help="also measure stability under cascading randomisation")
    parser.add_argument("--pgd", action="store_true", help="also measure stability under PGD")
    parser.add_argument("--engine", choices=ENGINES, default="local")
    parser.add_argument("--address", metavar="auto|ray://HOST:PORT",
                        help="the Ray cluster (default: a local Ray on 127.0.0.1)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="decoding processes (local) or model actors (Ray)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="torch threads per model worker (default: torch's own)")
    parser.add_argument("--batch-size", type=int, metavar="N", help="images per forward pass")
    parser.add_argument("--device", metavar="DEVICE", help="e.g. cuda (default: the CPU)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=_run_stats)


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _targets(text: str) -> str | list[int]:
    if text[:1].isdigit():
        try:
            return [int(part) for part in _names(text)]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected class indices like 1,2,3; got {text!r}") from None
    return text


def _run_stats(args: argparse.Namespace) -> int:
    from . import stats

    try:
        result = stats.run(args.model, args.images, methods=args.methods, targets=args.targets,
                           out=args.out, engine=args.engine, cascade=args.cascade, pgd=args.pgd,
                           batch_size=args.batch_size, workers=args.workers,
                           threads=args.threads, device=args.device,
                           address=args.address, progress=not args.no_progress)
    except (ValueError, TypeError, ConnectionError, ImportError) as error:
        print(f"backprop-lens stats: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"backprop-lens stats: interrupted; the rows written so far are in {args.out}. "
              "Run the same command again to resume.", file=sys.stderr)
        return 130
    print(result)
    return 0


SUBCOMMANDS: tuple[Callable[[Subparsers], None], ...] = (register_reproduce, register_publish,
                                                         register_stats)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backprop-lens",
        description="See what backpropagation-based visualizations really show.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for register in SUBCOMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (``sys.argv[1:]`` when omitted); the exit status."""
    args = build_parser().parse_args(argv)
    status: int = args.run(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
