"""The deployment files: `docker compose config` accepts the compose file, and what it resolves to
has the services, images, queues, secrets and volumes a Vitrine cluster needs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO_ROOT

DOCKER = REPO_ROOT / "docker"
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-worker-gpu",
}
SERVICES = AIRFLOW_SERVICES | {"postgres", "redis", "minio", "minio-init", "demo-shop"}


def compose_command() -> list[str]:
    """`docker compose` (v2 plugin), else the standalone `docker-compose`."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("neither `docker compose` nor `docker-compose` is installed (make test installs docker-compose)")


@pytest.fixture(scope="module")
def compose() -> dict:
    proc = subprocess.run(
        [
            *compose_command(),
            "--env-file",
            str(DOCKER / ".env.example"),
            "-f",
            str(DOCKER / "docker-compose.yaml"),
            "config",
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


def test_compose_config_refuses_missing_secrets(tmp_path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    proc = subprocess.run(
        [*compose_command(), "--env-file", str(empty), "-f", str(DOCKER / "docker-compose.yaml"), "config"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VITRINE"))},
    )
    assert proc.returncode != 0 and "AIRFLOW_JWT_SECRET" in proc.stderr


def test_services_images_and_queues(compose) -> None:
    services = compose["services"]
    assert set(services) == SERVICES
    for name in AIRFLOW_SERVICES - {"airflow-worker-gpu"}:
        assert services[name]["build"]["target"] == "airflow", name
    gpu = services["airflow-worker-gpu"]
    assert gpu["build"]["target"] == "gpu" and gpu["image"] != services["airflow-worker"]["image"]
    command = lambda s: " ".join(s["command"]) if isinstance(s["command"], list) else s["command"]  # noqa: E731
    assert command(services["airflow-worker"]) == "celery worker --queues default"
    assert command(gpu) == "celery worker --queues gpu --concurrency 1"
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    for name, expected in (
        ("airflow-apiserver", "api-server"),
        ("airflow-scheduler", "scheduler"),
        ("airflow-dag-processor", "dag-processor"),
        ("airflow-triggerer", "triggerer"),
    ):
        assert command(services[name]) == expected
    assert services["airflow-init"]["entrypoint"][-1] == "vitrine" and command(services["airflow-init"]) == "airflow"


def test_shared_secrets_env_and_volumes(compose) -> None:
    services = compose["services"]
    envs = {name: services[name]["environment"] for name in AIRFLOW_SERVICES}
    for key in (
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API__SECRET_KEY",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "VITRINE_LAKE",
    ):
        values = {env[key] for env in envs.values()}
        assert len(values) == 1 and values != {""}, key
    for env in envs.values():
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["VITRINE_TRAIN_QUEUE"] == env["VITRINE_EMBED_QUEUE"] == "gpu"
        assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080/")
    for name in AIRFLOW_SERVICES | {"demo-shop"}:
        targets = {v["target"] if isinstance(v, dict) else v.split(":")[1] for v in services[name]["volumes"]}
        assert "/var/lib/vitrine" in targets, name  # airflow.cfg, logs and the demo registry
    bucket = envs["airflow-worker"]["VITRINE_LAKE"].removeprefix("s3://").split("/")[0]
    init = services["minio-init"]
    assert "mc mb" in " ".join(init["command"]) and init["environment"]["VITRINE_LAKE"].startswith(f"s3://{bucket}")
    assert "/var/lib/vitrine/shared/retailers.yaml" in services["demo-shop"]["command"]
    assert envs["airflow-worker"]["VITRINE_RETAILERS"] == "/var/lib/vitrine/shared/retailers.yaml"
    assert {"postgres-db-volume", "minio-data", "vitrine-home"} <= set(compose["volumes"])


def test_dockerfile_copies_what_exists_and_gpu_tensorflow_matches_the_lock() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (\S+) ", dockerfile, re.M):
        assert (REPO_ROOT / source).exists(), f"Dockerfile copies missing {source}"
    lock = (REPO_ROOT / "requirements.lock").read_text()
    cpu = re.search(r"^tensorflow-cpu==(\S+)", lock, re.M).group(1)
    gpu = re.search(r"ARG TENSORFLOW_VERSION=(\S+)", dockerfile).group(1)
    assert gpu == cpu
    assert re.search(r"^FROM airflow AS gpu$", dockerfile, re.M)
