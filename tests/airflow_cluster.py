"""A real distributed Airflow on this machine, for tests: PostgreSQL metadata DB, Redis broker,
api-server, scheduler, dag-processor and Celery workers, each a process started and stopped by PID.

Every run gets its own PostgreSQL database (created, then dropped) and its own Redis db index
(claimed with a key, flushed after), and binds only free ports on 127.0.0.1, so parallel runs
and other users of the same servers are not disturbed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
PG_DSN = os.environ.get("VITRINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("VITRINE_TEST_REDIS", "redis://127.0.0.1:6379")
REDIS_CLAIM_KEY = "vitrine-test:claimed-by"
TERMINAL = {"success", "failed"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database on the test PostgreSQL server; yields its SQLAlchemy URL, drops it after."""
    import psycopg2
    from psycopg2.extensions import parse_dsn

    name = f"vitrine_it_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(PG_DSN)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        dsn = parse_dsn(PG_DSN)
        auth = dsn.get("user", "postgres") + (f":{dsn['password']}" if dsn.get("password") else "")
        yield f"postgresql+psycopg2://{auth}@{dsn.get('host', '127.0.0.1')}:{dsn.get('port', 5432)}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def redis_db_index() -> Iterator[str]:
    """An empty Redis db index claimed for this run; yields its URL, flushes it after."""
    import redis

    token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    for index in range(15, 0, -1):
        client = redis.Redis.from_url(f"{REDIS_URL}/{index}")
        if client.dbsize() == 0 and client.set(REDIS_CLAIM_KEY, token, nx=True, ex=6 * 3600):
            break
    else:
        raise RuntimeError(f"no free Redis db index on {REDIS_URL}")
    try:
        yield f"{REDIS_URL}/{index}"
    finally:
        client.flushdb()
        client.close()


@dataclass
class AirflowCluster:
    """The processes of one Airflow deployment and a token-authenticated REST client for it."""

    env: dict[str, str]
    api_url: str
    logs: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    token: str = ""

    # -- processes ----------------------------------------------------------------------------
    def airflow(self, *args: str, timeout: float = 300) -> str:
        """Run one ``vitrine airflow ...`` command against the cluster; returns its stdout."""
        proc = subprocess.run(
            [sys.executable, "-m", "pipeline.cli", "airflow", *args],
            env=self.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
        return proc.stdout

    def start(self, name: str, *args: str, **extra_env: str) -> None:
        """Start ``airflow ARGS`` as a long-running component, logging to ``logs/<name>.log``."""
        log = (self.logs / f"{name}.log").open("w")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            env={**self.env, **extra_env},
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM every component's process group by PID, then SIGKILL what is left."""
        for proc in self.procs.values():
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def assert_running(self) -> None:
        dead = {name: p.returncode for name, p in self.procs.items() if p.poll() is not None}
        if dead:
            tails = {name: self.log_tail(name) for name in dead}
            raise AssertionError(f"components exited: {dead}\n" + "\n".join(f"--- {n}\n{t}" for n, t in tails.items()))

    def log_tail(self, name: str, chars: int = 3000) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-chars:]

    # -- REST API -----------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, *, raw: bool = False) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.api_url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=60) as response:
            payload = response.read()
        return payload.decode() if raw else json.loads(payload or b"null")

    def login(self, username: str, password: str) -> None:
        self.token = self.request("POST", "/auth/token", {"username": username, "password": password})["access_token"]

    def wait_until(self, what: str, check, timeout: float, interval: float = 2.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            self.assert_running()
            with suppress(urllib.error.URLError, ConnectionError, KeyError):
                result = check()
                if result:
                    return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(interval)

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        run = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return run["dag_run_id"]

    def dag_runs(self, dag_id: str) -> list[dict]:
        return self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=-start_date")["dag_runs"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600) -> dict:
        def finished() -> dict | None:
            run = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in TERMINAL else None

        return self.wait_until(f"{dag_id} run {run_id}", finished, timeout)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]

    def task_log(self, dag_id: str, run_id: str, ti: dict) -> list[dict]:
        """The structured log records of one task try, as the UI gets them."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{ti['try_number']}"
        if ti.get("map_index", -1) >= 0:
            path += f"?map_index={ti['map_index']}"
        return [c if isinstance(c, dict) else {"event": str(c)} for c in self.request("GET", path)["content"]]


def cluster_env(home: Path, db_url: str, broker_url: str, api_port: int, extra: dict[str, str]) -> dict[str, str]:
    """Environment shared by every component: the Vitrine home plus the cluster's overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VITRINE_"))}
    env.update(
        VITRINE_HOME=str(home),
        AIRFLOW_HOME=str(home / "airflow"),
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=db_url,
        AIRFLOW__CELERY__BROKER_URL=broker_url,
        AIRFLOW__CELERY__RESULT_BACKEND="db+" + db_url,
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(api_port),
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{api_port}",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="10",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


@contextmanager
def airflow_cluster(
    home: Path, workers: dict[str, dict[str, Any]], extra_env: dict[str, str]
) -> Iterator[AirflowCluster]:
    """Start api-server, scheduler, dag-processor and one Celery worker per entry of ``workers``
    (``{"gpu": {"queues": "gpu", "concurrency": 1}}``); yields the logged-in cluster."""
    from pipeline.airflow_env import ADMIN_USER, ensure_admin_password

    logs = home / "component-logs"
    logs.mkdir(parents=True, exist_ok=True)
    api_port = free_port()
    with postgres_database() as db_url, redis_db_index() as broker_url:
        cluster = AirflowCluster(
            cluster_env(home, db_url, broker_url, api_port, extra_env), f"http://127.0.0.1:{api_port}", logs
        )
        try:
            cluster.airflow()  # prepare: airflow.cfg, `db migrate` on PostgreSQL, pools
            password = ensure_admin_password(home / "airflow")
            cluster.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(api_port))
            cluster.start("scheduler", "scheduler")
            cluster.start("dag-processor", "dag-processor")
            for name, spec in workers.items():
                cluster.start(
                    f"worker-{name}",
                    "celery",
                    "worker",
                    "--queues",
                    spec["queues"],
                    "--concurrency",
                    str(spec["concurrency"]),
                    "--celery-hostname",
                    f"{name}@%h",
                    VITRINE_WORKER_NAME=name,
                    AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
                )
            cluster.wait_until("the api-server", lambda: cluster.request("GET", "/api/v2/monitor/health"), 180)
            cluster.login(ADMIN_USER, password)
            yield cluster
        finally:
            cluster.stop()
