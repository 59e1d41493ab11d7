"""``vitrine train`` (the retrain DAG's steps outside Airflow, with Keras' progress bar) and
``vitrine model list | show | promote | rollback`` (the registry by hand).

train: build the training set → train (two phases) → evaluate on the test split vs
production → promote if the gate passes (unless ``--no-promote``). Its options are the retrain
DAG's Params (:mod:`pipeline.train.config`). A manual promotion or rollback writes the same
``production.json`` as the DAG and emits the same Asset, so ``catalog_reembed`` follows.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pipeline.lake import add_lake_option
from pipeline.train.config import describe, split_options


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train, evaluate and (if the gate passes) promote an attribute model")
    add_lake_option(p)
    p.add_argument("--run-id", default="manual", help="names the training set partition")
    p.add_argument(
        "--from-folder",
        type=Path,
        metavar="PATH",
        help="first import a labelled photo folder (images/<id>.jpg + labels.csv) as a retailer",
    )
    p.add_argument("--trainset", help="use an existing training set URI instead of building one")
    p.add_argument("--taxonomy", type=Path, help="taxonomy YAML (default: config/taxonomy.yaml)")
    p.add_argument("--no-promote", action="store_true", help="evaluate and report, never promote")
    options = p.add_argument_group("training and gate options (the retrain DAG's Params)")
    for name, default, help_, schema in describe():
        flag = "--" + name.replace("_", "-")
        if schema.get("type") == "boolean":
            options.add_argument(
                f"--no-{name.replace('_', '-')}", dest=name, action="store_false", help=f"do not {help_}"
            )
        elif schema.get("type") == "object":
            options.add_argument(
                flag,
                nargs="+",
                type=_key_value,
                metavar="KEY=VALUE",
                default=None,
                help=f"{help_} (default: {default})",
            )
        elif "array" in (schema.get("type") or []):
            options.add_argument(flag, nargs="+", default=None, help=help_)
        else:
            kind = {"integer": int, "number": float}.get(_scalar_type(schema) or "", str)
            options.add_argument(
                flag, type=kind, default=default, choices=schema.get("enum"), help=f"{help_} (default: {default})"
            )
    p.set_defaults(func=cmd_train)

    m = subparsers.add_parser("model", help="list, show, promote or roll back registered attribute models")
    add_lake_option(m)
    sub = m.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("list", help="registered versions, newest last (* = production)")
    show = sub.add_parser("show", help="one version's metadata, test metrics and gate decision")
    show.add_argument("version")
    prom = sub.add_parser("promote", help="point production at VERSION (emits the production-model Asset)")
    prom.add_argument("version")
    prom.add_argument("--reason", default="manual promotion", help="recorded in production.json")
    sub.add_parser("rollback", help="point production back at the version it replaced")
    m.set_defaults(func=cmd_model)


def _scalar_type(schema: dict[str, Any]) -> str | None:
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds or []
    return next((k for k in kinds if k != "null"), None)


def _key_value(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    try:
        if not sep or not key:
            raise ValueError(text)
        return key, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. color=2.5), got {text!r}") from None


def cmd_train(args: argparse.Namespace) -> int:
    from pipeline.config import settings
    from pipeline.lake import open_lake
    from pipeline.taxonomy import load_taxonomy
    from pipeline.train.evaluate import evaluate_candidate, promote_if_better
    from pipeline.train.folder_import import import_labelled_folder
    from pipeline.train.train import train_candidate
    from pipeline.train.trainset import build_training_set

    lake = open_lake(args.lake)
    values = {name: getattr(args, name) for name, *_ in describe()}
    values = {k: dict(v) if isinstance(v, list) and v and isinstance(v[0], tuple) else v for k, v in values.items()}
    config, gate = split_options({k: v for k, v in values.items() if v is not None or k == "attributes"})
    if args.from_folder:
        import_labelled_folder(lake, args.from_folder)
    trainset = args.trainset or build_training_set(
        lake, args.run_id, load_taxonomy(args.taxonomy), config.attributes, seed=config.seed
    )
    verbose = 1 if sys.stdout.isatty() else 2  # a progress bar on a terminal, a line per epoch in a log
    result = train_candidate(lake, trainset, config, verbose=verbose, cache_dir=settings().cache_dir)
    decision = evaluate_candidate(lake, result.version, trainset, gate)
    promoted = not args.no_promote and promote_if_better(lake, decision)
    if promoted:
        _emit(lake, result.version, decision["reason"])
    print(
        json.dumps(
            {k: decision[k] for k in ("candidate_version", "production_version", "promote", "reason", "report")},
            indent=2,
        )
    )
    why = " (--no-promote)" if args.no_promote and decision["promote"] else ""
    print(f"{'promoted' if promoted else 'not promoted'}{why}: {result.version}")
    return 0


def _emit(lake: Any, version: str, reason: str) -> None:
    """Emit the production-model Asset, as the DAG's promote task does."""
    from pipeline.airflow_env import emit_asset_event_configured
    from pipeline.config import settings
    from pipeline.registry import PRODUCTION_MODEL_ASSET_URI

    extra = {"version": version, "reason": reason, "lake": lake.root}
    if emit_asset_event_configured(settings(), PRODUCTION_MODEL_ASSET_URI, extra):
        print(f"emitted Asset {PRODUCTION_MODEL_ASSET_URI} (catalog_reembed is scheduled on it)")
    else:
        print(
            f"Asset {PRODUCTION_MODEL_ASSET_URI} is not registered in Airflow yet (no DAG parsed): "
            "run `vitrine dag-run catalog_reembed` to re-embed the catalog"
        )


def _report_metrics(lake: Any, version: str) -> dict[str, Any] | None:
    from pipeline import layout

    key = f"{layout.model_prefix(version)}/report/metrics.json"
    return lake.read_json(key) if lake.exists(key) else None


def cmd_model(args: argparse.Namespace) -> int:
    from pipeline.lake import open_lake
    from pipeline.registry import list_versions, production_version, promote, read_metadata, rollback

    lake = open_lake(args.lake)
    current = production_version(lake)
    if args.action == "list":
        for version in list_versions(lake):
            meta = read_metadata(lake, version)
            report = _report_metrics(lake, version)
            accs = report["candidate"]["attributes"] if report else {}
            scores = " ".join(f"{a}={m['accuracy']:.3f}" for a, m in accs.items() if m.get("accuracy") is not None)
            print(
                f"{'*' if version == current else ' '} {version:32s} {meta.get('backbone', ''):18s} "
                f"{meta['image_size']:4d}px {'trained' if meta.get('trained', True) else 'untrained':9s} {scores}"
            )
        return 0
    if args.action == "show":
        meta = read_metadata(lake, args.version)
        report = _report_metrics(lake, args.version)
        shown = {k: v for k, v in meta.items() if k not in ("history", "class_weights")}
        shown["production"] = args.version == current
        if report:
            shown["test"] = {
                a: {k: m[k] for k in ("n", "accuracy", "macro_f1")}
                for a, m in report["candidate"]["attributes"].items()
            }
            shown["gate"] = report["decision"]["reason"]
        print(json.dumps(shown, indent=2, default=str))
        return 0
    if args.action == "promote":
        promote(lake, args.version, reason=args.reason)
        version, reason = args.version, args.reason
    else:
        version = rollback(lake)
        reason = f"rollback from {current}"
    print(f"production: {current} → {version}")
    _emit(lake, version, reason)
    return 0
