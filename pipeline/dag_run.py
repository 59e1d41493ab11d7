"""``vitrine dag-run``: one DAG run in this process, like ``airflow dags test``, but quiet.

The console gets one line per finished task and a summary; everything else (Airflow, Scrapy,
TensorFlow, including child processes) goes to files: each task's output to its own log at the
path the Airflow UI reads (``dag_id=…/run_id=…/task_id=…/attempt=N.log``),
the rest to a run log whose path is printed first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pipeline.airflow_env import load_dag, prepare
from pipeline.config import Settings


def _state(value: Any) -> str:
    return str(getattr(value, "value", value))


def _label(ti: Any) -> str:
    index = getattr(ti, "map_index", -1)
    return f"{ti.task_id}[{index}]" if index is not None and index >= 0 else ti.task_id


def task_log_path(logs: Path, ti: Any) -> Path:
    """Where Airflow's default ``log_filename_template`` puts a task try's log."""
    path = logs / f"dag_id={ti.dag_id}" / f"run_id={ti.run_id}" / f"task_id={ti.task_id}"
    if getattr(ti, "map_index", -1) is not None and ti.map_index >= 0:
        path /= f"map_index={ti.map_index}"
    return path / f"attempt={ti.try_number}.log"


class Output:
    """Points fds 1 and 2 (this process and its children) at a file, and back to the console."""

    def __init__(self, default: Path):
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = os.dup(1), os.dup(2)
        self.console = os.fdopen(os.dup(1), "w", buffering=1)
        self.default = default
        self.to(default)

    def to(self, path: Path) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as fh:
            os.dup2(fh.fileno(), 1)
            os.dup2(fh.fileno(), 2)

    def close(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in zip((1, 2), self.saved):
            os.dup2(saved, fd)
            os.close(saved)
        self.console.close()


def progress_listener(out: IO[str], output: Output | None = None, logs: Path | None = None) -> Any:
    """An Airflow listener that prints a line as each task instance finishes and, with ``output``,
    sends each task's output to its own log file (built after Airflow is configured: importing it
    reads the configuration)."""
    from airflow.listeners import hookimpl

    started: dict[str, float] = {}

    def line(ti: Any, status: str, detail: str = "") -> None:
        if output is not None:
            output.to(output.default)
        seconds = time.monotonic() - started.pop(_label(ti), time.monotonic())
        out.write(f"  {status:7s} {_label(ti):24s} {seconds:6.1f}s{'  ' + detail if detail else ''}\n")
        out.flush()

    class Progress:
        @hookimpl
        def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
            started[_label(task_instance)] = time.monotonic()
            if output is not None and logs is not None:
                output.to(task_log_path(logs, task_instance))

        @hookimpl
        def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
            line(task_instance, "ok")

        @hookimpl
        def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
            line(task_instance, "skipped")

        @hookimpl
        def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
            if _interrupted:  # Airflow records the interrupted task as failed and would go on: stop here
                line(task_instance, "stopped")
                out.write(f"{task_instance.dag_id}: interrupted\n")
                out.flush()
                os._exit(130)
            line(task_instance, "FAILED", " ".join(str(error).split())[:300])

    return Progress()


IN_CHILD = "VITRINE_DAG_RUN_CHILD"


def run_supervised(args: list[str]) -> int:
    """Run ``vitrine dag-run ARGS`` in a child process and turn SIGTERM (and SIGINT) here into one
    SIGINT there: the run stops as on Ctrl-C, the running task and its crawl with it. (Inside a
    task Airflow's task runner owns SIGTERM, so the run itself cannot act on one.)"""
    child = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "dag-run", *args],
        env={**os.environ, IN_CHILD: "1"},
        start_new_session=True,
    )

    def forward(signum: int, frame: Any) -> None:
        child.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:  # pragma: no cover - forward() does not raise
            continue


class Interrupted(KeyboardInterrupt):
    """SIGINT reached the run: the running task is interrupted, then the run ends."""


_interrupted = False


def _on_sigint(signum: int, frame: Any) -> None:
    global _interrupted
    _interrupted = True
    raise Interrupted()


def run_dag(
    settings: Settings,
    dag_id: str,
    conf: dict[str, Any] | None = None,
    *,
    verbose: bool = False,
    logical_date: datetime | None = None,
) -> str:
    """Run ``dag_id`` once in this process (for ``logical_date``, when given); returns the final
    DagRun state."""
    signal.signal(signal.SIGINT, _on_sigint)
    home = prepare(settings)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_path = home / "logs" / "dag-run" / dag_id / f"{stamp}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"{dag_id}: running in process; full logs in {log_path}", flush=True)
    started = time.monotonic()
    if verbose:
        run = _test(dag_id, settings, conf, progress_listener(sys.stdout), logical_date)
    else:
        output = Output(log_path)
        try:
            run = _test(dag_id, settings, conf, progress_listener(output.console, output, home / "logs"), logical_date)
        finally:
            output.close()
    states = Counter(_state(ti.state) for ti in run.get_task_instances())
    state = _state(run.state)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    print(f"{dag_id}: {state} in {time.monotonic() - started:.0f}s ({counts}); logs: {log_path}", flush=True)
    return state


def _test(
    dag_id: str, settings: Settings, conf: dict[str, Any] | None, progress: Any, logical_date: datetime | None = None
) -> Any:
    from airflow.sdk.listener import get_listener_manager

    dag = load_dag(dag_id, settings.dags_folder)
    manager = get_listener_manager()
    manager.add_listener(progress)
    try:
        return dag.test(run_conf=conf or {}, **({} if logical_date is None else {"logical_date": logical_date}))
    finally:
        manager.pm.unregister(progress)
