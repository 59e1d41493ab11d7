"""DuckDB over the lake's Parquet tables, with the views from ``sql/duckdb/views.sql``."""
from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config import REPO_ROOT
from pipeline.lake import Lake, LakeError, open_lake

if TYPE_CHECKING:
    import duckdb

VIEWS_SQL = REPO_ROOT / "sql" / "duckdb" / "views.sql"
_VIEW = re.compile(r"^-- view: (\w+)\s*$", re.MULTILINE)


def view_statements(sql: str) -> dict[str, str]:
    """Split views.sql into ``{view name: CREATE statement}`` by its ``-- view:`` markers."""
    marks = list(_VIEW.finditer(sql))
    ends = [m.start() for m in marks[1:]] + [len(sql)]
    return {m.group(1): sql[m.end() : end].strip() for m, end in zip(marks, ends)}


def connect(lake: Lake, database: str = ":memory:") -> tuple["duckdb.DuckDBPyConnection", list[str]]:
    """A DuckDB connection with a view per lake table that has data; returns (con, views)."""
    import duckdb

    root = lake.local_path("")
    if root is None:
        raise LakeError(
            "DuckDB views need a local lake; for s3:// use the Athena DDL in sql/athena/ "
            "or DuckDB with the httpfs extension and SET VARIABLE lake = 's3://...'"
        )
    con = duckdb.connect(database)
    con.execute("SET VARIABLE lake = ?", [str(root)])
    created = []
    for name, statement in view_statements(VIEWS_SQL.read_text()).items():
        try:
            con.execute(statement)
            con.execute(f"SELECT * FROM {name} LIMIT 0")
        except duckdb.IOException:  # the table has no files yet
            con.execute(f"DROP VIEW IF EXISTS {name}")
            continue
        created.append(name)
    return con, created


def cmd_sql(args: argparse.Namespace) -> int:
    con, views = connect(open_lake(args.lake))
    print(f"views: {', '.join(views) or '(none: run catalog_refresh first)'}")
    queries = [args.query] if args.query else [Path(args.file).read_text()] if args.file else []
    for query in queries:
        for statement in filter(str.strip, query.split(";")):
            print(con.sql(statement))
    return 0


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sql", help="query the lake tables with DuckDB (views from sql/duckdb)")
    p.add_argument("query", nargs="?", help="SQL to run, e.g. 'SELECT * FROM items LIMIT 5'")
    p.add_argument("-f", "--file", help="run the statements of a .sql file")
    p.add_argument("--lake", help="lake URI (default: $VITRINE_LAKE)")
    p.set_defaults(func=cmd_sql)
