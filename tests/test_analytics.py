"""The SQL side of the lake: generated DuckDB views and Athena DDL match pipeline/schemas.py
column for column and type for type; DuckDB reads file:// and s3:// (moto) lakes; `vitrine sql`."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import analytics, schemas, sqlgen
from pipeline.cli import main

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def write_small_lake(lake) -> None:
    """Two retailers' products, an item with two offers, a day of history: all through schemas."""
    for retailer, n in (("acme", 2), ("zeta", 3)):
        schemas.PRODUCTS.write(
            lake,
            [
                {
                    "product_id": f"{retailer}:{i}",
                    "title": f"Tee {i}",
                    "price": 9.5 + i,
                    "currency": "EUR",
                    "available": True,
                    "scraped_at": NOW,
                    "tags": ["a"],
                }
                for i in range(n)
            ],
            retailer=retailer,
        )
    schemas.ITEMS.write(
        lake,
        [
            {
                "item_id": "i1",
                "group_id": "i1",
                "canonical_sha256": "s1",
                "title": "Tee",
                "offers": [
                    {"retailer": "acme", "product_id": "acme:0", "url": "u", "price": 9.5, "currency": "EUR"},
                    {"retailer": "zeta", "product_id": "zeta:1", "url": "v", "price": "12.00", "currency": "EUR"},
                ],
            }
        ],
    )
    schemas.PRODUCT_HISTORY.write(
        lake, [{"retailer": "acme", "product_id": "acme:0", "price": 9.5}], day=date(2026, 3, 2)
    )


def describe(con, name: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in con.execute(f"DESCRIBE {name}").fetchall()]


def expected(table: schemas.Table) -> list[tuple[str, str]]:
    return [(c.name, sqlgen.duckdb_type(c.type)) for c in table.all_columns]


def test_committed_sql_is_generated_from_the_schemas() -> None:
    assert analytics.VIEWS_SQL.read_text() == sqlgen.duckdb_views_sql(), "run `vitrine sql --write-sql`"
    assert analytics.ATHENA_SQL.read_text() == sqlgen.athena_sql(), "run `vitrine sql --write-sql`"
    readme = analytics.README.read_text()
    assert analytics.readme_with_tables(readme) == readme, "run `vitrine sql --write-sql`"
    assert "| `price` | DECIMAL(18,4) |" in readme


def _athena_columns(ddl: str) -> dict[str, list[tuple[str, str]]]:
    """Table → [(column, type)] parsed back from the Athena DDL text (data, then partition columns)."""
    tables = {}
    for m in re.finditer(
        r"CREATE EXTERNAL TABLE IF NOT EXISTS \$\{DB\}\.(\w+) \(\n(.*?)\n\)\n(PARTITIONED BY \((.*?)\)\n)?", ddl, re.S
    ):
        cols = [tuple(line.split(None, 1)) for line in m.group(2).split(",\n")]
        parts = [tuple(p.split(None, 1)) for p in m.group(4).split(", ")] if m.group(4) else []
        tables[m.group(1)] = [(n.strip(), t.strip()) for n, t in cols + parts]
    return tables


def test_athena_ddl_matches_the_schemas_column_for_column() -> None:
    parsed = _athena_columns(analytics.ATHENA_SQL.read_text())
    stored = [t for t in schemas.all_tables() if t.view is None]
    assert set(parsed) == {t.name for t in stored}
    for table in stored:
        assert parsed[table.name] == [(c.name, sqlgen.athena_type(c.type)) for c in table.all_columns], table.name
    # prices are exact decimals, partitions are projected (no partition filter needed)
    assert ("price", "decimal(18,4)") in parsed["products"]
    ddl = analytics.ATHENA_SQL.read_text()
    assert "'projection.retailer.type' = 'enum'" in ddl and "'projection.day.type' = 'date'" in ddl
    assert "injected" not in ddl


def test_athena_ddl_for_a_lake_fills_in_retailers_and_models(lake) -> None:
    sql = sqlgen.fill_athena(
        sqlgen.athena_sql(),
        database="vitrine",
        lake="s3://bucket/lake/",
        retailers=["acme", "zeta"],
        model_versions=["v1"],
    )
    assert "${" not in sql.replace("${retailer}", "").replace("${model_version}", "").replace("${day}", "")
    assert "LOCATION 's3://bucket/lake/tables/products/'" in sql
    assert "'projection.retailer.values' = 'acme,zeta'" in sql


def test_views_of_an_empty_lake_have_every_column(lake) -> None:
    con, with_files = analytics.connect(lake)
    assert with_files == []
    for table in schemas.all_tables():
        assert describe(con, table.name) == expected(table), table.name
        assert con.execute(f"SELECT count(*) FROM {table.name}").fetchone() == (0,)


