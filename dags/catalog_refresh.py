"""
### catalog_refresh

Nightly (`VITRINE_REFRESH_SCHEDULE`, default `@daily`): check the lake (preflight) → scrape every retailer in the registry (one mapped task per retailer) → deduplicate
images into items (and snapshot the day's products into ``product_history``) → tag items with
the production attribute model → embed new images → build the Annoy index → data-quality
checks (``config/dq_checks.yaml``; a failure stops the run) → publish a verified release
(``latest.json`` last), which emits the Asset `vitrine://releases/latest` for downstream DAGs.

Every task passes lake URIs through XCom, never data, and is idempotent: a retry or a re-run
overwrites its own outputs. Logic lives in ``pipeline/``; this file is wiring only.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from pipeline.airflow_tasks import (
    DEFAULT_ARGS,
    dedup,
    janitor,
    list_retailers,
    preflight,
    product_history,
    production_model,
    scrape,
    tag_embed_index_publish,
)
from pipeline.config import settings


@dag(
    dag_id="catalog_refresh",
    description="scrape retailers → dedup → tag → embed → index → publish a release",
    schedule=settings().refresh_schedule,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["vitrine", "catalog"],
    doc_md=__doc__,
)
def catalog_refresh():
    retailers, model = list_retailers(), production_model()
    # nothing touches the lake before preflight; the janitor cleans what earlier, crashed runs left
    preflight() >> [retailers, model, janitor()]
    products = scrape.expand(retailer=retailers)
    product_history(products)
    tag_embed_index_publish(dedup(products), model)


catalog_refresh()
