"""The local Airflow home (``$VITRINE_HOME/airflow``): one airflow.cfg that every command obeys.

:func:`prepare` writes Vitrine's settings into ``airflow.cfg`` (the repo's ``dags/`` and
examples off, logs under the home, stable secrets), migrates the metadata DB once
per Airflow version and database, and sizes the pools. After that, plain ``airflow`` commands
with ``AIRFLOW_HOME`` exported see exactly what ``vitrine dag-run`` sees; ``vitrine airflow ...``
exports it for you. Environment variables (``AIRFLOW__SECTION__KEY``) still override the file,
which is how a cluster switches to PostgreSQL and Celery.

Airflow reads its configuration at import time, so :func:`prepare` runs before the first
``import airflow`` of a process.
"""

from __future__ import annotations

import configparser
import hashlib
import importlib.metadata
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
from base64 import urlsafe_b64encode
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from pipeline.config import Settings

log = logging.getLogger(__name__)

ADMIN_USER = "admin"
SCRAPE_POOL = "scrape"


def airflow_cfg(settings: Settings) -> dict[str, dict[str, str]]:
    """The options Vitrine owns in airflow.cfg (everything else keeps Airflow's default)."""
    home = settings.airflow_home
    return {
        "core": {
            "dags_folder": str(settings.dags_folder),
            "plugins_folder": str(settings.plugins_folder),
            "load_examples": "False",
            "executor": "LocalExecutor",
            "dags_are_paused_at_creation": "False",
            "allowed_deserialization_classes": "airflow.* pipeline.*",
            "simple_auth_manager_users": f"{ADMIN_USER}:admin",
            "simple_auth_manager_passwords_file": str(home / "simple_auth_manager_passwords.json"),
            "hostname_callable": "pipeline.airflow_env.worker_hostname",
        },
        "logging": {
            "base_log_folder": str(home / "logs"),
            "dag_processor_child_process_log_directory": str(home / "logs" / "dag_processor"),
        },
    }


# Generated once per home and then kept: JWTs and sessions stay valid across restarts, and
# every component started from this home signs and checks tokens with the same key.
SECRETS = {
    ("core", "fernet_key"): lambda: urlsafe_b64encode(os.urandom(32)).decode(),
    ("api_auth", "jwt_secret"): lambda: secrets.token_urlsafe(32),
    ("api", "secret_key"): lambda: secrets.token_urlsafe(32),
}


def write_cfg(settings: Settings) -> Path:
    """Create or update ``airflow.cfg`` in the home with :func:`airflow_cfg` and kept secrets."""
    path = settings.airflow_home / "airflow.cfg"
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = configparser.RawConfigParser()
    cfg.optionxform = str  # type: ignore[assignment,method-assign]
    if path.exists():
        cfg.read(path)
    for section, options in airflow_cfg(settings).items():
        if not cfg.has_section(section):
            cfg.add_section(section)
        for key, value in options.items():
            cfg.set(section, key, value)
    for (section, key), make in SECRETS.items():
        if not cfg.has_section(section):
            cfg.add_section(section)
        if not cfg.get(section, key, fallback=""):
            cfg.set(section, key, make())
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as fh:
        cfg.write(fh)
    tmp.replace(path)
    return path


