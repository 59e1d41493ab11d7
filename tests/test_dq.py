"""Data-quality checks as data: config parsing, thresholds, and results on a hand-made lake."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pipeline import dq, schemas
from pipeline.analytics import connect
from pipeline.config import load_settings

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def test_shipped_checks_load_with_the_recall_target_from_settings() -> None:
    checks = {c.name: c for c in dq.load_checks(load_settings({"VITRINE_INDEX_RECALL_TARGET": "0.9"}))}
    assert checks["index_recall"].min == 0.9 and checks["index_recall"].python == "pipeline.dq:manifest_recall"
    assert checks["products_drop"].max == 0.5 and checks["price_median_jump"].max == 5
    assert all(c.description for c in checks.values())


@pytest.mark.parametrize(
    "body, error",
    [
        ("checks:\n  - name: a\n    sql: SELECT 1\n", "no min or max"),
        ("checks:\n  - name: a\n    max: 1\n", "exactly one of sql or python"),
        ("checks:\n  - sql: SELECT 1\n    max: 1\n", "needs a name"),
        ("checks:\n  - {name: a, sql: x, max: 1}\n  - {name: a, sql: y, max: 1}\n", "unique"),
    ],
)
def test_bad_check_config_is_one_clear_error(tmp_path, body, error) -> None:
    path = tmp_path / "checks.yaml"
    path.write_text(body)
    with pytest.raises(ValueError, match=error):
        dq.load_checks(load_settings({}), path)


def test_judge_names_the_check_subject_value_and_limit() -> None:
    check = dq.Check("products_drop", "fall in products", sql="-", max=0.5)
    ok, bad, missing = dq._judge(check, "acme", 0.1), dq._judge(check, "acme", 0.9), dq._judge(check, "acme", None)
    assert ok.passed and not bad.passed and not missing.passed
    assert bad.message.startswith("products_drop failed for acme: 0.9 (max 0.5)")
    assert bad.threshold == 0.5 and bad.value == 0.9


def _crawl(lake, retailer: str, day: date, available: int, median: str) -> None:
    schemas.CRAWL_STATS.write(
        lake,
        [
            {
                "day": day,
                "run_id": f"r-{day}",
                "products_available": available,
                "price_median": median,
                "complete": True,
                "started_at": NOW,
            }
        ],
        part=day,
        retailer=retailer,
    )


def test_crawl_checks_compare_each_retailer_with_its_previous_crawl_day(lake) -> None:
    _crawl(lake, "acme", date(2026, 3, 1), 100, "20")
    _crawl(lake, "acme", date(2026, 3, 2), 10, "20000")  # 90% fewer, prices ×1000
    _crawl(lake, "zeta", date(2026, 3, 1), 50, "30")
    _crawl(lake, "zeta", date(2026, 3, 2), 48, "31")
    _crawl(lake, "solo", date(2026, 3, 2), 5, "9")  # no previous crawl: nothing to compare
    checks = [c for c in dq.load_checks(load_settings({})) if c.name in ("products_drop", "price_median_jump")]
    con, _ = connect(lake)  # the shipped SQL, over the lake's views
    got = {}
    for check in checks:
        for subject, value in con.execute(check.sql).fetchall():
            got[(check.name, subject)] = dq._judge(check, subject, value)
    assert {k for k, r in got.items() if not r.passed} == {("products_drop", "acme"), ("price_median_jump", "acme")}
    assert got[("products_drop", "acme")].value == pytest.approx(0.9)
    assert got[("price_median_jump", "acme")].value == pytest.approx(1000)
    assert got[("products_drop", "zeta")].passed and ("products_drop", "solo") not in got


def test_results_are_recorded_per_run_and_replaced_on_rerun(lake) -> None:
    results = [dq.Result("a", "catalog", 1.0, 0.0, False, "a failed"), dq.Result("b", "acme", 0.0, 1.0, True, "b ok")]
    dq.record(lake, "run-1", results)
    dq.record(lake, "run-1", results[:1])
    dq.record(lake, "run-2", results)
    table = schemas.DQ_RESULTS.read(lake).to_pylist()
    assert sorted((r["run_id"], r["check_name"]) for r in table) == [("run-1", "a"), ("run-2", "a"), ("run-2", "b")]
    # runs filed under one key (a DAG and logical date): the later run's results replace the earlier one's
    dq.record(lake, "manual__1", results, run_key="catalog_refresh__20260302T030000Z")
    dq.record(lake, "manual__2", results[1:], run_key="catalog_refresh__20260302T030000Z")
    table = schemas.DQ_RESULTS.read(lake).to_pylist()
    assert sorted((r["run_id"], r["check_name"]) for r in table if r["run_id"].startswith("manual")) == [
        ("manual__2", "b")
    ]
    with pytest.raises(dq.DataQualityError, match="1 data-quality check\\(s\\) failed:\na failed"):
        dq.gate(results)
    dq.gate(results[1:])
