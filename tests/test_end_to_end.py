"""catalog_refresh end to end through Airflow (`vitrine dag-run`, a fresh SQLite home) against a
tiny demo shop, on a file lake (twice: idempotent re-run) and on S3 (moto server)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow.compute as pc
import pytest
from annoy import AnnoyIndex

from pipeline import layout
from pipeline.demo_shop import DemoShop
from pipeline.lake import Lake
from pipeline.taxonomy import CONTRACT_VOCABULARIES
from tests.support.dagrun import dag_run, vitrine_env

pytestmark = pytest.mark.heavy  # whole DAG runs or training: scheduled first (conftest)


@pytest.fixture(scope="module")
def shop() -> Iterator[DemoShop]:
    with DemoShop(n_products=9, seed=7) as shop:
        yield shop


def refresh(tmp_path: Path, shop: DemoShop, lake_uri: str) -> str:
    """Run `vitrine dag-run catalog_refresh` in a subprocess with only Vitrine's environment."""
    env = vitrine_env(tmp_path, lake_uri, shop.write_registry(tmp_path / "retailers.yaml"))
    proc = dag_run(tmp_path, env)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]
    assert "catalog_refresh: success" in proc.stdout
    return proc.stdout


def assert_release_is_complete(lake: Lake, tmp_path: Path) -> dict:
    """Open the release latest.json points to, as a consumer would, and check every promise."""
    latest = lake.read_json(layout.LATEST)
    manifest = lake.read_json(latest["manifest"])
    prefix = layout.release_prefix(latest["release_id"])
    assert manifest["release_id"] == latest["release_id"]
    assert {"created_at", "model_version", "n_items", "dim", "metric", "n_trees", "recall_at_10"} <= set(manifest)
    assert set(manifest["files"]) == {"index.ann", "items.parquet", "attributes.parquet"}
    for name, meta in manifest["files"].items():
        data = lake.read_bytes(f"{prefix}/{name}")
        assert len(data) == meta["bytes"] and hashlib.sha256(data).hexdigest() == meta["sha256"], name
    local = lake.get_file(f"{prefix}/index.ann", tmp_path / "check" / latest["release_id"] / "index.ann")
    index = AnnoyIndex(manifest["dim"], manifest["metric"])
    assert index.load(str(local))
    n = manifest["n_items"]
    assert n > 0 and index.get_n_items() == n
    items = lake.read_parquet(f"{prefix}/items.parquet")
    assert sorted(items["annoy_id"].to_pylist()) == list(range(n))
    assert all(len(offers) >= 1 for offers in items["offers"].to_pylist())
    attributes = lake.read_parquet(f"{prefix}/attributes.parquet")
    assert sorted(attributes["item_id"].to_pylist()) == sorted(items["item_id"].to_pylist())
    for name, vocabulary in CONTRACT_VOCABULARIES.items():
        assert set(attributes[name].to_pylist()) - {None} <= set(vocabulary)  # None: untrained initial model
        confidence = attributes[f"{name}_confidence"]
        assert pc.all(pc.and_(pc.greater_equal(confidence, 0), pc.less_equal(confidence, 1))).as_py()
    return manifest


def assert_no_duplicate_rows(lake: Lake) -> None:
    keys = {
        "products": ["product_id"],
        "images": ["retailer", "product_id", "url"],
        "duplicates": ["sha256"],
        "items": ["item_id"],
        "attributes": ["model_version", "item_id"],
        "embeddings": ["model_version", "image_sha256"],
        "releases": ["release_id"],
    }
    for table, columns in keys.items():
        rows = lake.read_table(layout.table(table))
        assert rows is not None, table
        pairs = list(zip(*(rows[c].to_pylist() for c in columns)))
        assert len(pairs) == len(set(pairs)), f"duplicated rows in {table}"


def test_catalog_refresh_on_file_lake_twice(tmp_path, shop) -> None:
    lake = Lake(f"file://{tmp_path / 'lake'}")
    refresh(tmp_path, shop, lake.root)
    first = assert_release_is_complete(lake, tmp_path)
    items_first = set(lake.read_table(layout.table("items"))["item_id"].to_pylist())
    # products shared by both storefronts are one item with two offers
    offers = lake.read_table(layout.table("items"))["offers"].to_pylist()
    assert any(len({o["retailer"] for o in item}) == 2 for item in offers)

    refresh(tmp_path, shop, lake.root)
    second = assert_release_is_complete(lake, tmp_path)
    assert second["release_id"] != first["release_id"]
    assert set(lake.read_table(layout.table("items"))["item_id"].to_pylist()) == items_first
    assert second["n_items"] == first["n_items"]
    assert lake.exists(f"{layout.release_prefix(first['release_id'])}/manifest.json")  # retained
    assert_no_duplicate_rows(lake)
    assert lake.read_table(layout.table("releases")).num_rows == 2


def test_catalog_refresh_on_s3(tmp_path, shop, s3_env) -> None:
    import boto3

    boto3.client("s3").create_bucket(Bucket="vitrine-e2e")
    lake = Lake("s3://vitrine-e2e/lake")
    refresh(tmp_path, shop, lake.root)  # the moto server's AWS_* variables pass through
    manifest = assert_release_is_complete(lake, tmp_path)
    assert lake.list("images/"), "images were stored in the bucket"
    assert manifest["n_items"] == lake.read_table(layout.table("items")).num_rows
