"""``vitrine dag-run``: one DAG run in this process, like ``airflow dags test``, but quiet.

The console gets one line per finished task and a summary; everything else (Airflow, Scrapy,
TensorFlow, including child processes) goes to a log file whose path is printed first.
"""
from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from pipeline.airflow_env import load_dag, prepare
from pipeline.config import Settings


def _state(value: Any) -> str:
    return str(getattr(value, "value", value))


def _label(ti: Any) -> str:
    index = getattr(ti, "map_index", -1)
    return f"{ti.task_id}[{index}]" if index is not None and index >= 0 else ti.task_id


def progress_listener(out: IO[str]) -> Any:
    """An Airflow listener that prints a line as each task instance finishes (built after Airflow
    is configured: importing it reads the configuration)."""
    from airflow.listeners import hookimpl

    started: dict[str, float] = {}

    def line(ti: Any, status: str, detail: str = "") -> None:
        seconds = time.monotonic() - started.pop(_label(ti), time.monotonic())
        out.write(f"  {status:7s} {_label(ti):24s} {seconds:6.1f}s{'  ' + detail if detail else ''}\n")
        out.flush()

    class Progress:
        @hookimpl
        def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
            started[_label(task_instance)] = time.monotonic()

        @hookimpl
        def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
            line(task_instance, "ok")

        @hookimpl
        def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
            line(task_instance, "skipped")

        @hookimpl
        def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
            line(task_instance, "FAILED", " ".join(str(error).split())[:300])

    return Progress()


@contextmanager
def output_to(log_path: Path) -> Iterator[IO[str]]:
    """Send fds 1 and 2 (this process and its children) to ``log_path``; yield the console."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(1), "w", buffering=1)
    with log_path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield console
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            console.close()


def run_dag(settings: Settings, dag_id: str, conf: dict[str, Any] | None = None, *, verbose: bool = False) -> str:
    """Run ``dag_id`` once in this process; returns the final DagRun state."""
    home = prepare(settings)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    log_path = home / "logs" / "dag-run" / dag_id / f"{stamp}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"{dag_id}: running in process; full logs in {log_path}", flush=True)
    started = time.monotonic()
    if verbose:
        run = _test(dag_id, settings, conf, sys.stdout)
    else:
        with output_to(log_path) as console:
            run = _test(dag_id, settings, conf, console)
    states = Counter(_state(ti.state) for ti in run.get_task_instances())
    state = _state(run.state)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    print(f"{dag_id}: {state} in {time.monotonic() - started:.0f}s ({counts}); logs: {log_path}", flush=True)
    return state


def _test(dag_id: str, settings: Settings, conf: dict[str, Any] | None, out: IO[str]) -> Any:
    from airflow.sdk.listener import get_listener_manager

    dag = load_dag(dag_id, settings.dags_folder)
    manager = get_listener_manager()
    progress = progress_listener(out)
    manager.add_listener(progress)
    try:
        return dag.test(run_conf=conf or {})
    finally:
        manager.pm.unregister(progress)
