"""Vitrine on a real distributed Airflow: PostgreSQL, Redis, api-server, scheduler, dag-processor,
a `default` Celery worker and a `gpu` Celery worker (concurrency 1), an S3 lake on a moto server.

The scenario an operator runs: trigger a catalog refresh and a retrain through the REST API; the
retrain's promotion makes the scheduler start catalog_reembed; training and embedding run on the
gpu worker only; the releases land in S3 and every task log can be read through the API.
"""

from __future__ import annotations

import os

import pytest

from pipeline import layout
from pipeline.demo_shop import DemoShop
from pipeline.lake import Lake
from pipeline.registry import production_version
from tests.airflow_cluster import airflow_cluster

pytestmark = pytest.mark.heavy  # whole DAG runs or training: scheduled first (conftest)

DAGS = {"catalog_refresh", "attribute_model_retrain", "catalog_reembed"}
GPU_TASKS = {"train", "embed"}
RETRAIN_CONF = {
    "epochs": 1,
    "finetune_epochs": 0,
    "image_size": 32,
    "batch_size": 16,
    "attributes": ["category", "color"],
    "min_improvement": -1.0,
    "min_test_images": 1,
    "accuracy_floors": {},
}  # always promote: tiny data cannot pass the production gate (tests/test_train.py covers it)


@pytest.fixture
def cluster(tmp_path, s3_env):
    import boto3

    boto3.client("s3").create_bucket(Bucket="vitrine-cluster")
    with DemoShop(n_products=30, seed=11) as shop:
        env = {
            "VITRINE_LAKE": "s3://vitrine-cluster/lake",
            "VITRINE_RETAILERS": str(shop.write_registry(tmp_path / "retailers.yaml")),
            "VITRINE_IMAGE_SIZE": "32",
            "VITRINE_TRAIN_QUEUE": "gpu",
            "VITRINE_EMBED_QUEUE": "gpu",
            "VITRINE_REFRESH_SCHEDULE": "none",  # only the runs this test triggers
            "VITRINE_RETRAIN_SCHEDULE": "none",
            **{
                k: os.environ[k]
                for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
            },
        }
        workers = {"default": {"queues": "default", "concurrency": 2}, "gpu": {"queues": "gpu", "concurrency": 1}}
        with airflow_cluster(tmp_path / "home", workers, env) as running:
            yield running


def assert_ran_on_the_right_workers(cluster, dag_id: str, run_id: str) -> list[dict]:
    """Every task that ran did so on the worker of its queue, and logged no error on the way."""
    tis = [ti for ti in cluster.task_instances(dag_id, run_id) if ti["state"] == "success"]
    assert tis, f"{dag_id} ran no task"
    for ti in tis:
        errors = [r["event"] for r in cluster.task_log(dag_id, run_id, ti) if r.get("level") == "error"]
        assert not errors, f"{dag_id}.{ti['task_id']} succeeded with error lines: {errors[:5]}"
        worker = (ti["hostname"] or "").split("@")[0]
        expected = "gpu" if ti["task_id"] in GPU_TASKS else "default"
        assert worker == expected, f"{dag_id}.{ti['task_id']}[{ti['map_index']}] ran on {ti['hostname']!r}"
        assert ti["queue"] == expected
    return tis


def test_catalog_refresh_retrain_and_asset_triggered_reembed_on_celery(cluster) -> None:
    lake = Lake("s3://vitrine-cluster/lake")
    cluster.wait_until(
        "the three DAGs parsed and active",
        lambda: DAGS <= {d["dag_id"] for d in cluster.request("GET", "/api/v2/dags")["dags"] if not d["is_paused"]},
        240,
    )

    refresh_id = cluster.trigger("catalog_refresh")
    refresh = cluster.wait_for_run("catalog_refresh", refresh_id)
    assert refresh["state"] == "success", cluster.log_tail("worker-default")
    refresh_tis = assert_ran_on_the_right_workers(cluster, "catalog_refresh", refresh_id)
    assert {"preflight", "scrape", "embed", "publish"} <= {ti["task_id"] for ti in refresh_tis}
    first = lake.read_json(layout.LATEST)["release_id"]
    refresh_model = production_version(lake)

    retrain_id = cluster.trigger("attribute_model_retrain", RETRAIN_CONF)
    retrain = cluster.wait_for_run("attribute_model_retrain", retrain_id)
    assert retrain["state"] == "success", cluster.log_tail("worker-gpu")
    retrain_tis = assert_ran_on_the_right_workers(cluster, "attribute_model_retrain", retrain_id)
    assert {ti["task_id"]: ti["state"] for ti in retrain_tis}["promote"] == "success"

    # The promotion's Asset event: the scheduler (not this test) starts catalog_reembed.
    reembed_run = cluster.wait_until(
        "an asset-triggered catalog_reembed run",
        lambda: next((r for r in cluster.dag_runs("catalog_reembed") if r["run_type"] == "asset_triggered"), None),
        180,
    )
    reembed = cluster.wait_for_run("catalog_reembed", reembed_run["dag_run_id"])
    assert reembed["state"] == "success", cluster.log_tail("worker-gpu")
    reembed_tis = assert_ran_on_the_right_workers(cluster, "catalog_reembed", reembed_run["dag_run_id"])
    assert any(ti["task_id"] == "embed" for ti in reembed_tis)

    # The reembed release is in the S3 lake, made with the newly promoted model.
    latest = lake.read_json(layout.LATEST)
    manifest = lake.read_json(latest["manifest"])
    assert latest["release_id"] != first
    assert manifest["model_version"] == production_version(lake) != refresh_model
    for name in manifest["files"]:
        assert lake.exists(f"{layout.release_prefix(latest['release_id'])}/{name}"), name

    # Task logs, written by the workers, are served by the API.
    def text(dag_id: str, run_id: str, tis: list[dict], task_id: str) -> str:
        ti = next(ti for ti in tis if ti["task_id"] == task_id)
        return "\n".join(str(r.get("event")) for r in cluster.task_log(dag_id, run_id, ti))

    assert latest["release_id"] in text("catalog_reembed", reembed_run["dag_run_id"], reembed_tis, "publish")
    assert "registered candidate" in text("attribute_model_retrain", retrain_id, retrain_tis, "train")
