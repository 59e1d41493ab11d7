"""The local Airflow home works for plain `airflow` commands, not only for `vitrine dag-run`:
the same airflow.cfg gives list-import-errors, a dag-processor pass and `airflow dags test` the
repo's three DAGs (no examples, none stale), and its secrets stay put across preparations."""

from __future__ import annotations

import configparser
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.demo_shop import DemoShop
from tests.conftest import REPO_ROOT
from tests.support.dagrun import vitrine_env

pytestmark = pytest.mark.heavy  # whole DAG runs or training: scheduled first (conftest)

EXPECTED = {"catalog_refresh", "attribute_model_retrain", "catalog_reembed"}
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 900) -> str:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd}: exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout


def last_json(output: str):
    return json.loads(output.strip().splitlines()[-1])


def dags_in_db(env: dict[str, str], cwd: Path) -> dict[str, str]:
    out = run([AIRFLOW, "dags", "list", "-o", "json", "--columns", "dag_id,is_stale"], env, cwd)
    return {d["dag_id"]: d["is_stale"] for d in last_json(out)}


def test_plain_airflow_commands_use_the_prepared_home(tmp_path) -> None:
    home = tmp_path / "home"
    with DemoShop(n_products=4, seed=3) as shop:
        env = vitrine_env(tmp_path, f"file://{tmp_path / 'lake'}", shop.write_registry(tmp_path / "retailers.yaml"))
        out = run([sys.executable, "-m", "pipeline.cli", "airflow"], env, tmp_path)
        assert f"export AIRFLOW_HOME={home / 'airflow'}" in out

        cfg = configparser.RawConfigParser()
        cfg.read(home / "airflow" / "airflow.cfg")
        assert cfg.get("core", "dags_folder") == str(REPO_ROOT / "dags")
        assert cfg.get("core", "plugins_folder") == str(REPO_ROOT / "plugins")
        assert cfg.get("core", "load_examples") == "False"
        assert cfg.get("logging", "base_log_folder") == str(home / "airflow" / "logs")
        secret = cfg.get("api_auth", "jwt_secret")
        assert len(secret) >= 32
        run([sys.executable, "-m", "pipeline.cli", "airflow", "version"], env, tmp_path)
        cfg.read(home / "airflow" / "airflow.cfg")
        assert cfg.get("api_auth", "jwt_secret") == secret, "the JWT secret must survive a re-preparation"

        # From here on only plain `airflow`, told nothing but AIRFLOW_HOME (and the lake for tasks).
        plain = {**env, "AIRFLOW_HOME": str(home / "airflow")}
        assert last_json(run([AIRFLOW, "dags", "list-import-errors", "-o", "json"], plain, tmp_path)) == []
        run([AIRFLOW, "dag-processor", "--num-runs", "1"], plain, tmp_path)
        assert dags_in_db(plain, tmp_path) == {dag_id: "False" for dag_id in EXPECTED}  # no examples, not stale

        run([AIRFLOW, "dags", "test", "catalog_refresh"], plain, tmp_path)
        runs = last_json(run([AIRFLOW, "dags", "list-runs", "catalog_refresh", "-o", "json"], plain, tmp_path))
        assert [r["state"] for r in runs] == ["success"]
        run([AIRFLOW, "dag-processor", "--num-runs", "1"], plain, tmp_path)
        assert dags_in_db(plain, tmp_path) == {dag_id: "False" for dag_id in EXPECTED}
