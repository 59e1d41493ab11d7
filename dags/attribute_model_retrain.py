"""
### attribute_model_retrain

Weekly (`VITRINE_RETRAIN_SCHEDULE`), or manually with the Params form: build the
weakly-labelled training set from the scraped products (taxonomy in `config/taxonomy.yaml`) → train a candidate attribute model
(augmentation, two phases, early stopping) on the `gpu` queue → evaluate it and the
production model on the same held-out test split (report in
`models/attributes/<version>/report/`) → promote it only if it beats production by
`min_improvement`. A promotion emits the Asset `vitrine://models/attributes/production`,
which schedules `catalog_reembed`.

The training queue is `$VITRINE_TRAIN_QUEUE` (default `gpu`). Logic lives in
`pipeline/train/`; `vitrine train` runs the same steps outside Airflow.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task

from pipeline.config import settings
from pipeline.notify import FailureNotifier
from pipeline.registry import PRODUCTION_MODEL_ASSET_URI
from pipeline.train.config import TrainConfig

PRODUCTION_MODEL = Asset(PRODUCTION_MODEL_ASSET_URI)
TRAIN_QUEUE = os.environ.get("VITRINE_TRAIN_QUEUE", "gpu")

DEFAULTS = TrainConfig()
DEFAULT_ARGS = {
    "owner": "ml",
    "retries": 1,
    "retry_delay": timedelta(minutes=5),
    "on_failure_callback": [FailureNotifier()],
}

PARAMS = {
    "epochs": Param(DEFAULTS.epochs, type="integer", minimum=1, description="phase 1 (heads) maximum epochs"),
    "finetune_epochs": Param(
        DEFAULTS.finetune_epochs, type="integer", minimum=0, description="phase 2 (fine-tune) maximum epochs"
    ),
    "image_size": Param(
        DEFAULTS.image_size, type="integer", minimum=32, maximum=512, description="input size in pixels"
    ),
    "backbone": Param(DEFAULTS.backbone, enum=["compact", "mobilenet_v3_small", "efficientnet_b0"]),
    "learning_rate": Param(DEFAULTS.learning_rate, type="number", exclusiveMinimum=0),
    "finetune_learning_rate": Param(DEFAULTS.finetune_learning_rate, type="number", exclusiveMinimum=0),
    "weights": Param(
        DEFAULTS.weights, type=["null", "string"], description="backbone .weights.h5: path, file:// or s3://"
    ),
    "attributes": Param(
        DEFAULTS.attributes, type=["null", "array"], description="heads to train (default: all in the taxonomy)"
    ),
    "batch_size": Param(DEFAULTS.batch_size, type="integer", minimum=1),
    "loss_weights": Param(DEFAULTS.loss_weights, type="object", description="per-head loss weight, others 1"),
    "label_smoothing": Param(DEFAULTS.label_smoothing, type="number", minimum=0, maximum=0.5),
    "ema_momentum": Param(
        DEFAULTS.ema_momentum,
        type="number",
        minimum=0,
        exclusiveMaximum=1,
        description="keep a moving average of the weights (0: raw weights)",
    ),
    "time_budget_minutes": Param(
        DEFAULTS.time_budget_minutes, type=["null", "number"], description="stop training after this long"
    ),
    "min_improvement": Param(0.01, type="number", description="promotion margin on mean test accuracy"),
}
TRAIN_KEYS = [k for k in PARAMS if k != "min_improvement"]


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
    def build_training_set() -> str:
        """Weakly label scraped products with the taxonomy; split 70/15/15 by dedup group."""
        from pipeline.lake import open_lake
        from pipeline.taxonomy import load_taxonomy
        from pipeline.train.trainset import build_training_set as build

        ctx = get_current_context()
        return build(open_lake(), ctx["run_id"], load_taxonomy(), ctx["params"]["attributes"])

    @task(queue=TRAIN_QUEUE, execution_timeout=timedelta(hours=12))
    def train(trainset_uri: str) -> str:
        """Train the candidate (queue `VITRINE_TRAIN_QUEUE`); checkpoints each epoch, resumes on retry."""
        from pipeline import layout
        from pipeline.lake import open_lake
        from pipeline.train.checkpoint import Checkpoint
        from pipeline.train.train import train_candidate

        ctx = get_current_context()
        config = TrainConfig.from_dict({k: ctx["params"][k] for k in TRAIN_KEYS})
        lake = open_lake()
        checkpoint = Checkpoint(lake, layout.staging(ctx["run_id"], "train-checkpoint"))
        return train_candidate(lake, trainset_uri, config, verbose=2, checkpoint=checkpoint).version

    @task
    def evaluate(trainset_uri: str, version: str) -> dict:
        """Score candidate and production on the same test split; write the report."""
        from pipeline.lake import open_lake
        from pipeline.train.evaluate import evaluate_candidate

        params = get_current_context()["params"]
        return evaluate_candidate(open_lake(), version, trainset_uri, float(params["min_improvement"]))

    @task(outlets=[PRODUCTION_MODEL])
    def promote(decision: dict) -> str:
        """Promote when the candidate wins by `min_improvement`; emits the production-model Asset."""
        from airflow.exceptions import AirflowSkipException

        from pipeline.lake import open_lake
        from pipeline.train.evaluate import promote_if_better

        if not promote_if_better(open_lake(), decision):
            raise AirflowSkipException(f"not promoted: {decision['reason']}")  # no Asset event
        return decision["candidate_version"]

    trainset = build_training_set()
    promote(evaluate(trainset, train(trainset)))


attribute_model_retrain()
