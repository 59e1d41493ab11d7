"""``make demo``: serve the demo shop, run ``catalog_refresh`` once, show what it produced."""

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
    if manifest["model_version"].startswith("initial-"):
        print(
            f"  (attributes come from the initial, untrained model {manifest['model_version']}: train one with\n"
            "   `vitrine dag-run attribute_model_retrain`; under a scheduler its promotion triggers\n"
            "   catalog_reembed, in process run `vitrine dag-run catalog_reembed`)"
        )
    print("\nshoppers: vitrine serve  (the visual search page on http://127.0.0.1:8000/)")
    print('analysts: vitrine sql "SELECT retailer, count(*) FROM products GROUP BY 1"')


def run_demo(n_products: int = 60) -> int:
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
        print_summary(open_lake(), time.monotonic() - started)
    return 0
