"""
### catalog_refresh

Nightly: scrape every retailer in the registry → deduplicate images into items → tag items
with the production attribute model → embed new images → build the Annoy index → publish a
verified release (``latest.json`` last).

Every task passes lake URIs through XCom, never data, and is idempotent: a retry or a re-run
overwrites its own outputs. Logic lives in ``pipeline/``; this file is wiring only.
"""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, get_current_context, task

DEFAULT_ARGS = {
    "owner": "data-eng",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}


def _run_id() -> str:
    return get_current_context()["run_id"]


@dag(
    dag_id="catalog_refresh",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["vitrine", "catalog"],
    doc_md=__doc__,
)
def catalog_refresh():
    @task
    def list_retailers() -> list[str]:
        from pipeline.config import settings
        from pipeline.retailers import load_registry

        return [r.name for r in load_registry(settings().retailers_path)]

    @task(max_active_tis_per_dag=4, execution_timeout=timedelta(hours=4))
    def scrape(retailer: str) -> str:
        from pipeline.config import settings
        from pipeline.lake import open_lake
        from pipeline.retailers import load_registry
        from pipeline.scrape import scrape_retailer

        registry = {r.name: r for r in load_registry(settings().retailers_path)}
        return scrape_retailer(open_lake(), registry[retailer], _run_id())

    @task
    def dedup(products: list[str]) -> str:
        from pipeline.dedup import dedup_catalog
        from pipeline.lake import open_lake

        print(f"deduplicating images of {len(list(products))} retailer partitions")
        return dedup_catalog(open_lake(), _run_id())

    @task
    def production_model() -> str:
        from pipeline.lake import open_lake
        from pipeline.registry import ensure_production_model

        return ensure_production_model(open_lake())

    @task
    def tag(items_uri: str, model_version: str) -> str:
        from pipeline.lake import open_lake
        from pipeline.tag import tag_items

        return tag_items(open_lake(), items_uri, model_version)

    @task
    def plan_embedding(items_uri: str, model_version: str) -> list[dict]:
        from pipeline.lake import open_lake
        from pipeline.embed import plan_shards

        return plan_shards(open_lake(), items_uri, model_version, max_shards=4)

    @task(max_active_tis_per_dag=2)
    def embed(shard: dict) -> str:
        from pipeline.embed import embed_shard
        from pipeline.lake import open_lake

        return embed_shard(open_lake(), shard)

    @task(trigger_rule="none_failed")  # runs when no shard had new images to embed
    def index(items_uri: str, model_version: str, embedded: list[str]) -> str:
        from pipeline.index import build_index
        from pipeline.lake import open_lake

        print(f"{len(list(embedded))} embedding shards written this run")
        return build_index(open_lake(), items_uri, model_version, _run_id())

    @task
    def publish(items_uri: str, attributes_uri: str, index_uri: str, model_version: str) -> str:
        from pipeline.lake import open_lake
        from pipeline.publish import publish_release

        return publish_release(open_lake(), items_uri, attributes_uri, index_uri, model_version, _run_id())

    items = dedup(scrape.expand(retailer=list_retailers()))
    version = production_model()
    attributes = tag(items, version)
    embedded = embed.expand(shard=plan_embedding(items, version))
    publish(items, attributes, index(items, version, embedded), version)


catalog_refresh()
