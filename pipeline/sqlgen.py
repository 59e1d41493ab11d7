"""SQL generated from :mod:`pipeline.schemas`: DuckDB views and Athena DDL (pure text, no I/O).

``sql/duckdb/views.sql`` and ``sql/athena/tables.sql`` are this module's output, committed so
analysts can read them; ``vitrine sql --write-sql`` regenerates them and a test keeps them equal.
"""

from __future__ import annotations

import pyarrow as pa

from pipeline.schemas import Column, Table, all_tables

LAKE_VARIABLE = "getvariable('lake')"

# Athena partition projection per partition column: works without a partition filter.
# ${RETAILERS} / ${MODEL_VERSIONS} are filled from the registry and the lake's models.
PROJECTION = {
    "retailer": {"type": "enum", "values": "${RETAILERS}"},
    "model_version": {"type": "enum", "values": "${MODEL_VERSIONS}"},
    "day": {
        "type": "date",
        "range": "2026-01-01,NOW",
        "format": "yyyy-MM-dd",
        "interval": "1",
        "interval.unit": "DAYS",
    },
}


DIALECTS = ("DuckDB", "Athena")  # DuckDB as its DESCRIBE spells types; Athena's Hive DDL
# Each type's spelling per dialect, in DIALECTS order; composites are filled in with str.format.
SCALARS: dict[pa.DataType, tuple[str, str]] = {
    pa.string(): ("VARCHAR", "string"),
    pa.large_string(): ("VARCHAR", "string"),
    pa.bool_(): ("BOOLEAN", "boolean"),
    pa.int16(): ("SMALLINT", "smallint"),
    pa.int32(): ("INTEGER", "int"),
    pa.int64(): ("BIGINT", "bigint"),
    pa.float32(): ("FLOAT", "float"),
    pa.float64(): ("DOUBLE", "double"),
    pa.date32(): ("DATE", "date"),
}
COMPOSITES: dict[str, tuple[str, str]] = {
    "timestamp": ("TIMESTAMP", "timestamp"),
    "timestamp_tz": ("TIMESTAMP WITH TIME ZONE", "timestamp"),
    "decimal": ("DECIMAL({precision},{scale})", "decimal({precision},{scale})"),
    "map": ("MAP({key}, {value})", "map<{key},{value}>"),
    "list": ("{item}[]", "array<{item}>"),
    "struct": ("STRUCT({fields})", "struct<{fields}>"),  # fields: each `field`, joined by `separator`
    "field": ("{name} {type}", "{name}:{type}"),
    "separator": (", ", ","),
}


def sql_type(t: pa.DataType, dialect: str) -> str:
    """The type of an Arrow type in one of DIALECTS; TypeError for one it cannot spell."""
    column = DIALECTS.index(dialect)
    spell = {name: forms[column] for name, forms in COMPOSITES.items()}
    if t in SCALARS:
        return SCALARS[t][column]
    if pa.types.is_timestamp(t):
        return spell["timestamp_tz" if t.tz else "timestamp"]
    if pa.types.is_decimal(t):
        return spell["decimal"].format(precision=t.precision, scale=t.scale)
    if pa.types.is_map(t):
        return spell["map"].format(key=sql_type(t.key_type, dialect), value=sql_type(t.item_type, dialect))
    if pa.types.is_list(t) or pa.types.is_fixed_size_list(t):
        return spell["list"].format(item=sql_type(t.value_type, dialect))
    if pa.types.is_struct(t):
        fields = (spell["field"].format(name=f.name, type=sql_type(f.type, dialect)) for f in t)
        return spell["struct"].format(fields=spell["separator"].join(fields))
    raise TypeError(f"no {dialect} type for {t}")


def duckdb_type(t: pa.DataType) -> str:
    """The DuckDB type of an Arrow type."""
    return sql_type(t, "DuckDB")


def athena_type(t: pa.DataType) -> str:
    """The Athena (Hive DDL) type of an Arrow type."""
    return sql_type(t, "Athena")


# -- DuckDB -------------------------------------------------------------------------------
def _files_glob(table: Table, lake: str) -> str:
    depth = "/*" * len(table.partitions)
    return f"{lake} || '/tables/{table.name}{depth}/*.parquet'"


def _select_list(columns: tuple[Column, ...], present: set[str] | None = None) -> str:
    """Each column cast to its type; a column no file has yet (``present``) is a typed NULL."""
    return ",\n       ".join(
        f"CAST({c.name if present is None or c.name in present else 'NULL'} AS {duckdb_type(c.type)}) AS {c.name}"
        for c in columns
    )


def duckdb_files(table: Table, lake: str = LAKE_VARIABLE) -> str:
    """``read_parquet(...)`` over every file of a table, partition columns typed."""
    options = ["union_by_name = true"]
    if table.partitions:
        types = ", ".join(f"'{c.name}': '{duckdb_type(c.type)}'" for c in table.partitions)
        options = ["hive_partitioning = true", f"hive_types = {{{types}}}", *options]
    return f"read_parquet({_files_glob(table, lake)}, {', '.join(options)})"


