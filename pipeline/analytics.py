"""DuckDB over the lake: a view per table (generated from :mod:`pipeline.schemas`), for
``file://`` and ``s3://`` lakes, and the ``vitrine sql`` command.

S3 lakes are read through pyarrow's S3 filesystem registered with DuckDB as an fsspec
filesystem (DuckDB's httpfs extension cannot be installed from the package registry); its
endpoint, region and credentials come from the same AWS chain as the lake's boto3 client.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import sqlgen
from pipeline.config import REPO_ROOT, settings
from pipeline.lake import Lake, LakeError, open_lake
from pipeline.schemas import all_tables

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

VIEWS_SQL = REPO_ROOT / "sql" / "duckdb" / "views.sql"
ATHENA_SQL = REPO_ROOT / "sql" / "athena" / "tables.sql"
EXAMPLES = REPO_ROOT / "sql" / "duckdb" / "examples"
README = REPO_ROOT / "README.md"


def _s3_filesystem() -> Any:
    """An fsspec view of pyarrow's S3 filesystem, configured from the boto3 client's chain."""
    import boto3
    from fsspec.implementations.arrow import ArrowFSWrapper
    from pyarrow import fs

    from pipeline.backends.s3 import s3_client

    client = s3_client()
    credentials = boto3.Session().get_credentials()
    frozen = credentials.get_frozen_credentials() if credentials is not None else None
    s3 = fs.S3FileSystem(
        access_key=frozen.access_key if frozen else None,
        secret_key=frozen.secret_key if frozen else None,
        session_token=frozen.token if frozen else None,
        anonymous=frozen is None,
        region=client.meta.region_name or "us-east-1",
        endpoint_override=client.meta.endpoint_url,
    )

    class S3(ArrowFSWrapper):
        protocol = ("s3",)

    return S3(s3)


def lake_location(lake: Lake) -> str:
    """What DuckDB reads the lake's files from: a local path, or the s3:// root."""
    local = lake.local_path("")
    if local is not None:
        return str(local).rstrip("/")
    if lake.root.startswith("s3://"):
        return lake.root
    raise LakeError(f"DuckDB cannot read lake {lake.root!r}: use a file:// or s3:// lake")


def connect(lake: Lake, database: str = ":memory:") -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """A DuckDB connection with a view per lake table; returns (con, tables with files).

    A table with no files yet gets a view with its columns and no rows. In a database file
    the views keep the lake location as a literal, so other SQL clients can open it.
    """
    import duckdb

    location = lake_location(lake)
    con = duckdb.connect(database)
    con.execute("SET TimeZone = 'UTC'")
    if location.startswith("s3://"):
        con.register_filesystem(_s3_filesystem())
    literal = "'" + location.replace("'", "''") + "'"
    with_files = []
    for table in all_tables():
        if table.view is not None:
            con.execute(sqlgen.duckdb_view(table))
            continue
        try:  # the columns the files have (a table may predate a column, or lack an attribute)
            present = {
                row[0]
                for row in con.execute(f"DESCRIBE SELECT * FROM {sqlgen.duckdb_files(table, literal)}").fetchall()
            }
        except duckdb.IOException:  # no files yet
            con.execute(sqlgen.duckdb_empty_view(table))
            continue
        con.execute(sqlgen.duckdb_view(table, literal, present))
        with_files.append(table.name)
    return con, with_files


# -- vitrine sql ----------------------------------------------------------------------------------
def run_statements(con: duckdb.DuckDBPyConnection, sql: str, out: Any = None) -> duckdb.DuckDBPyRelation | None:
    """Run every statement of ``sql``, printing each result; returns the last result relation."""
    last = None
    for statement in con.extract_statements(sql):
        relation = con.sql(statement.query)
        if relation is not None:
            print(relation, file=out or sys.stdout)
            last = relation
    return last


def export(con: duckdb.DuckDBPyConnection, sql: str, path: str, fmt: str) -> int:
    """Write the result of the last statement of ``sql`` to ``path`` as CSV or Parquet; returns rows."""
    statements = con.extract_statements(sql)
    if not statements:
        raise ValueError("nothing to export: no SQL statement given")
    for statement in statements[:-1]:
        con.execute(statement.query)
    query = statements[-1].query.rstrip().rstrip(";")
    options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet"
    con.execute(f"COPY ({query}) TO '{path.replace(chr(39), chr(39) * 2)}' ({options})")
    return con.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]  # type: ignore[index]


