"""The DuckDB views in sql/duckdb read the lake's Hive-partitioned tables."""
from __future__ import annotations

import pyarrow as pa
import pytest

from pipeline.analytics import VIEWS_SQL, connect, view_statements
from pipeline.lake import LakeError


def test_every_view_has_a_statement() -> None:
    views = view_statements(VIEWS_SQL.read_text())
    assert {"products", "images", "items", "attributes", "embeddings", "offers"} <= set(views)
    assert all(f"CREATE OR REPLACE VIEW {name} AS" in s for name, s in views.items())


def test_views_over_partitioned_tables(lake) -> None:
    for retailer, n in (("acme", 2), ("zeta", 3)):
        rows = pa.table({"product_id": [f"{retailer}:{i}" for i in range(n)], "available": [True] * n})
        lake.write_parquet(f"tables/products/retailer={retailer}/part-0.parquet", rows)
    offer = pa.struct([("retailer", pa.string()), ("product_id", pa.string()), ("url", pa.string()),
                       ("price", pa.float64()), ("currency", pa.string())])
    items = pa.table({
        "item_id": ["i1"], "title": ["Tee"],
        "offers": pa.array([[{"retailer": "acme", "product_id": "acme:0", "url": "u", "price": 9.5,
                              "currency": "EUR"},
                             {"retailer": "zeta", "product_id": "zeta:1", "url": "v", "price": 12.0,
                              "currency": "EUR"}]], pa.list_(offer)),
    })
    lake.write_parquet("tables/items/part-0.parquet", items)
    con, views = connect(lake)
    assert "images" not in views  # no files yet: skipped, not an error
    counts = con.sql("SELECT retailer, count(*) FROM products GROUP BY 1 ORDER BY 1").fetchall()
    assert counts == [("acme", 2), ("zeta", 3)]
    assert con.sql("SELECT retailer, price FROM offers ORDER BY price").fetchall() == [("acme", 9.5), ("zeta", 12.0)]


def test_s3_lake_is_refused_with_a_pointer_to_athena(s3_lake) -> None:
    with pytest.raises(LakeError, match="Athena"):
        connect(s3_lake)