def test_views_over_partitioned_tables_match_the_schemas(lake) -> None:
    write_small_lake(lake)
    con, with_files = analytics.connect(lake)
    assert {"products", "items", "product_history"} <= set(with_files)
    for table in schemas.all_tables():
        assert describe(con, table.name) == expected(table), table.name
    counts = con.sql("SELECT retailer, count(*) FROM products GROUP BY 1 ORDER BY 1").fetchall()
    assert counts == [("acme", 2), ("zeta", 3)]
    assert con.sql("SELECT retailer, price FROM offers ORDER BY price").fetchall() == [
        ("acme", Decimal("9.5")),
        ("zeta", Decimal("12")),
    ]
    assert con.sql("SELECT day FROM product_history").fetchall() == [(date(2026, 3, 2),)]
    # partition columns come from the path, not the files
    for key in lake.list("tables/products/"):
        assert "retailer" not in pq.read_schema(lake.local_path(key)).names


def test_current_attributes_follow_the_production_model_not_the_newest(lake) -> None:
    color = schemas.attributes_table(["color"])
    for version, value in (("initial-aaa", "red"), ("20260301T000000Z-bbb", "blue")):
        color.write(lake, [{"item_id": "i1", "color": value, "color_confidence": 0.9}], model_version=version)
    schemas.MODELS.write(
        lake,
        [
            {"model_version": "initial-aaa", "is_production": True, "promoted": True},
            {"model_version": "20260301T000000Z-bbb", "is_production": False},
        ],
    )
    con, _ = analytics.connect(lake)
    assert con.sql("SELECT model_version, color FROM current_attributes").fetchall() == [("initial-aaa", "red")]


def test_duckdb_reads_an_s3_lake(s3_lake) -> None:
    write_small_lake(s3_lake)
    con, with_files = analytics.connect(s3_lake)
    assert {"products", "items", "product_history"} <= set(with_files)
    assert con.sql("SELECT retailer, count(*) FROM products GROUP BY 1 ORDER BY 1").fetchall() == [
        ("acme", 2),
        ("zeta", 3),
    ]
    assert con.execute("SELECT sum(price) FROM offers").fetchone() == (Decimal("21.5"),)
    assert describe(con, "products") == expected(schemas.PRODUCTS)


def test_vitrine_sql_command_csv_parquet_and_database_file(lake, tmp_path, capsys) -> None:
    write_small_lake(lake)

    def sql(*options: str, db: str = ":memory:") -> int:
        return main(["sql", "--lake", lake.root, "--db", db, *options])

    per_retailer = "SELECT retailer, count(*) AS n FROM products GROUP BY 1 ORDER BY 1"
    assert sql("-c", per_retailer) == 0
    out = capsys.readouterr().out
    assert "acme" in out and "zeta" in out

    csv = tmp_path / "out.csv"
    assert sql("--csv", str(csv), "-c", per_retailer) == 0
    assert csv.read_text().splitlines() == ["retailer,n", "acme,2", "zeta,3"]

    query = tmp_path / "q.sql"
    query.write_text("-- prices of one offer\nSELECT product_id, price FROM offers ORDER BY price;\n")
    parquet = tmp_path / "out.parquet"
    assert sql("--parquet", str(parquet), "-f", str(query)) == 0
    assert pq.read_table(parquet).to_pylist() == [
        {"product_id": "acme:0", "price": Decimal("9.5000")},
        {"product_id": "zeta:1", "price": Decimal("12.0000")},
    ]

    import duckdb

    database = tmp_path / "lake.duckdb"
    assert sql("-c", "SELECT 1", db=str(database)) == 0
    with duckdb.connect(str(database), read_only=True) as con:  # another SQL client: no variables needed
        assert con.execute("SELECT count(*) FROM products").fetchone() == (5,)


def test_interactive_prompt(lake, monkeypatch, capsys) -> None:
    write_small_lake(lake)
    con, views = analytics.connect(lake)
    lines = iter(["SELECT count(*) AS n", "FROM products;", "SELECT nope FROM products;", ".tables", ".quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    analytics.repl(con, views)
    out = capsys.readouterr().out
    assert re.search(r"│\s+5\s+│", out), out  # the two-line statement ran
    assert "error:" in out and "nope" in out
    assert "images (no files yet)" in out


def test_money_is_exact(lake) -> None:
    table = schemas.PRODUCTS.arrow([{"product_id": "p", "price": 0.1}, {"product_id": "q", "price": "19.99"}])
    assert table.schema.field("price").type == pa.decimal128(18, 4)
    assert table.column("price").to_pylist() == [Decimal("0.1000"), Decimal("19.9900")]
