"""The lake backend contract: every scheme in ``pipeline.lake.SCHEMES`` passes this suite
(file://, s3:// on a moto server, memory://), through the :class:`Lake` front."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipeline.lake import SCHEMES, Lake, LakeError, PreconditionFailed
from tests.conftest import LAKE_FIXTURES


def test_every_registered_scheme_is_covered_here() -> None:
    assert sorted(LAKE_FIXTURES) == sorted(SCHEMES)


def test_bytes_roundtrip_and_listing(any_lake: Lake) -> None:
    any_lake.write_bytes("a/b/c.bin", b"hello")
    any_lake.write_bytes("a/d.bin", b"x" * 10)
    assert any_lake.read_bytes("a/b/c.bin") == b"hello"
    assert any_lake.list("a/") == ["a/b/c.bin", "a/d.bin"]
    assert any_lake.info("a/d.bin").size == 10
    assert any_lake.exists("a/d.bin") and not any_lake.exists("a/zzz")
    with pytest.raises(FileNotFoundError, match="nope"):
        any_lake.read_bytes("nope")
    with pytest.raises(FileNotFoundError):
        any_lake.info("nope")
    any_lake.delete("a/zzz")  # absent: no error
    assert any_lake.delete_prefix("a/") == 2
    assert any_lake.list("a/") == []


def test_overwrite_changes_the_version_tag(any_lake: Lake) -> None:
    any_lake.write_bytes("k.bin", b"one")
    first = any_lake.info("k.bin").etag
    any_lake.write_bytes("k.bin", b"two!")
    assert any_lake.info("k.bin").etag != first
    assert any_lake.read_bytes("k.bin") == b"two!"


def test_partitioned_table(any_lake: Lake) -> None:
    for retailer in ("acme", "zeta"):
        table = pa.table({"product_id": [f"{retailer}:1", f"{retailer}:2"], "price": [1.0, 2.0]})
        any_lake.write_parquet(f"tables/products/retailer={retailer}/part-0.parquet", table)
    everything = any_lake.read_table("tables/products")
    assert everything.num_rows == 4
    assert sorted(set(everything["retailer"].to_pylist())) == ["acme", "zeta"]
    only = any_lake.read_table("tables/products", partitions={"retailer": "zeta"})
    assert only["product_id"].to_pylist() == ["zeta:1", "zeta:2"]
    assert any_lake.read_table("tables/missing") is None


def test_conditional_writes(any_lake: Lake) -> None:
    any_lake.write_json("latest.json", {"v": 1}, if_none_match=True)
    with pytest.raises(PreconditionFailed):
        any_lake.write_json("latest.json", {"v": 2}, if_none_match=True)
    tag = any_lake.info("latest.json").etag
    any_lake.write_json("latest.json", {"v": 3}, if_match=tag)
    with pytest.raises(PreconditionFailed):
        any_lake.write_json("latest.json", {"v": 4}, if_match=tag)
    assert any_lake.read_json("latest.json") == {"v": 3}


def test_put_and_get_file(any_lake: Lake, tmp_path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(b"\0" * 1000)
    any_lake.put_file("files/big.bin", src)
    assert any_lake.get_file("files/big.bin", tmp_path / "out" / "o.bin").read_bytes() == b"\0" * 1000
    with pytest.raises(FileNotFoundError):
        any_lake.get_file("files/missing.bin", tmp_path / "missing.bin")


def test_local_path_is_a_capability(any_lake: Lake) -> None:
    """Callers ask for a local path instead of testing the scheme: a path holding the bytes, or None."""
    any_lake.write_bytes("t/x.bin", b"local?")
    local = any_lake.local_path("t/x.bin")
    assert local is None or local.read_bytes() == b"local?"


def test_same_root_same_objects(any_lake: Lake) -> None:
    any_lake.write_bytes("shared.bin", b"seen")
    assert Lake(any_lake.root).read_bytes("shared.bin") == b"seen"


def test_rejects_unknown_scheme() -> None:
    with pytest.raises(LakeError, match="unsupported lake URI 'ftp://host/x': use one of file://, s3://"):
        Lake("ftp://host/x")
