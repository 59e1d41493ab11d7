"""
### catalog_reembed

Runs when a retrain promotes a new attribute model (the production-model Asset): tags and
re-embeds the whole current catalog with the new model, rebuilds the index, runs the
data-quality checks and publishes a release. No scraping: it works on the items the last `catalog_refresh` produced.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag

from pipeline.airflow_tasks import DEFAULT_ARGS, current_items, preflight, production_model, tag_embed_index_publish
from pipeline.registry import PRODUCTION_MODEL_ASSET_URI

PRODUCTION_MODEL = Asset(PRODUCTION_MODEL_ASSET_URI)


@dag(
    dag_id="catalog_reembed",
    description="re-tag and re-embed the catalog with a newly promoted model, publish a release",
    schedule=[PRODUCTION_MODEL],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["vitrine", "catalog", "ml"],
    doc_md=__doc__,
)
def catalog_reembed():
    items, model = current_items(), production_model()
    preflight() >> [items, model]
    tag_embed_index_publish(items, model)


catalog_reembed()
