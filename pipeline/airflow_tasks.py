"""Airflow TaskFlow adapters shared by the catalog DAGs: each task is a thin call into a stage.

Only DAG files import this module. Stage modules are imported inside task bodies so that
parsing a DAG stays cheap (no TensorFlow or Scrapy at parse time).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, timedelta
from typing import Any

from airflow.sdk import Asset, get_current_context, task, task_group

from pipeline.airflow_env import SCRAPE_POOL
from pipeline.config import settings
from pipeline.notify import FailureNotifier

LATEST_RELEASE = Asset("vitrine://releases/latest")  # emitted by each publish; downstream DAGs schedule on it

DEFAULT_ARGS = {
    "owner": "data-eng",
    "retries": 2,
    "retry_delay": timedelta(seconds=settings().retry_delay_s),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    "on_failure_callback": [FailureNotifier()],
}


def fail_now(func: Callable) -> Callable:
    """Permanent errors (bad configuration, a malformed registry) fail the task at once with
    Airflow's AirflowFailException instead of being retried like transient ones."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from pipeline.config import ConfigError
        from pipeline.retailers import RetailerRegistryError

        try:
            return func(*args, **kwargs)
        except (ConfigError, RetailerRegistryError) as exc:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc

    return wrapper


def _run_id() -> str:
    return get_current_context()["run_id"]


def _crawl_day() -> date:
    """The run's crawl day: its logical date (or, without one, when it was due), in UTC."""
    ctx = get_current_context()
    when = ctx.get("logical_date") or ctx["dag_run"].run_after
    return when.astimezone(UTC).date()


def _run_key() -> str:
    """What a run's rows in ``releases`` and ``dq_results`` are filed under: its DAG and logical
    date (or, without one, when it was due), so that a re-run of that date replaces them."""
    ctx = get_current_context()
    when = ctx.get("logical_date") or ctx["dag_run"].run_after
    return f"{ctx['dag'].dag_id}__{when.astimezone(UTC):%Y%m%dT%H%M%SZ}"


@task
def preflight() -> str:
    """Check the lake before anything writes to it: bucket, credentials, conditional writes.

    Fails at once (AirflowFailException: retries are skipped) with a one-line reason, instead of
    image by image in the crawls.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.lake import open_lake
    from pipeline.preflight import PreflightError, check_lake

    try:
        return check_lake(open_lake())
    except PreflightError as exc:
        raise AirflowFailException(str(exc)) from None


@task
@fail_now
def list_retailers() -> list[str]:
    """The retailer names of the registry (`VITRINE_RETAILERS`); one mapped `scrape` each."""
    from pipeline.retailers import load_registry

    return [r.name for r in load_registry(settings().retailers_path)]


# Mapped tasks do not take doc_md from their docstring: it is given explicitly.
SCRAPE_DOC = """Crawl one retailer with Scrapy into the lake (products, images, crawl stats).

