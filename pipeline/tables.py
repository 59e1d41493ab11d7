"""Analyst tables derived from other lake state: ``product_history`` (a daily snapshot of the
products tables) and ``models`` (the attribute-model registry as a table).

Both are rewritten whole per partition, atomically: re-running a day replaces that day's
snapshot, and the models table is rebuilt from the registry each time it changes.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from typing import Any

from pipeline import layout, schemas
from pipeline.lake import Lake

log = logging.getLogger(__name__)


def record_product_history(lake: Lake, day: date) -> str:
    """Snapshot every current product (all retailers) as ``product_history/day=<day>``; returns its URI."""
    history = schemas.PRODUCT_HISTORY
    products = schemas.PRODUCTS.read(lake)
    rows = [] if products is None else products.select([c.name for c in history.columns])
    key = history.write(lake, rows if products is not None else [], day=day)
    log.info("product_history %s: %d products", day, 0 if products is None else products.num_rows)
    return lake.uri(key)


def _mean_accuracy(report: dict[str, Any]) -> float | None:
    accuracies = [
        m["accuracy"]
        for m in (report.get("candidate") or {}).get("attributes", {}).values()
        if isinstance(m, dict) and m.get("accuracy") is not None
    ]
    return sum(accuracies) / len(accuracies) if accuracies else None


def model_rows(lake: Lake) -> list[dict[str, Any]]:
    """One row per registered model (pure reads of the registry and the previous table)."""
    from pipeline.registry import list_versions, read_metadata

    pointer = lake.read_json(layout.PRODUCTION_MODEL) if lake.exists(layout.PRODUCTION_MODEL) else {}
    previous = schemas.MODELS.read(lake)
    before = {r["model_version"]: r for r in previous.to_pylist()} if previous is not None else {}
    rows = []
    for version in list_versions(lake):
        meta = read_metadata(lake, version)
        report_key = f"{layout.model_prefix(version)}/report/metrics.json"
        report = lake.read_json(report_key) if lake.exists(report_key) else {}
        current = pointer.get("version") == version
        old = before.get(version, {})
        promoted_at = datetime.fromisoformat(pointer["promoted_at"]) if current else old.get("promoted_at")
        rows.append(
            {
                "model_version": version,
                "created_at": datetime.fromisoformat(meta["created_at"]) if meta.get("created_at") else None,
                "backbone": meta.get("backbone"),
                "image_size": meta.get("image_size"),
                "embedding_dim": meta.get("embedding_dim"),
                "attributes": sorted(meta.get("attributes", {})),
                "trained": bool(meta.get("trained", True)),
                "mean_accuracy": _mean_accuracy(report),
                "metrics_json": json.dumps(
                    {"registered": meta.get("metrics") or {}, "evaluation": report.get("candidate")},
                    sort_keys=True,
                    default=str,
                ),
                "promoted": current or bool(old.get("promoted")),
                "promoted_at": promoted_at,
                "is_production": current,
            }
        )
    return rows


def refresh_models_table(lake: Lake) -> str:
    """Rebuild ``tables/models`` from the registry; returns its URI."""
    return lake.uri(schemas.MODELS.write(lake, model_rows(lake)))
