"""A local Airflow home for running DAGs in-process (SQLite, LocalExecutor).

Airflow reads its configuration at import time, so :func:`configure` must run before the
first ``import airflow`` in a process. :func:`run_dag` then migrates the metadata DB on first
use and runs one DAG run to completion, like ``airflow dags test``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pipeline.config import Settings

AIRFLOW_DEFAULTS = {
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES": "airflow.* pipeline.*",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
}


def configure(settings: Settings, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Point Airflow at ``$VITRINE_HOME/airflow`` and this repo's dags/ (unless already set)."""
    env = os.environ if environ is None else environ
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    env.setdefault("AIRFLOW_HOME", str(settings.airflow_home))
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(settings.dags_folder))
    for key, value in AIRFLOW_DEFAULTS.items():
        env.setdefault(key, value)
    # Tasks run in this process and in subprocesses (Scrapy): they must see the same lake.
    env["VITRINE_HOME"] = str(settings.home)
    env["VITRINE_LAKE"] = settings.lake
    env["VITRINE_RETAILERS"] = str(settings.retailers_path)
    return env


def _migrated_marker(airflow_home: Path) -> Path:
    import importlib.metadata

    return airflow_home / f".vitrine-migrated-{importlib.metadata.version('apache-airflow-core')}"


def migrate(airflow_home: Path) -> None:
    """Create or upgrade the metadata DB once per Airflow version (``airflow db migrate``)."""
    marker = _migrated_marker(airflow_home)
    if marker.exists():
        return
    print(f"Preparing Airflow metadata DB in {airflow_home} ...", flush=True)
    proc = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, env=os.environ
    )
    if proc.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    marker.touch()


def load_dag(dag_id: str, dags_folder: Path) -> Any:
    """Parse the DAG folder and return one DAG, failing loudly on import errors."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags_folder))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {json.dumps(bag.import_errors, indent=2)}")
    dag = bag.dags.get(dag_id)
    if dag is None:
        raise KeyError(f"no DAG {dag_id!r} in {dags_folder}; known: {sorted(bag.dag_ids)}")
    return dag


def run_dag(settings: Settings, dag_id: str, conf: dict[str, Any] | None = None) -> str:
    """Run ``dag_id`` once in this process; returns the final DagRun state."""
    configure(settings)
    migrate(Path(os.environ["AIRFLOW_HOME"]))
    dag = load_dag(dag_id, Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]))
    run = dag.test(run_conf=conf or {})
    return str(getattr(run.state, "value", run.state))
