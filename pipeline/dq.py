"""Data-quality gates: the checks in ``config/dq_checks.yaml`` run over the lake's DuckDB views
and the release about to be published (a staged index) or the latest release.

Each check yields (subject, value) rows that must lie within its ``min``/``max``. Every result
is written to the ``dq_results`` table; :func:`gate` raises :class:`DataQualityError` naming
each failed check with its numbers, so the publish that depends on it never runs.

The crawl's wipe guard (:func:`pipeline.scrape.distrust`) and these checks answer different
questions, and a large drop meets both. The guard asks whether a crawl is a true picture of the
shop: a crawl that found nothing, or an unconfirmed large drop, is not applied, so an outage or a
broken listing never empties the products table. A drop that a second crawl confirms is applied:
the tables then say what the shop says. The checks ask whether a release may go live without a
person looking: ``products_drop`` holds a release that carries a confirmed 90% drop all the same.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from pipeline import layout, schemas
from pipeline.config import REPO_ROOT, Settings
from pipeline.lake import Lake

log = logging.getLogger(__name__)

CHECKS_PATH = REPO_ROOT / "config" / "dq_checks.yaml"


class DataQualityError(RuntimeError):
    """One or more checks failed; the message has one line per failed check."""


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    sql: str | None = None
    python: str | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Result:
    check: str
    subject: str
    value: float | None
    threshold: float | None
    passed: bool
    message: str


@dataclass
class Context:
    """What the checks look at: the lake, the release's model and its items and manifest."""

    lake: Lake
    model_version: str
    manifest: dict[str, Any]
    release_items: pa.Table
    release_attributes: pa.Table | None = None  # a published release's own; else the attributes table


def load_checks(settings: Settings, path: Path | None = None) -> list[Check]:
    """The configured checks, thresholds resolved (``min_setting``/``max_setting`` read settings)."""
    path = path or CHECKS_PATH
    doc = yaml.safe_load(path.read_text()) or {}
    checks = []
    for n, spec in enumerate(doc.get("checks") or []):
        where = f"{path}: checks[{n}]"
        if not isinstance(spec, dict) or not spec.get("name"):
            raise ValueError(f"{where}: a check needs a name")
        if bool(spec.get("sql")) == bool(spec.get("python")):
            raise ValueError(f"{where} ({spec['name']}): give exactly one of sql or python")
        bounds = {}
        for bound in ("min", "max"):
            if f"{bound}_setting" in spec:
                bounds[bound] = float(getattr(settings, spec[f"{bound}_setting"]))
            elif spec.get(bound) is not None:
                bounds[bound] = float(spec[bound])
        if not bounds:
            raise ValueError(f"{where} ({spec['name']}): no min or max threshold")
        checks.append(Check(spec["name"], spec.get("description", ""), spec.get("sql"), spec.get("python"), **bounds))
    names = [c.name for c in checks]
    if len(names) != len(set(names)):
        raise ValueError(f"{path}: check names must be unique")
    return checks


# -- what the checks see --------------------------------------------------------------------------
def staged_context(lake: Lake, index_uri: str, model_version: str) -> Context:
    """The release a run is about to publish: its staged index stats and items."""
    prefix = lake.key_of(index_uri).rstrip("/")
    return Context(
        lake,
        model_version,
        lake.read_json(f"{prefix}/{layout.INDEX_STATS_FILE}"),
        lake.read_parquet(f"{prefix}/{layout.ITEMS_FILE}"),
    )


def latest_context(lake: Lake) -> Context:
    """The release ``latest.json`` points to."""
    from pipeline.client import latest_release_id

    release_id = latest_release_id(lake)
    prefix = layout.release_prefix(release_id)
    manifest = lake.read_json(layout.manifest_key(release_id))
    return Context(
        lake,
        manifest["model_version"],
        manifest,
        lake.read_parquet(f"{prefix}/{layout.ITEMS_FILE}"),
        lake.read_parquet(f"{prefix}/{layout.ATTRIBUTES_FILE}"),
    )


def _predictions(lake: Lake, context: Context) -> tuple[pa.Table, pa.Table]:
    """(release_predictions, vocabulary) for the release's model."""
    from pipeline.registry import read_metadata

    meta = read_metadata(lake, context.model_version)
    # An untrained model predicts nothing (pipeline.tag leaves its values empty): no attribute to judge.
    vocab = meta["attributes"] if meta.get("trained", True) else {}
    vocabulary = pa.table(
        {
            "attribute": pa.array([a for a, vs in vocab.items() for _ in vs], pa.string()),
            "value": pa.array([v for vs in vocab.values() for v in vs], pa.string()),
        }
    )
    tagged = context.release_attributes
    if tagged is None:
        tagged = schemas.attributes_table(vocab).read(lake, model_version=context.model_version)
    items = context.release_items.column("item_id").to_pylist()
    by_item = {} if tagged is None else {r["item_id"]: r for r in tagged.to_pylist()}
    rows = [
        (item, attr, by_item.get(item, {}).get(attr), by_item.get(item, {}).get(f"{attr}_confidence"))
        for item in items
        for attr in vocab
    ]
    predictions = pa.table(
        {
            "item_id": pa.array([r[0] for r in rows], pa.string()),
            "attribute": pa.array([r[1] for r in rows], pa.string()),
            "value": pa.array([r[2] for r in rows], pa.string()),
            "confidence": pa.array([r[3] for r in rows], pa.float32()),
        }
    )
    return predictions, vocabulary


