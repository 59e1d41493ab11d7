"""`vitrine dag-run` in a subprocess with only Vitrine's environment: a fresh home, a given lake
and retailer registry, 32 px images (the end-to-end, operability, fault and SQL tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DAG_RUN = [sys.executable, "-m", "pipeline.cli", "dag-run"]


def vitrine_env(tmp: Path, lake: str, registry: Path, **extra: str) -> dict[str, str]:
    """This process's environment less every AIRFLOW*/VITRINE_* variable (AWS_* stays: the moto
    server of ``s3_env``), plus the home ``tmp/home``, ``lake``, ``registry``, 1 s retry delays and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VITRINE_"))}
    env.update(
        VITRINE_HOME=str(tmp / "home"),
        VITRINE_LAKE=lake,
        VITRINE_RETAILERS=str(registry),
        VITRINE_IMAGE_SIZE="32",
        VITRINE_RETRY_DELAY_S="1",  # dag.test() waits out a retry delay: a retried crawl is seconds, not minutes
        **extra,
    )
    return env


def dag_run(
    tmp: Path, env: dict[str, str], *args: str, dag_id: str = "catalog_refresh", timeout: float = 900
) -> subprocess.CompletedProcess:
    """Run ``dag_id`` to its end in ``tmp`` (``args``: more `dag-run` options); output captured."""
    return subprocess.run([*DAG_RUN, dag_id, *args], cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout)
