"""DAG integrity: every DAG file imports cleanly, cheaply, and follows the house rules."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

EXPECTED = {"catalog_refresh", "attribute_model_retrain", "catalog_reembed"}
HEAVY = ("tensorflow", "keras", "scrapy", "annoy", "sklearn", "imagehash")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO_ROOT / "dags"))


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}


def test_contract_dags_exist(dagbag) -> None:
    assert EXPECTED <= set(dagbag.dag_ids)


def test_house_rules(dagbag) -> None:
    for dag_id in dagbag.dag_ids:
        dag = dagbag.dags[dag_id]
        assert dag.tags and "vitrine" in dag.tags, dag_id
        assert dag.catchup is False, dag_id
        assert dag.doc_md, f"{dag_id} has no doc_md"
        assert dag.description, f"{dag_id} has no description"
        for t in dag.tasks:
            assert t.retries >= 1, f"{dag_id}.{t.task_id} has no retries"
            assert t.doc_md, f"{dag_id}.{t.task_id} has no doc_md"
            assert t.on_failure_callback, f"{dag_id}.{t.task_id} alerts nobody on failure"


def test_catalog_refresh_shape(dagbag) -> None:
    dag = dagbag.dags["catalog_refresh"]
    order = ["list_retailers", "scrape", "dedup", "tag", "index", "publish"]
    ids = set(dag.task_ids)
    assert set(order) | {"production_model", "plan_embedding", "embed"} <= ids
    for upstream, downstream in zip(order, order[1:]):
        assert upstream in dag.get_task(downstream).upstream_task_ids or downstream == "index"
    assert {"embed", "dedup"} <= dag.get_task("index").upstream_task_ids
    assert dag.schedule == "@daily"
    for first in ("list_retailers", "production_model"):  # nothing touches the lake before preflight
        assert dag.get_task(first).upstream_task_ids == {"preflight"}
    assert dag.get_task("scrape").pool == "scrape"
    assert [o.uri for o in dag.get_task("publish").outlets] == ["vitrine://releases/latest"]


def test_parsing_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, json\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(REPO_ROOT / 'dags')!r})\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_retrain_params_default_to_train_config() -> None:
    """The Params form shows TrainConfig's defaults, and every TrainConfig field is a Param."""
    from dataclasses import asdict

    from dags.attribute_model_retrain import PARAMS
    from pipeline.train.config import TrainConfig

    defaults = asdict(TrainConfig())
    assert {k: PARAMS[k].value for k in defaults} == defaults


@pytest.mark.parametrize("dag_id", ["catalog_refresh", "catalog_reembed"])
def test_data_quality_group_sits_between_index_and_publish(dagbag, dag_id) -> None:
    dag = dagbag.dags[dag_id]
    group = dag.task_group_dict["data_quality"]
    assert set(group.children) == {"data_quality.run_checks", "data_quality.gate"}
    assert "index" in dag.get_task("data_quality.run_checks").upstream_task_ids
    assert "data_quality.gate" in dag.get_task("publish").upstream_task_ids


def test_catalog_refresh_records_product_history_after_the_crawls(dagbag) -> None:
    dag = dagbag.dags["catalog_refresh"]
    assert "scrape" in dag.get_task("product_history").upstream_task_ids