Runs in the `scrape` pool (`VITRINE_SCRAPE_POOL_SLOTS` crawls at once); the crawl is a child
process in its own process group, ended with the task."""


@task(pool=SCRAPE_POOL, execution_timeout=timedelta(hours=4), doc_md=SCRAPE_DOC)
@fail_now
def scrape(retailer: str) -> str:
    """Crawl one retailer (see SCRAPE_DOC)."""
    from pipeline.lake import open_lake
    from pipeline.retailers import load_registry
    from pipeline.scrape import CrawlConfig, scrape_retailer

    registry = {r.name: r for r in load_registry(settings().retailers_path)}
    config = CrawlConfig.from_settings(settings())
    return scrape_retailer(open_lake(), registry[retailer], _run_id(), config, day=_crawl_day())


@task(trigger_rule="all_done_min_one_success")  # like dedup: a failed crawl keeps that retailer's products
@fail_now
def product_history(products: list[str]) -> str:
    """Snapshot every retailer's products as the run's crawl day of ``product_history``."""
    from pipeline.lake import open_lake
    from pipeline.tables import record_product_history

    print(f"recording product history of {len(list(products))} retailer partitions")
    return record_product_history(open_lake(), _crawl_day())


@task(trigger_rule="all_done_min_one_success")  # a failed crawl keeps its products; the others go on
# (no successful crawl at all, e.g. preflight failed: upstream_failed, nothing touches the lake)
@fail_now
def dedup(products: list[str]) -> str:
    """Hash new images, group near-duplicates into items, rewrite the `items` table."""
    from pipeline.dedup import dedup_catalog
    from pipeline.dedup.grouping import Thresholds
    from pipeline.lake import open_lake

    scraped = list(products)  # only the crawls that succeeded returned a partition
    if not scraped:
        raise RuntimeError("every retailer's crawl failed (or there are none): nothing to publish")
    print(f"deduplicating images after {len(scraped)} successful crawls")
    return dedup_catalog(open_lake(), _run_id(), Thresholds(max_distance=settings().dedup_max_distance))


@task
@fail_now
def current_items() -> str:
    """The URI of the current `items` table (written by the last `catalog_refresh`)."""
    from pipeline import layout
    from pipeline.lake import open_lake

    return open_lake().uri(layout.table("items"))


@task
@fail_now
def production_model() -> str:
    """The production attribute-model version (registers the initial model on a fresh lake)."""
    from pipeline.lake import open_lake
    from pipeline.registry import ensure_production_model

    return ensure_production_model(open_lake(), settings().image_size)


@task
@fail_now
def tag(items_uri: str, model_version: str) -> str:
    """Predict attributes (category, color, pattern, ...) of every item with the model."""
    from pipeline.lake import open_lake
    from pipeline.tag import tag_items

    s = settings()
    return tag_items(open_lake(), items_uri, model_version, s.embed_batch_size, s.cache_dir)


@task
@fail_now
def plan_embedding(items_uri: str, model_version: str) -> list[dict]:
    """Split the images without an embedding for this model into at most 4 shards."""
    from pipeline.embed import plan_shards
    from pipeline.lake import open_lake

    return plan_shards(open_lake(), items_uri, model_version, max_shards=4)


@task(
    max_active_tis_per_dag=2,
    queue=settings().embed_queue,
    doc_md="Embed one shard of images (queue `VITRINE_EMBED_QUEUE`: `gpu` where GPU workers exist).",
)
@fail_now
def embed(shard: dict) -> str:
    """Embed one shard of images with the model."""
    from pipeline.embed import embed_shard
    from pipeline.lake import open_lake

    s = settings()
    return embed_shard(open_lake(), shard, batch_size=s.embed_batch_size, cache_dir=s.cache_dir)


@task(trigger_rule="none_failed")  # also runs when no shard had new images to embed
@fail_now
def index(items_uri: str, model_version: str, embedded: list[str]) -> str:
    """Build and tune the nearest-neighbour index (`VITRINE_INDEX_KIND`) into the run's staging."""
    from pipeline.index import build_index
    from pipeline.lake import open_lake

    print(f"{len(list(embedded))} embedding shards written this run")
    s = settings()
    return build_index(
        open_lake(), items_uri, model_version, _run_id(), recall_target=s.index_recall_target, kind=s.index_kind
    )


@task(outlets=[LATEST_RELEASE])
@fail_now
def publish(attributes_uri: str, index_uri: str, model_version: str) -> str:
    """Verify and publish the release; `latest.json` moves last. Emits `vitrine://releases/latest`."""
    from pipeline.lake import open_lake
    from pipeline.publish import publish_release

    return publish_release(
        open_lake(),
        attributes_uri,
        index_uri,
        model_version,
        _run_id(),
        retention=settings().release_retention,
        run_key=_run_key(),
    )


@task
@fail_now
def janitor() -> str:
    """Scratch left by crashed runs (older than a day) goes: ``vitrine gc`` in the DAG."""
    from pipeline.gc import DEFAULT_HOURS, collect
    from pipeline.lake import open_lake

    summary = collect(open_lake(), DEFAULT_HOURS * 3600).summary()
    print(summary)
    return summary


@task
@fail_now
def run_checks(index_uri: str, model_version: str, attributes_uri: str) -> dict:
    """Run the data-quality checks on the staged release and record them in ``dq_results``."""
    from pipeline.dq import check_release
    from pipeline.lake import open_lake

    results = check_release(open_lake(), settings(), _run_id(), index_uri, model_version, _run_key())
    for result in results:
        print(result.message)
    return {"passed": sum(r.passed for r in results), "failed": [r.message for r in results if not r.passed]}


@task
def gate(summary: dict) -> None:
    """Fail the run, naming each failed check, so nothing is published (a verdict: no retry)."""
    from airflow.sdk.exceptions import AirflowFailException

    if summary["failed"]:
        raise AirflowFailException(
            f"{len(summary['failed'])} data-quality check(s) failed:\n" + "\n".join(summary["failed"])
        )
    print(f"all {summary['passed']} data-quality checks passed")


@task_group(group_id="data_quality")
def data_quality(index_uri, model_version, attributes_uri):
    """Checks on the staged release between index and publish (config/dq_checks.yaml)."""
    return gate(run_checks(index_uri, model_version, attributes_uri))


def tag_embed_index_publish(items_uri, model_version):
    """The shared tail of both catalog DAGs: tag → embed (mapped) → index → data quality → publish."""
    attributes = tag(items_uri, model_version)
    embedded = embed.expand(shard=plan_embedding(items_uri, model_version))
    staged = index(items_uri, model_version, embedded)
    checked = data_quality(staged, model_version, attributes)
    published = publish(attributes, staged, model_version)
    checked >> published
    return published