def manifest_recall(context: Context) -> list[tuple[str, float]]:
    """Python check: the index's measured recall@10."""
    return [("release", float(context.manifest["recall_at_10"]))]


# -- running ---------------------------------------------------------------------------------------
def _judge(check: Check, subject: str, value: Any) -> Result:
    number = None if value is None else float(value)
    low = check.min is not None and (number is None or number < check.min)
    high = check.max is not None and (number is None or number > check.max)
    threshold = check.min if low else check.max if high else (check.max if check.max is not None else check.min)
    if low or high:
        bound = f"min {check.min:g}" if low else f"max {check.max:g}"
        message = f"{check.name} failed for {subject}: {number if number is None else f'{number:.4g}'} ({bound}) — {check.description}"
    else:
        message = f"{check.name} ok for {subject}: {number:.4g}"
    return Result(check.name, subject, number, threshold, not (low or high), message)


def run_checks(context: Context, checks: list[Check]) -> list[Result]:
    """Run every check; a check that cannot run at all is a failed result, not an exception."""
    import duckdb

    from pipeline.analytics import connect

    con, _ = connect(context.lake)
    con.execute("SET VARIABLE model_version = ?", [context.model_version])
    predictions, vocabulary = _predictions(context.lake, context)
    release_items = context.release_items
    for name, table in (
        ("release_items", release_items),
        ("release_predictions", predictions),
        ("vocabulary", vocabulary),
    ):
        con.register(name, table)
    results = []
    for check in checks:
        try:
            if check.sql:
                rows = con.execute(check.sql).fetchall()
            else:
                module, func = check.python.split(":")  # type: ignore[union-attr]
                rows = getattr(importlib.import_module(module), func)(context)
        except (duckdb.Error, KeyError, ValueError) as exc:
            results.append(Result(check.name, "-", None, None, False, f"{check.name} could not run: {exc}"))
            continue
        results += [_judge(check, str(subject), value) for subject, value in rows]
    return results


def record(lake: Lake, run_id: str, results: list[Result], run_key: str | None = None) -> str:
    """Write the results to ``dq_results``, one file per ``run_key`` (default: the run id): a
    later run with the same key, such as a re-run of a DAG's logical date, replaces them."""
    now = datetime.now(UTC)
    rows = [
        {
            "run_id": run_id,
            "check_name": r.check,
            "subject": r.subject,
            "passed": r.passed,
            "value": r.value,
            "threshold": r.threshold,
            "message": r.message,
            "checked_at": now,
        }
        for r in results
    ]
    return lake.uri(schemas.DQ_RESULTS.write(lake, rows, part=run_key or run_id))


def gate(results: list[Result]) -> None:
    """Raise :class:`DataQualityError` with one line per failed check."""
    failed = [r.message for r in results if not r.passed]
    if failed:
        raise DataQualityError(f"{len(failed)} data-quality check(s) failed:\n" + "\n".join(failed))


def check_release(
    lake: Lake,
    settings: Settings,
    run_id: str,
    index_uri: str | None = None,
    model_version: str | None = None,
    run_key: str | None = None,
) -> list[Result]:
    """Run and record the checks for a staged index (or the latest release); returns the results
    (recorded under ``run_key``, see :func:`record`)."""
    if index_uri:
        prefix = lake.key_of(index_uri).rstrip("/")
        version = model_version or lake.read_json(f"{prefix}/{layout.INDEX_STATS_FILE}")["model_version"]
        context = staged_context(lake, index_uri, version)
    else:
        context = latest_context(lake)
    results = run_checks(context, load_checks(settings))
    record(lake, run_id, results, run_key)
    for result in results:
        (log.info if result.passed else log.error)("%s", result.message)
    return results


def cmd_check(args: Any) -> int:
    """``vitrine check``: exit 1 with one line per failed check."""
    from pipeline.config import settings
    from pipeline.lake import open_lake

    lake = open_lake(args.lake)
    run_id = args.run_id or f"check-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    results = check_release(lake, settings(), run_id, args.index, args.model_version)
    failed = [r for r in results if not r.passed]
    for result in failed:
        print(result.message)
    if args.verbose:
        for result in results:
            if result.passed:
                print(result.message)
    print(
        f"{len(results) - len(failed)}/{len(results)} checks passed; results in {lake.uri(schemas.DQ_RESULTS.prefix())}"
    )
    return 1 if failed else 0


def add_cli(sub: Any) -> None:
    p = sub.add_parser("check", help="run the data-quality checks (config/dq_checks.yaml) on the lake")
    p.add_argument("--lake", help="lake URI (default: $VITRINE_LAKE)")
    p.add_argument("--index", help="a staged index URI to check instead of the latest release")
    p.add_argument("--model-version", help="model version of the staged index (default: its own)")
    p.add_argument("--run-id", help="run id the results are recorded under")
    p.add_argument("-v", "--verbose", action="store_true", help="also print the checks that passed")
    p.set_defaults(func=cmd_check)
