"""
### attribute_model_retrain

Weekly (`VITRINE_RETRAIN_SCHEDULE`), or manually with the Params form (every option of `vitrine train`, described; an
unknown key fails the first task): build the weakly-labelled training set from the scraped
products (taxonomy in `config/taxonomy.yaml`) → train a candidate attribute model (by default
EfficientNet-Lite0 with ImageNet weights: heads on cached features, then the top blocks
fine-tuned; early stopping) on the `gpu` queue → evaluate it and the production model on the
same held-out test split (report in `models/attributes/<version>/report/`) → promote it only if
it passes the gate (minimum test-set size, accuracy floors, no attribute dropped) and beats
production by `min_improvement`. A promotion emits the Asset `vitrine://models/attributes/production`,
which schedules `catalog_reembed`.

The training queue is `$VITRINE_TRAIN_QUEUE` (default `gpu`). Logic lives in
`pipeline/train/`; `vitrine train` runs the same steps outside Airflow.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task

from pipeline.airflow_tasks import fail_now
from pipeline.config import settings
from pipeline.notify import FailureNotifier
from pipeline.registry import PRODUCTION_MODEL_ASSET_URI
from pipeline.train.config import describe

PRODUCTION_MODEL = Asset(PRODUCTION_MODEL_ASSET_URI)

DEFAULT_ARGS = {
    "owner": "ml",
    "retries": 1,
    "retry_delay": timedelta(minutes=5),
    "on_failure_callback": [FailureNotifier()],
}

# One Param per option of `vitrine train`, with its description (pipeline/train/config.py)
PARAMS = {name: Param(default, description=help_, **schema) for name, default, help_, schema in describe()}


@dag(
    dag_id="attribute_model_retrain",
    description="train a candidate attribute model on the gpu queue, promote it if it beats production",
    schedule=settings().retrain_schedule,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    tags=["vitrine", "ml"],
    doc_md=__doc__,
)
def attribute_model_retrain():
    @task
    @fail_now
    def build_training_set() -> str:
        """Weakly label scraped products with the taxonomy; split 70/15/15 by dedup group."""
        from pipeline.lake import open_lake
        from pipeline.taxonomy import load_taxonomy
        from pipeline.train.config import split_options
        from pipeline.train.trainset import build_training_set as build

        ctx = get_current_context()
        config, _ = split_options(dict(ctx["params"]))  # unknown conf keys fail here, naming the valid ones
        return build(open_lake(), ctx["run_id"], load_taxonomy(), config.attributes, seed=config.seed)

    @task(queue=settings().train_queue, execution_timeout=timedelta(hours=12))
    @fail_now
    def train(trainset_uri: str) -> str:
        """Train the candidate (queue `VITRINE_TRAIN_QUEUE`); checkpoints each epoch, resumes on retry."""
        from pipeline import layout
        from pipeline.lake import open_lake
        from pipeline.train.checkpoint import Checkpoint
        from pipeline.train.config import split_options
        from pipeline.train.train import train_candidate

        ctx = get_current_context()
        config, _ = split_options(dict(ctx["params"]))
        lake, cache_dir = open_lake(), settings().cache_dir
        checkpoint = Checkpoint(lake, layout.staging(ctx["run_id"], "train-checkpoint"))
        result = train_candidate(lake, trainset_uri, config, verbose=2, checkpoint=checkpoint, cache_dir=cache_dir)
        return result.version

    @task
    @fail_now
    def evaluate(trainset_uri: str, version: str) -> dict:
        """Score candidate and production on the same test split; write the report."""
        from pipeline.lake import open_lake
        from pipeline.train.config import split_options
        from pipeline.train.evaluate import evaluate_candidate

        _, gate = split_options(dict(get_current_context()["params"]))
        return evaluate_candidate(open_lake(), version, trainset_uri, gate)

    @task(outlets=[PRODUCTION_MODEL])
    def promote(decision: dict) -> str:
        """Promote when the candidate wins by `min_improvement`; emits the production-model Asset."""
        from airflow.sdk.exceptions import AirflowSkipException

        from pipeline.lake import open_lake
        from pipeline.train.evaluate import promote_if_better

        if not promote_if_better(open_lake(), decision):
            raise AirflowSkipException(f"not promoted: {decision['reason']}")  # no Asset event
        return decision["candidate_version"]

    trainset = build_training_set()
    promote(evaluate(trainset, train(trainset)))


attribute_model_retrain()
