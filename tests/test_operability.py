"""What an operator relies on: a bad lake fails the run at its preflight, with one line, and the
failure reaches the alert webhook exactly once; SIGTERM stops `vitrine dag-run` and its crawl."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.demo_shop import DemoShop
from pipeline.lake import Lake
from pipeline.preflight import PreflightError, check_lake
from tests.support.dagrun import DAG_RUN, dag_run, vitrine_env

pytestmark = pytest.mark.heavy  # whole DAG runs or training: scheduled first (conftest)


@pytest.fixture
def alert_sink() -> Iterator[tuple[str, list[dict]]]:
    """A local webhook that records every JSON body posted to it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/alerts", received
    finally:
        server.shutdown()


def test_preflight_accepts_a_good_lake_and_names_a_missing_bucket(s3_lake, s3_env) -> None:
    assert "conditional writes supported" in check_lake(s3_lake)
    assert not s3_lake.list("_preflight/"), "the probe object is removed"
    with pytest.raises(PreflightError) as err:
        check_lake(Lake("s3://vitrine-no-such-bucket/lake"))
    assert str(err.value) == "lake s3://vitrine-no-such-bucket/lake: bucket 'vitrine-no-such-bucket' does not exist"


def test_webhook_from_the_environment_wins(monkeypatch) -> None:
    from pipeline.notify import webhook_url

    monkeypatch.setenv("VITRINE_ALERT_WEBHOOK", "http://127.0.0.1:9/hook")
    monkeypatch.setenv("AIRFLOW_CONN_VITRINE_ALERTS", "http://127.0.0.1:8/other")
    assert webhook_url() == "http://127.0.0.1:9/hook"


def test_missing_bucket_fails_at_preflight_and_alerts_once(tmp_path, s3_env, alert_sink) -> None:
    url, received = alert_sink
    registry = tmp_path / "retailers.yaml"
    registry.write_text("retailers:\n  - {name: nowhere, platform: shopify, base_url: 'http://127.0.0.1:9'}\n")
    # the webhook as an Airflow connection (VITRINE_ALERT_WEBHOOK, when set, wins over it)
    env = vitrine_env(tmp_path, "s3://vitrine-no-such-bucket/lake", registry, AIRFLOW_CONN_VITRINE_ALERTS=url)
    proc = dag_run(tmp_path, env, timeout=600)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "DAG catalog_refresh: failed" in proc.stdout
    assert len(received) == 1, received
    alert = received[0]
    assert (alert["dag_id"], alert["task_id"], alert["event"]) == ("catalog_refresh", "preflight", "task_failed")
    assert alert["error"] == "lake s3://vitrine-no-such-bucket/lake: bucket 'vitrine-no-such-bucket' does not exist"
    assert alert["try_number"] == 1, "preflight fails fast: no retries"
    # the task's own output is in the log file Airflow's UI reads for that try
    logs = list(
        (tmp_path / "home" / "airflow" / "logs" / "dag_id=catalog_refresh").glob(
            "run_id=*/task_id=preflight/attempt=1.log"
        )
    )
    assert len(logs) == 1 and "does not exist" in logs[0].read_text()
    assert "preflight" in proc.stdout and "does not exist" in proc.stdout  # the progress line says why


def _descendants(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return children + [d for c in children for d in _descendants(c) if Path(f"/proc/{c}").exists()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def test_sigterm_stops_dag_run_and_its_crawl(tmp_path) -> None:
    with DemoShop(n_products=200, seed=5) as shop:
        # a slow, polite crawl: it is still running when the run is told to stop
        registry = shop.write_registry(
            tmp_path / "retailers.yaml", settings={"DOWNLOAD_DELAY": 2.0, "AUTOTHROTTLE_ENABLED": False}
        )
        env = vitrine_env(tmp_path, f"file://{tmp_path / 'lake'}", registry)
        proc = subprocess.Popen(
            [*DAG_RUN, "catalog_refresh"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 600
            crawls: list[int] = []
            while not crawls and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(1)
                crawls = [p for p in _descendants(proc.pid) if "scrapy crawl" in _cmdline(p)]
            assert crawls, f"no crawl started: {proc.poll()}"
            time.sleep(3)
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode != 0
    assert "interrupted" in output, output[-3000:]
    assert not [p for p in crawls if Path(f"/proc/{p}").exists() and "scrapy" in _cmdline(p)], "crawl outlived the run"
