"""The janitor (``vitrine gc``): scratch of crashed runs older than the threshold goes,
recent scratch and everything else stays."""

from __future__ import annotations

import os
import time

import pytest

from pipeline.gc import collect

DAY = 86400


@pytest.fixture(params=["file", "s3"])
def any_lake(request):
    return request.getfixturevalue("lake" if request.param == "file" else "s3_lake")


def test_gc_removes_old_scratch_only(any_lake, tmp_path):
    lake = any_lake
    for key in (
        "staging/run-old/index/index.ann",
        "staging/run-old/publish/release.json",
        "staging/embed-plan/model_version=v1/shard-0.parquet",
        "staging/run-new/index/items.parquet",
        "releases/r1/manifest.json",
        "tables/items/part-0.parquet",
        "images/ab/abc.jpg",
    ):
        lake.write_bytes(key, b"x")
    tmp_root = tmp_path / "tmp"
    (tmp_root / "vitrine-scrape-acme-123").mkdir(parents=True)
    (tmp_root / "vitrine-publish-new").mkdir()
    (tmp_root / "other-tool").mkdir()
    now = time.time()
    if lake.local_path("") is not None:  # file lake: age the old scratch and add an interrupted write
        partial = lake.local_path("tables/items/.part-0.parquet.x1y2")
        partial.write_bytes(b"half")
        for key in (
            "staging/run-old/index/index.ann",
            "staging/run-old/publish/release.json",
            "staging/embed-plan/model_version=v1/shard-0.parquet",
        ):
            os.utime(lake.local_path(key), (now - 2 * DAY, now - 2 * DAY))
        os.utime(partial, (now - 2 * DAY, now - 2 * DAY))
        clock = now
    else:  # S3 keeps its own LastModified: look from two days ahead (all staging is old then)
        clock = now + 2 * DAY
        os.utime(tmp_root / "vitrine-publish-new", (clock, clock))
    os.utime(tmp_root / "vitrine-scrape-acme-123", (now - 2 * DAY, now - 2 * DAY))
    done = collect(lake, DAY, tmp_root=tmp_root, now=clock)

    remaining = lake.list("")
    if lake.local_path("") is not None:
        assert sorted(done.staging_runs) == ["staging/embed-plan", "staging/run-old"]
        assert len(done.partial_files) == 1
        assert "staging/run-new/index/items.parquet" in remaining
    for key in ("releases/r1/manifest.json", "tables/items/part-0.parquet", "images/ab/abc.jpg"):
        assert key in remaining
    assert not any(k.startswith("staging/run-old/") for k in remaining)
    assert [p.rsplit("/", 1)[1] for p in done.tmp_dirs] == ["vitrine-scrape-acme-123"]
    assert (tmp_root / "other-tool").exists() and (tmp_root / "vitrine-publish-new").exists()
