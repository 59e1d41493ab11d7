"""The training set: stored images joined with their products' weak labels, dedup groups and
a leakage-free split, written as ``tables/training_sets/run=<run>/part-0.parquet``.

Columns: sha256, image_key, group_id, product_ids (list), split, and one string column per
attribute (null = no label). ``_coverage.json`` next to it reports label coverage and a
sample for review.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Any

import pyarrow as pa

from pipeline import layout
from pipeline.lake import Lake
from pipeline.taxonomy import Taxonomy
from pipeline.taxonomy.coverage import coverage_report, format_report, label_products
from pipeline.taxonomy.schema import FIELDS
from pipeline.train.splits import DEFAULT_FRACTIONS, assign_splits, check_no_leakage

log = logging.getLogger(__name__)

TABLE = "training_sets"


def trainset_prefix(run_id: str) -> str:
    return layout.table(TABLE, run=layout.safe_segment(run_id))


def _read(lake: Lake, name: str) -> pa.Table:
    table = lake.read_table(layout.table(name))
    if table is None:
        raise FileNotFoundError(f"no {name} table in {lake.root}: scrape (and dedup) first")
    return table


def _merge(labels: list[dict[str, str | None]], attributes: list[str]) -> dict[str, str | None]:
    """One image's labels from all products showing it: kept only where they agree."""
    merged: dict[str, str | None] = {}
    for attr in attributes:
        found = {lab[attr] for lab in labels if lab[attr] is not None}
        merged[attr] = found.pop() if len(found) == 1 else None
    return merged


def join_labels(
    products: list[dict[str, Any]],
    images: list[dict[str, Any]],
    groups: dict[str, str],
    taxonomy: Taxonomy,
    attributes: list[str],
    primary_only: bool = True,
) -> tuple[list[dict[str, Any]], list[dict[str, str | None]]]:
    """Pure: one row per distinct stored image with merged labels; also the per-product labels."""
    product_labels = label_products(taxonomy, products)
    by_product = {p["product_id"]: lab for p, lab in zip(products, product_labels)}
    shown_in: dict[str, list[str]] = defaultdict(list)
    key_of: dict[str, str] = {}
    for img in images:
        if img.get("status") != "stored" or not img.get("sha256") or img.get("product_id") not in by_product:
            continue
        if primary_only and (img.get("position") or 0) != 0:
            continue
        shown_in[img["sha256"]].append(img["product_id"])
        key_of.setdefault(img["sha256"], img["image_key"])
    rows = []
    for sha in sorted(shown_in):
        pids = sorted(set(shown_in[sha]))
        labels = _merge([by_product[p] for p in pids], attributes)
        if any(v is not None for v in labels.values()):
            rows.append(
                {
                    "sha256": sha,
                    "image_key": key_of[sha],
                    "group_id": groups.get(sha, sha),
                    "product_ids": pids,
                    **labels,
                }
            )
    return rows, product_labels


def build_training_set(
    lake: Lake,
    run_id: str,
    taxonomy: Taxonomy,
    attributes: list[str] | None = None,
    *,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    primary_only: bool = True,
) -> str:
    """Build, split and write the training set for ``run_id``; returns its URI."""
    attributes = list(taxonomy.vocabularies(attributes))
    products_table = _read(lake, "products")
    wanted = ["product_id"] + [f for f in FIELDS if f in products_table.column_names]
    products = products_table.select(wanted).to_pylist()
    images = _read(lake, "images").select(["sha256", "image_key", "product_id", "status", "position"]).to_pylist()
    dup = lake.read_table(layout.table("duplicates"), columns=["sha256", "group_id"])
    if dup is None:
        log.info("no duplicates table: each distinct image is its own group (exact dedup only)")
        groups: dict[str, str] = {}
    else:
        groups = dict(zip(dup.column("sha256").to_pylist(), dup.column("group_id").to_pylist()))
    rows, product_labels = join_labels(products, images, groups, taxonomy, attributes, primary_only)
    if not rows:
        raise ValueError("no labelled images: check the taxonomy coverage report")
    strata = [r.get("category") if "category" in r else r[attributes[0]] for r in rows]
    splits = assign_splits([r["group_id"] for r in rows], strata, fractions, seed)
    check_no_leakage([r["group_id"] for r in rows], [r["sha256"] for r in rows], splits)
    for row, split in zip(rows, splits):
        row["split"] = split
    schema = pa.schema(
        [
            ("sha256", pa.string()),
            ("image_key", pa.string()),
            ("group_id", pa.string()),
            ("product_ids", pa.list_(pa.string())),
            ("split", pa.string()),
        ]
        + [(a, pa.string()) for a in attributes]
    )
    prefix = trainset_prefix(run_id)
    lake.write_parquet(f"{prefix}/part-0.parquet", pa.Table.from_pylist(rows, schema=schema))
    report = coverage_report(taxonomy, products, product_labels, seed=seed)
    report["training_set"] = {
        "images": len(rows),
        "splits": {s: splits.count(s) for s in ("train", "val", "test")},
        "labelled_images": {a: sum(r[a] is not None for r in rows) for a in attributes},
    }
    lake.write_bytes(f"{prefix}/_coverage.json", json.dumps(report, indent=2, default=str).encode())
    log.info("%s", format_report(report))
    log.info(f"training set: {len(rows)} images, splits {report['training_set']['splits']} → {lake.uri(prefix)}")
    return lake.uri(prefix)


def read_training_set(lake: Lake, uri: str) -> pa.Table:
    table = lake.read_table(lake.key_of(uri))
    if table is None:
        raise FileNotFoundError(f"no training set at {uri}")
    return table.drop_columns([c for c in ("run",) if c in table.column_names])
