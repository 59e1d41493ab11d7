"""``vitrine train``: the retrain DAG's steps outside Airflow, with Keras' progress bar.

build the training set → train (two phases) → evaluate on the test split vs production →
promote if better (unless ``--no-promote``).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

from pipeline.train.config import TrainConfig


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train, evaluate and (if better) promote an attribute model")
    p.add_argument("--lake", help="lake URI (default: $VITRINE_LAKE)")
    p.add_argument("--run-id", default="manual", help="names the training set partition")
    p.add_argument(
        "--from-folder",
        type=Path,
        metavar="PATH",
        help="first import a labelled photo folder (images/<id>.jpg + labels.csv) as a retailer",
    )
    p.add_argument("--trainset", help="use an existing training set URI instead of building one")
    p.add_argument("--taxonomy", type=Path, help="taxonomy YAML (default: config/taxonomy.yaml)")
    p.add_argument("--min-improvement", type=float, default=0.01, help="promotion margin (mean accuracy)")
    p.add_argument("--no-promote", action="store_true", help="evaluate and report, never promote")
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if f.name == "attributes":
            p.add_argument(flag, nargs="+", help="attribute heads to train (default: all in the taxonomy)")
        elif f.name == "loss_weights":
            p.add_argument(
                flag,
                nargs="+",
                type=_head_weight,
                metavar="HEAD=WEIGHT",
                help=f"per-head loss weights, others 1 (default: {default})",
            )
        elif isinstance(default, bool):
            p.add_argument(f"--no-{f.name}", dest=f.name, action="store_false", help=f"disable {f.name}")
        else:
            kind = type(default) if default is not None else (float if "minutes" in f.name else str)
            p.add_argument(flag, type=kind, default=default, help=f"(default: {default})")
    p.set_defaults(func=cmd_train)


def _head_weight(text: str) -> tuple[str, float]:
    head, sep, weight = text.partition("=")
    try:
        if not sep or not head:
            raise ValueError(text)
        return head, float(weight)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEAD=WEIGHT (e.g. color=2.5), got {text!r}") from None


def cmd_train(args: argparse.Namespace) -> int:
    from pipeline.lake import open_lake
    from pipeline.taxonomy import load_taxonomy
    from pipeline.train.evaluate import evaluate_candidate, promote_if_better
    from pipeline.train.folder_import import import_labeled_folder
    from pipeline.train.train import train_candidate
    from pipeline.train.trainset import build_training_set

    lake = open_lake(args.lake)
    options = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
    if isinstance(options["loss_weights"], list):
        options["loss_weights"] = dict(options["loss_weights"])
    config = TrainConfig.from_dict(options)
    if args.from_folder:
        import_labeled_folder(lake, args.from_folder)
    trainset = args.trainset or build_training_set(
        lake, args.run_id, load_taxonomy(args.taxonomy), config.attributes, seed=config.seed
    )
    result = train_candidate(lake, trainset, config, verbose=1)
    decision = evaluate_candidate(lake, result.version, trainset, args.min_improvement)
    promoted = not args.no_promote and promote_if_better(lake, decision)
    print(
        json.dumps(
            {k: decision[k] for k in ("candidate_version", "production_version", "promote", "reason", "report")},
            indent=2,
        )
    )
    why = " (--no-promote)" if args.no_promote and decision["promote"] else ""
    print(f"{'promoted' if promoted else 'not promoted'}{why}: {result.version}")
    return 0
