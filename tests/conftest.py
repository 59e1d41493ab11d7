"""Shared fixtures: a file lake in a temp dir and a real S3 API (moto server on loopback)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.lake import Lake

REPO_ROOT = Path(__file__).resolve().parent.parent

# Airflow reads its configuration on first import: point it at a throwaway home before any
# test imports it, so the suite never touches a developer's real Airflow or Vitrine state.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="vitrine-test-"))
os.environ["VITRINE_HOME"] = str(_SESSION_HOME / "vitrine")
os.environ["AIRFLOW_HOME"] = str(_SESSION_HOME / "airflow")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Heavy modules (``pytest.mark.heavy``: whole DAG runs, training) first, so that under
    ``pytest -n`` (``make test``) no worker starts a ten-minute file while the other sits idle."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    """Code under test may export variables (``airflow_env.configure`` sets AIRFLOW_HOME, PATH,
    VITRINE_*): none of them outlives its test."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata DB in the session's AIRFLOW_HOME (for in-process dag.test()).

    It migrates the database this process's Airflow already uses, whatever imported it first.
    """
    from airflow import settings as airflow_settings

    home = _SESSION_HOME / "airflow"
    marker = home / ".migrated"
    if not marker.exists():
        env = {**os.environ, "AIRFLOW_HOME": str(home)}
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = str(airflow_settings.SQL_ALCHEMY_CONN)
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=env)
        marker.touch()
    return home


@pytest.fixture
def lake(tmp_path) -> Lake:
    """An empty file:// lake."""
    return Lake(f"file://{tmp_path / 'lake'}")


@pytest.fixture
def memory_lake(request) -> Iterator[Lake]:
    """An empty memory:// lake, emptied again after the test."""
    lake = Lake(f"memory://{request.node.nodeid}/lake")
    yield lake
    lake.delete_prefix("")


#: lake scheme -> fixture giving an empty lake of it; ``any_lake`` runs a test on each.
LAKE_FIXTURES = {"file": "lake", "s3": "s3_lake", "memory": "memory_lake"}


@pytest.fixture(params=sorted(LAKE_FIXTURES))
def any_lake(request) -> Lake:
    """The same test on every lake backend (the backend contract)."""
    return request.getfixturevalue(LAKE_FIXTURES[request.param])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(moto_server, monkeypatch) -> str:
    """AWS environment pointing boto3 at the moto server; yields the endpoint."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_server


@pytest.fixture
def s3_lake(s3_env, request) -> Lake:
    """An empty s3:// lake in a fresh bucket on the moto server."""
    import boto3

    name = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())
    bucket = f"vitrine-{name}"[:60].strip("-")
    boto3.client("s3").create_bucket(Bucket=bucket)
    return Lake(f"s3://{bucket}/lake")


@pytest.fixture(scope="session")
def demo_model():
    """The pipeline's model at 32 px, fitted briefly on the synthetic demo catalog (app tests)."""
    from pipeline.demo_shop.catalog import synthetic_catalog
    from tests.support.app import fitted_model

    return fitted_model(synthetic_catalog(80))


@pytest.fixture(scope="session")
def demo_release(demo_model, tmp_path_factory):
    """A release of 60 demo catalog products, published by the real stages into a file lake."""
    from tests.support.app import demo_release as publish_demo

    return publish_demo(Lake(f"file://{tmp_path_factory.mktemp('app') / 'lake'}"), demo_model)
