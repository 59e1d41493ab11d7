"""``make demo``: serve the demo shop, run ``catalog_refresh`` once, show what it produced.

On a fresh lake the production model is the initial one (pretrained backbone, untrained
heads), whose attribute values tagging leaves empty; the demo then trains heads on the demo
catalog (``attribute_model_retrain``, heads only) and re-embeds it (``catalog_reembed``), so
the release it shows carries attributes from a trained model, and it says which."""

from __future__ import annotations

import os
import time

import pyarrow.compute as pc

from pipeline import layout
from pipeline.lake import Lake


def _count(lake: Lake, table: str, **where: object) -> int:
    rows = lake.read_table(layout.table(table))
    if rows is None:
        return 0
    for column, value in where.items():
        rows = rows.filter(pc.equal(rows[column], value))
    return rows.num_rows


def _production_untrained(lake: Lake) -> bool:
    from pipeline.registry import production_version, read_metadata

    version = production_version(lake)
    return version is None or not read_metadata(lake, version).get("trained", True)


def stage_counts(lake: Lake) -> dict[str, int]:
    """What each stage left in the lake, for the summary."""
    products = lake.read_table(layout.table("products"))
    return {
        "retailers": len(set(products["retailer"].to_pylist())) if products is not None else 0,
        "products": products.num_rows if products is not None else 0,
        "images stored": _count(lake, "images", status="stored"),
        "images rejected": _count(lake, "images", status="rejected"),
        "distinct images (dedup)": _count(lake, "duplicates"),
        "items": _count(lake, "items"),
        "items tagged": _count(lake, "attributes"),
        "embeddings": _count(lake, "embeddings"),
    }


def print_summary(lake: Lake, seconds: float) -> None:
    from pipeline.client import Release

    print(f"\n=== Vitrine demo: catalog_refresh finished in {seconds:.0f}s ===")
    for name, value in stage_counts(lake).items():
        print(f"  {name:26s} {value:6d}")
    release = Release.latest(lake)
    manifest = release.manifest
    print(
        f"\nrelease {manifest['release_id']}  ({manifest['n_items']} items, dim {manifest['dim']}, "
        f"{manifest['metric']}, {manifest['n_trees']} trees, recall@10 {manifest['recall_at_10']:.3f})"
    )
    print(f"  at     {lake.uri(layout.release_prefix(manifest['release_id']))}/")
    print(f"  latest {lake.uri(layout.LATEST)}")
    item_id = release.items["item_id"][0].as_py()
    query = release.item(item_id)
    print(f"\nsample query: vitrine query --item {item_id} -k 5")
    print(f"  query  {item_id}  {query['title']}")
    for hit in release.similar(item_id, k=5):
        attrs = ", ".join(
            f"{k}={v['value']}" for k, v in hit["attributes"].items() if k in ("category", "color", "pattern")
        )
        print(
            f"  {hit['distance']:.3f}  {hit['item_id']}  {hit['title'][:40]:40s}  {attrs}  "
            f"({len(hit['offers'])} offer(s))"
        )
    print(f"\n{model_summary(lake, manifest['model_version'])}")
    print("\nshoppers: vitrine serve  (the visual search page on http://127.0.0.1:8000/)")
    print('analysts: vitrine sql "SELECT retailer, count(*) FROM products GROUP BY 1"')


# The demo catalog: 200 garments give the retrain a test split of about 40 images, enough for
# the gate's floors to pass on a real measurement (60 gave 11, and the gate refused them).
DEMO_PRODUCTS = 200

# The demo's retrain: heads only on the pretrained backbone's features (about 40 s on 2 cores);
# the demo catalog is small, so the gate's minimum test-set size is lowered for it.
DEMO_RETRAIN = {
    "attributes": ["category", "color", "pattern"],
    "image_size": 96,
    "epochs": 25,
    "finetune_epochs": 0,
    "views": 2,
    "min_test_images": 30,
}


def model_summary(lake: Lake, version: str) -> str:
    """Which model tagged the release, and how it scored on its test split."""
    from pipeline.registry import read_metadata

    meta = read_metadata(lake, version)
    if not meta.get("trained", True):
        return (
            f"tagged by {version}: an untrained model, so attributes are left empty (train one with\n"
            "  `vitrine dag-run attribute_model_retrain`; its promotion triggers catalog_reembed)"
        )
    key = f"{layout.model_prefix(version)}/report/metrics.json"
    report = lake.read_json(key) if lake.exists(key) else {}
    scores = ", ".join(
        f"{a} {m['accuracy']:.2f}"
        for a, m in report.get("candidate", {}).get("attributes", {}).items()
        if m.get("accuracy") is not None
    )
    return (
        f"tagged by model {version}: {meta.get('backbone')} @ {meta['image_size']}px, trained on "
        f"{meta.get('training_set', '?')}" + (f"; test accuracy {scores}" if scores else "")
    )


def run_demo(n_products: int = DEMO_PRODUCTS) -> int:
    """Start the demo shop, point the registry at it, run catalog_refresh, print the summary."""
    from pipeline.config import load_settings
    from pipeline.demo_shop import DemoShop

    home = load_settings().home
    with DemoShop(n_products=n_products) as shop:
        for name, store in shop.storefronts.items():
            print(f"demo shop {name:8s} at {store.base_url} ({len(store.products)} products)")
        os.environ["VITRINE_RETAILERS"] = str(shop.write_registry(home / "demo" / "retailers.yaml"))
        from pipeline.config import settings
        from pipeline.dag_run import run_dag
        from pipeline.lake import open_lake

        settings.cache_clear()
        started = time.monotonic()
        state = run_dag(settings(), "catalog_refresh")
        if state != "success":
            print(f"catalog_refresh ended in state {state}; see the log file named above")
            return 1
        if _production_untrained(open_lake()):
            print("\nthe production model is untrained: training heads on the demo catalog's pretrained features")
            for dag_id, conf in (("attribute_model_retrain", DEMO_RETRAIN), ("catalog_reembed", None)):
                state = run_dag(settings(), dag_id, conf)
                if state != "success":
                    print(f"{dag_id} ended in state {state}; see the task logs above")
                    return 1
        print_summary(open_lake(), time.monotonic() - started)
    return 0
