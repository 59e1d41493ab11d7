"""Failure alerts for Airflow tasks: one JSON POST to a webhook per failed task instance.

The webhook is ``$VITRINE_ALERT_WEBHOOK`` or, when unset, the host of the Airflow connection
``vitrine_alerts`` (``AIRFLOW_CONN_VITRINE_ALERTS='http://hooks.example/vitrine'`` or one made in the
UI). With neither, failures are only in Airflow's own logs. Alerts are sent by Airflow's
``on_failure_callback``, so a task that is retried alerts once, after its last try.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)

ALERT_CONNECTION = "vitrine_alerts"


def alert_message(context: Any) -> dict[str, Any]:
    """The alert body: which task failed, where, and the error in one line."""
    ti = context["ti"]
    error = context.get("exception")
    return {
        "event": "task_failed",
        "dag_id": ti.dag_id,
        "task_id": ti.task_id,
        "run_id": ti.run_id,
        "map_index": ti.map_index,
        "try_number": ti.try_number,
        "error": " ".join(str(error).split())[:500] if error is not None else None,
        "log_url": getattr(ti, "log_url", None),
    }


def webhook_url() -> str | None:
    """``$VITRINE_ALERT_WEBHOOK``, else the ``vitrine_alerts`` connection's URI, else None."""
    url = os.environ.get("VITRINE_ALERT_WEBHOOK")
    if url:
        return url
    try:
        from airflow.sdk import Connection

        conn = Connection.get(ALERT_CONNECTION)
    except Exception:  # no such connection
        return None
    return conn.get_uri()


def post_json(url: str, body: dict[str, Any], timeout: float = 10.0) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (configured URL)
        response.read()


class FailureNotifier(BaseNotifier):
    """``on_failure_callback`` that posts :func:`alert_message` to the configured webhook."""

    def notify(self, context: Any) -> None:
        url = webhook_url()
        if not url:
            return
        body = alert_message(context)
        try:
            post_json(url, body)
        except OSError as exc:  # an alert that cannot be sent must not hide the task's own error
            log.warning("could not send failure alert to %s: %s", url, exc)
        else:
            log.info("failure alert sent for %s.%s", body["dag_id"], body["task_id"])
