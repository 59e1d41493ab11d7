"""Airflow TaskFlow adapters shared by the catalog DAGs: each task is a thin call into a stage.

Only DAG files import this module. Stage modules are imported inside task bodies so that
parsing a DAG stays cheap (no TensorFlow or Scrapy at parse time).
"""
from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import get_current_context, task

EMBED_QUEUE = os.environ.get("VITRINE_EMBED_QUEUE", "default")  # "gpu" on a cluster with GPU workers

DEFAULT_ARGS = {
    "owner": "data-eng",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}


def _run_id() -> str:
    return get_current_context()["run_id"]


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
def current_items() -> str:
    from pipeline import layout
    from pipeline.lake import open_lake

    return open_lake().uri(layout.table("items"))


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
    from pipeline.embed import plan_shards
    from pipeline.lake import open_lake

    return plan_shards(open_lake(), items_uri, model_version, max_shards=4)


@task(max_active_tis_per_dag=2, queue=EMBED_QUEUE)
def embed(shard: dict) -> str:
    from pipeline.embed import embed_shard
    from pipeline.lake import open_lake

    return embed_shard(open_lake(), shard)


@task(trigger_rule="none_failed")  # also runs when no shard had new images to embed
def index(items_uri: str, model_version: str, embedded: list[str]) -> str:
    from pipeline.config import settings
    from pipeline.index import build_index
    from pipeline.lake import open_lake

    print(f"{len(list(embedded))} embedding shards written this run")
    s = settings()
    return build_index(open_lake(), items_uri, model_version, _run_id(),
                       recall_target=s.index_recall_target, kind=s.index_kind)


@task
def publish(attributes_uri: str, index_uri: str, model_version: str) -> str:
    from pipeline.config import settings
    from pipeline.lake import open_lake
    from pipeline.publish import publish_release

    return publish_release(open_lake(), attributes_uri, index_uri, model_version, _run_id(),
                           retention=settings().release_retention)


def tag_embed_index_publish(items_uri, model_version):
    """The shared tail of both catalog DAGs: tag → embed (mapped) → index → publish."""
    attributes = tag(items_uri, model_version)
    embedded = embed.expand(shard=plan_embedding(items_uri, model_version))
    return publish(attributes, index(items_uri, model_version, embedded), model_version)
