"""Permanent configuration errors fail an Airflow task at once (AirflowFailException), not
after its retries; the CLI reports them in one line."""

from __future__ import annotations

import pytest

from pipeline import airflow_tasks, config


def test_bad_configuration_fails_the_task_now(monkeypatch, tmp_path):
    from airflow.sdk.exceptions import AirflowFailException

    registry = tmp_path / "retailers.yaml"
    registry.write_text('retailers:\n  - name: "acme\\n"\n    platform: shopify\n    base_url: https://a.example\n')
    monkeypatch.setenv("VITRINE_RETAILERS", str(registry))
    config.settings.cache_clear()
    try:
        with pytest.raises(AirflowFailException, match="name 'acme\\\\n' must match"):
            airflow_tasks.list_retailers.function()
        monkeypatch.setenv("VITRINE_EMBED_BATCH_SIZE", "0")
        config.settings.cache_clear()
        with pytest.raises(AirflowFailException, match="VITRINE_EMBED_BATCH_SIZE"):
            airflow_tasks.list_retailers.function()
    finally:
        config.settings.cache_clear()


def test_cli_prints_a_configuration_error_in_one_line(monkeypatch, capsys):
    from pipeline.cli import main

    monkeypatch.setenv("VITRINE_LAKE", "file:relative/lake")
    config.settings.cache_clear()
    try:
        assert main(["release", "show"]) == 2
    finally:
        config.settings.cache_clear()
    err = capsys.readouterr().err.strip()
    assert "VITRINE_LAKE" in err and "\n" not in err
