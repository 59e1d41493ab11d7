"""``vitrine dedup-eval``: the labelled near-duplicate evaluation (see ``pipeline.dedup.eval``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_dedup_eval(args: argparse.Namespace) -> int:
    from pipeline.config import settings
    from pipeline.dedup.eval import run
    from pipeline.dedup.grouping import Thresholds

    labels = Path(args.labels) if args.labels else Path(args.photos).parent / "labels.csv"
    print(
        run(
            Path(args.photos),
            labels,
            Path(args.out),
            args.limit,
            args.workers,
            Thresholds(max_distance=settings().dedup_max_distance),
        )
    )
    print(f"table, CSV and plot in {args.out}/dedup_eval.(md|csv|png)")
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """Register ``dedup-eval`` on the ``vitrine`` parser."""
    p = subparsers.add_parser(
        "dedup-eval", help="precision/recall of near-duplicate detection on transformed copies of photos"
    )
    p.add_argument("photos", help="folder of product photos (jpg/png/webp)")
    p.add_argument(
        "--labels",
        help="CSV with id, articleType/subCategory, productDisplayName "
        "(default: labels.csv next to the folder, if any)",
    )
    p.add_argument("--out", default="dedup-eval", help="output folder (default: ./dedup-eval)")
    p.add_argument("--limit", type=int, help="use only the first N photos")
    p.add_argument("--workers", type=int, help="processes (default: all cores)")
    p.set_defaults(func=cmd_dedup_eval)