def configure(settings: Settings, environ: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Write airflow.cfg and point this process (and its children) at the home and the lake."""
    env = os.environ if environ is None else environ
    write_cfg(settings)
    env["AIRFLOW_HOME"] = str(settings.airflow_home)
    # Airflow starts some components by name (`airflow standalone` runs `airflow scheduler`, ...):
    # this interpreter's bin/ goes first, so they are this installation's even when it is not on PATH.
    bindir = str(Path(sys.executable).parent)
    path = env.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        env["PATH"] = os.pathsep.join(p for p in (bindir, path) if p)
    # Tasks run in this process and in subprocesses (Scrapy): they must see the same lake.
    env["VITRINE_HOME"] = str(settings.home)
    env["VITRINE_LAKE"] = settings.lake
    env["VITRINE_RETAILERS"] = str(settings.retailers_path)
    return env


def _migrated_marker(airflow_home: Path) -> Path:
    """One marker per Airflow version and metadata database (SQLite here, PostgreSQL on a cluster)."""
    version = importlib.metadata.version("apache-airflow-core")
    db = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "sqlite")
    return airflow_home / f".vitrine-migrated-{version}-{hashlib.sha256(db.encode()).hexdigest()[:8]}"


def _airflow(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "airflow", *args], capture_output=True, text=True, env=os.environ)
    if proc.returncode != 0:
        tail = (proc.stdout[-1500:] + proc.stderr[-3000:]).strip()
        raise RuntimeError(f"airflow {' '.join(args)} failed (exit {proc.returncode}):\n{tail}")
    return proc


def migrate(airflow_home: Path) -> None:
    """Create or upgrade the metadata DB once per Airflow version (``airflow db migrate``)."""
    marker = _migrated_marker(airflow_home)
    if marker.exists():
        return
    print(f"Preparing Airflow metadata DB in {airflow_home} ...", flush=True)
    _airflow("db", "migrate")
    marker.touch()


def sync_pools(settings: Settings) -> None:
    """Create or resize the pools the DAGs use (``scrape``: crawls running at once)."""
    from airflow.models.pool import Pool

    Pool.create_or_update_pool(
        SCRAPE_POOL,
        slots=settings.scrape_pool_slots,
        include_deferred=False,
        description="retailer crawls running at once (VITRINE_SCRAPE_POOL_SLOTS)",
    )


def prepare(settings: Settings) -> Path:
    """Everything an Airflow command needs from this home; returns the home."""
    configure(settings)
    home = Path(os.environ["AIRFLOW_HOME"])
    migrate(home)
    sync_pools(settings)
    if os.environ.get("VITRINE_ADMIN_PASSWORD"):  # a deployment sets the UI/API login up front
        set_admin_password(home, os.environ["VITRINE_ADMIN_PASSWORD"])
    return home


def admin_password(airflow_home: Path) -> str | None:
    """The UI/API password of ``admin`` (Airflow's simple auth manager generates it on first start)."""
    path = airflow_home / "simple_auth_manager_passwords.json"
    try:
        return json.loads(path.read_text()).get(ADMIN_USER)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def set_admin_password(airflow_home: Path, password: str) -> None:
    path = airflow_home / "simple_auth_manager_passwords.json"
    path.write_text(json.dumps({ADMIN_USER: password}))
    path.chmod(0o600)


def ensure_admin_password(airflow_home: Path) -> str:
    """Create the admin password file if Airflow has not yet (so the login can be printed up front)."""
    password = admin_password(airflow_home)
    if password is None:
        password = secrets.token_urlsafe(12)
        set_admin_password(airflow_home, password)
    return password


def worker_hostname() -> str:
    """Hostname recorded on task instances (``[core] hostname_callable``).

    ``VITRINE_WORKER_NAME`` tells apart workers that share a host (``gpu@host``); without it this
    is the FQDN, as in stock Airflow.
    """
    fqdn = socket.getfqdn()
    name = os.environ.get("VITRINE_WORKER_NAME")
    return f"{name}@{fqdn}" if name else fqdn


def exec_airflow(settings: Settings, args: list[str]) -> int:
    """``vitrine airflow ARGS``: run the airflow CLI against the prepared home."""
    prepare(settings)
    if not args:
        home = os.environ["AIRFLOW_HOME"]
        print(
            f"Airflow home ready: {home}\n  DAGs   {settings.dags_folder}\n"
            f"  logs   {Path(home) / 'logs'}\n  pool   {SCRAPE_POOL}={settings.scrape_pool_slots}\n"
            f"Plain airflow commands: export AIRFLOW_HOME={home}"
        )
        return 0
    os.execv(sys.executable, [sys.executable, "-m", "airflow", *args])
    return 0  # not reached


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


def emit_asset_event(uri: str, extra: dict[str, Any] | None = None) -> bool:
    """Record an event on the Asset ``uri`` in the metadata DB, as a producing task would
    (DAGs scheduled on it are queued). False when no parsed DAG has declared that Asset yet."""
    from airflow.assets.manager import AssetManager
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        asset = session.scalar(select(AssetModel).where(AssetModel.uri == uri))
        if asset is None:
            return False
        AssetManager.register_asset_change(asset=asset, extra=extra or {}, session=session, source_is_api=True)
    return True


def emit_asset_event_configured(settings: Settings, uri: str, extra: dict[str, Any] | None = None) -> bool:
    """:func:`emit_asset_event` against ``$VITRINE_HOME/airflow`` (configured and migrated first)."""
    configure(settings)
    migrate(Path(os.environ["AIRFLOW_HOME"]))
    return emit_asset_event(uri, extra)