def repl(con: duckdb.DuckDBPyConnection, views: list[str]) -> None:
    """A small interactive prompt: statements end with ``;``; ``.tables``, ``.quit``."""
    import duckdb

    try:
        import readline  # noqa: F401 (line editing and history for input())
    except ImportError:
        pass
    print(f"tables: {', '.join(t.name for t in all_tables())}; end statements with ';', .quit to leave")
    buffer: list[str] = []
    while True:
        try:
            line = input("vitrine> " if not buffer else "     ...> ")
        except EOFError:
            print()
            return
        except KeyboardInterrupt:
            print()
            buffer = []
            continue
        stripped = line.strip()
        if not buffer and stripped in (".quit", ".exit", r"\q"):
            return
        if not buffer and stripped == ".tables":
            print("\n".join(f"{t.name}{'' if t.name in views or t.view else ' (no files yet)'}" for t in all_tables()))
            continue
        buffer.append(line)
        if not stripped.endswith(";"):
            continue
        sql, buffer = "\n".join(buffer), []
        try:
            run_statements(con, sql)
        except duckdb.Error as exc:
            print(f"error: {exc}")


def athena_ddl(lake: Lake, database: str) -> str:
    """The Athena DDL for this lake: registry retailers and registered model versions filled in."""
    from pipeline.registry import list_versions
    from pipeline.retailers import load_registry

    retailers = [r.name for r in load_registry(settings().retailers_path)]
    return sqlgen.fill_athena(
        sqlgen.athena_sql(), database=database, lake=lake.root, retailers=retailers, model_versions=list_versions(lake)
    )


def readme_with_tables(readme: str) -> str:
    """The README with its table reference (between the ``tables:`` markers) regenerated."""
    begin, end = "<!-- tables:begin -->", "<!-- tables:end -->"
    head, rest = readme.split(begin, 1)
    return f"{head}{begin}\n{sqlgen.markdown_tables()}{end}{rest.split(end, 1)[1]}"


def write_sql_files() -> list[Path]:
    """Regenerate the committed SQL files and the README's table reference from the schemas."""
    VIEWS_SQL.write_text(sqlgen.duckdb_views_sql())
    ATHENA_SQL.write_text(sqlgen.athena_sql())
    README.write_text(readme_with_tables(README.read_text()))
    return [VIEWS_SQL, ATHENA_SQL, README]


def _open(args: argparse.Namespace, lake: Lake) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    import duckdb

    database = args.db or str(settings().home / "lake.duckdb")
    if database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    try:
        return connect(lake, database)
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        print(f"{database} is in use by another process; using an in-memory database", file=sys.stderr)
        return connect(lake)


def cmd_sql(args: argparse.Namespace) -> int:
    if args.write_sql:
        for path in write_sql_files():
            print(f"wrote {path}")
        return 0
    lake = open_lake(args.lake)
    if args.athena_ddl:
        print(athena_ddl(lake, args.athena_ddl), end="")
        return 0
    con, views = _open(args, lake)
    sql = args.command_sql or args.query or (Path(args.file).read_text() if args.file else None)
    if sql is None:
        if not sys.stdin.isatty():
            sql = sys.stdin.read()
        else:
            repl(con, views)
            return 0
    if args.csv or args.parquet:
        path, fmt = (args.csv, "csv") if args.csv else (args.parquet, "parquet")
        print(f"wrote {export(con, sql, path, fmt)} rows to {path}")
    else:
        run_statements(con, sql)
    return 0


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sql", help="query the lake tables with DuckDB (file:// or s3://); a prompt without SQL")
    p.add_argument("query", nargs="?", help="SQL to run, e.g. 'SELECT * FROM items LIMIT 5'")
    p.add_argument("-c", dest="command_sql", metavar="SQL", help="SQL to run")
    p.add_argument("-f", "--file", help="run the statements of a .sql file")
    p.add_argument("--csv", metavar="PATH", help="write the last statement's result to a CSV file")
    p.add_argument("--parquet", metavar="PATH", help="write the last statement's result to a Parquet file")
    p.add_argument(
        "--db",
        metavar="PATH",
        help="DuckDB database file holding the views, for SQL clients "
        "(default $VITRINE_HOME/lake.duckdb; ':memory:' for none)",
    )
    p.add_argument("--athena-ddl", metavar="DATABASE", help="print the Athena DDL for this lake and exit")
    p.add_argument(
        "--write-sql",
        action="store_true",
        help="regenerate sql/duckdb/views.sql, sql/athena/tables.sql and the README's table reference",
    )
    p.add_argument("--lake", help="lake URI (default: $VITRINE_LAKE)")
    p.set_defaults(func=cmd_sql)