def duckdb_view(table: Table, lake: str = LAKE_VARIABLE, present: set[str] | None = None) -> str:
    """``CREATE OR REPLACE VIEW`` over the table's files (or its derived SQL)."""
    if table.view is not None:
        sql = table.view.format(**{t.name: t.name for t in all_tables()})
        return f"CREATE OR REPLACE VIEW {table.name} AS\n{sql};"
    return (
        f"CREATE OR REPLACE VIEW {table.name} AS\n"
        f"SELECT {_select_list(table.all_columns, present)}\n"
        f"FROM {duckdb_files(table, lake)};"
    )


def duckdb_empty_view(table: Table) -> str:
    """A view with the table's columns and no rows (for a table with no files yet)."""
    nulls = ",\n       ".join(f"CAST(NULL AS {duckdb_type(c.type)}) AS {c.name}" for c in table.all_columns)
    return f"CREATE OR REPLACE VIEW {table.name} AS\nSELECT {nulls}\nWHERE false;"


def duckdb_views_sql() -> str:
    """The text of ``sql/duckdb/views.sql``."""
    parts = [
        "-- DuckDB views over a Vitrine lake, generated from pipeline/schemas.py (vitrine sql --write-sql).",
        "-- Set the lake root first, then read this file:",
        "--   SET VARIABLE lake = '/path/to/.vitrine/lake';   -- or 's3://bucket/prefix' (see README)",
        "--   .read sql/duckdb/views.sql",
        "-- `vitrine sql` does both, for file:// and s3:// lakes.",
    ]
    for table in all_tables():
        parts.append(f"\n-- view: {table.name}\n-- {table.doc}\n{duckdb_view(table)}")
    return "\n".join(parts) + "\n"


# -- Athena -------------------------------------------------------------------------------
def athena_table(table: Table) -> str:
    """``CREATE EXTERNAL TABLE`` (or ``CREATE OR REPLACE VIEW``) for Athena."""
    if table.view is not None:
        sql = table.view.format(**{t.name: f"${{DB}}.{t.name}" for t in all_tables()})
        return f"CREATE OR REPLACE VIEW ${{DB}}.{table.name} AS\n{sql};"
    width = max(len(c.name) for c in table.columns)
    cols = ",\n".join(f"  {c.name.ljust(width)} {athena_type(c.type)}" for c in table.columns)
    location = f"${{LAKE}}/tables/{table.name}/"
    lines = [f"CREATE EXTERNAL TABLE IF NOT EXISTS ${{DB}}.{table.name} (", cols, ")"]
    if table.partitions:
        parts = ", ".join(f"{c.name} {athena_type(c.type)}" for c in table.partitions)
        lines.append(f"PARTITIONED BY ({parts})")
    lines += ["STORED AS PARQUET", f"LOCATION '{location}'"]
    if table.partitions:
        props = {"projection.enabled": "true"}
        for c in table.partitions:
            props.update({f"projection.{c.name}.{k}": v for k, v in PROJECTION[c.name].items()})
        template = location + "/".join(f"{c.name}=${{{c.name}}}" for c in table.partitions) + "/"
        props["storage.location.template"] = template
        body = ",\n  ".join(f"'{k}' = '{v}'" for k, v in props.items())
        lines.append(f"TBLPROPERTIES (\n  {body}\n)")
    return "\n".join(lines) + ";"


def athena_sql() -> str:
    """The text of ``sql/athena/tables.sql``."""
    header = [
        "-- Athena DDL for a Vitrine lake, generated from pipeline/schemas.py (vitrine sql --write-sql).",
        "-- Placeholders: ${DB} Glue database, ${LAKE} s3://bucket/prefix, ${RETAILERS} and",
        "-- ${MODEL_VERSIONS} comma-separated partition values; `vitrine sql --athena-ddl DB` fills them in.",
        "",
        "CREATE DATABASE IF NOT EXISTS ${DB};",
    ]
    body = [f"\n-- {t.name}: {t.doc}\n{athena_table(t)}" for t in all_tables()]
    return "\n".join(header + body) + "\n"


def fill_athena(sql: str, *, database: str, lake: str, retailers: list[str], model_versions: list[str]) -> str:
    """The Athena DDL with its placeholders filled in for one lake."""
    for name, value in (
        ("DB", database),
        ("LAKE", lake.rstrip("/")),
        ("RETAILERS", ",".join(retailers)),
        ("MODEL_VERSIONS", ",".join(model_versions)),
    ):
        sql = sql.replace(f"${{{name}}}", value)
    return sql


# -- README -------------------------------------------------------------------------------
def markdown_tables() -> str:
    """The README's table reference: every table and view with its columns, types and meaning."""
    out = []
    for table in all_tables():
        where = (
            "view"
            if table.view is not None
            else (
                "partitioned by " + ", ".join(f"`{c.name}`" for c in table.partitions)
                if table.partitions
                else "one folder"
            )
        )
        out.append(f"#### `{table.name}`\n\n{table.doc}\nLayout: {where}; key: {', '.join(table.key)}.\n")
        out.append("| column | type | meaning |\n|---|---|---|")
        out += [f"| `{c.name}` | {duckdb_type(c.type)} | {c.doc} |" for c in table.all_columns]
        out.append("")
    return "\n".join(out)
