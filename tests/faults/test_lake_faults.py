"""Lake storage under faults (issue 18 §7, §10): two processes racing ``put_file`` on one key,
and an S3 lake behind a proxy that fails 30% of requests (5xx, SlowDown, truncated bodies,
lost responses)."""

from __future__ import annotations

import os
import subprocess
import sys

import boto3
from s3proxy import FaultProxy

from pipeline.lake import Lake

WRITER = """
import sys
from pathlib import Path
from pipeline.lake import Lake
lake, src, n = Lake(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
for _ in range(n):
    lake.put_file("tables/embeddings/part-0.parquet", src)
"""


def test_two_processes_racing_put_file_leave_one_whole_input(lake, tmp_path):
    inputs = []
    for name, byte in (("a", b"a"), ("b", b"b")):
        path = tmp_path / name
        path.write_bytes(byte * (4 << 20))
        inputs.append(path)
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, lake.root, str(src), "40"], stderr=subprocess.PIPE)
        for src in inputs
    ]
    results = [(p.wait(timeout=300), p.stderr.read().decode()) for p in procs]
    assert all(code == 0 for code, _ in results), results
    final = lake.read_bytes("tables/embeddings/part-0.parquet")
    assert final in (inputs[0].read_bytes(), inputs[1].read_bytes())
    assert [k for k in os.listdir(lake.local_path("tables/embeddings"))] == ["part-0.parquet"]  # no temp left


def test_s3_lake_survives_30_percent_faults(moto_server, monkeypatch, tmp_path):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    boto3.client("s3", endpoint_url=moto_server).create_bucket(Bucket="vitrine-faults")
    with FaultProxy(moto_server, rate=0.3, seed=18) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        lake = Lake("s3://vitrine-faults/lake")
        payloads = {f"tables/t/part-{i}.bin": os.urandom(50_000 + i) for i in range(40)}
        for key, data in payloads.items():
            lake.write_bytes(key, data)
        for key, data in payloads.items():
            assert lake.read_bytes(key) == data
        local = tmp_path / "big.bin"
        local.write_bytes(os.urandom(300_000))
        lake.put_file("releases/r/index.ann", local)
        assert lake.get_file("releases/r/index.ann", tmp_path / "back.bin").read_bytes() == local.read_bytes()
        assert sorted(lake.list("tables/t/")) == sorted(payloads)
    assert set(proxy.injected) == {"500", "slowdown", "truncate", "lose"}, proxy.injected
