"""``vitrine verify-lake``: the invariants a lake keeps whatever crashed, checked from outside.

- ``latest.json`` points to a complete release whose every file matches its manifest;
- its index loads with ``n_items`` items, ``annoy_id`` is exactly ``0..n-1``, and every item's
  image exists in the lake;
- no table has two rows with the same key (``pipeline.schemas``);
- no item is lost: every item of ``tables/items`` is in the release;
- staging garbage is bounded: at most ``max_staging_runs`` runs leave anything in ``staging/``.

Used by the fault-injection suite after every crash-and-rerun, and by operators.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pyarrow.compute as pc

from pipeline import layout, schemas
from pipeline.lake import Lake, LakeError, add_lake_option, open_lake

MAX_STAGING_RUNS = 3


def verify_lake(lake: Lake, max_staging_runs: int = MAX_STAGING_RUNS) -> list[str]:
    """Every broken invariant, one line each (empty: the lake is sound)."""
    return [*_release_problems(lake), *_duplicate_keys(lake), *_staging_problems(lake, max_staging_runs)]


def _release_problems(lake: Lake) -> list[str]:
    from pipeline.client import Release, ReleaseError

    with tempfile.TemporaryDirectory(prefix="vitrine-verify-") as tmp:
        try:
            release = Release.latest(lake, cache_dir=Path(tmp))
        except (ReleaseError, LakeError, OSError, KeyError, ValueError) as exc:
            return [f"latest.json: {' '.join(str(exc).split())}"]
        problems = []
        n = release.manifest["n_items"]
        if len(release.index) != n or release.items.num_rows != n:
            problems.append(
                f"release {release.release_id}: manifest says {n} items, index has "
                f"{len(release.index)}, items.parquet {release.items.num_rows}"
            )
        if sorted(release.items.column("annoy_id").to_pylist()) != list(range(release.items.num_rows)):
            problems.append(f"release {release.release_id}: annoy_id is not exactly 0..{release.items.num_rows - 1}")
        missing = [k for k in release.items.column("image_key").to_pylist() if not k or not lake.exists(k)]
        if missing:
            problems.append(
                f"release {release.release_id}: {len(missing)} items have no image in the lake (e.g. {missing[0]})"
            )
        items = schemas.ITEMS.read(lake, columns=["item_id"])
        if items is not None:
            released = set(release.items.column("item_id").to_pylist())
            lost = [i for i in items.column("item_id").to_pylist() if i not in released]
            if lost:
                problems.append(
                    f"release {release.release_id}: {len(lost)} items of tables/items are not in it (e.g. {lost[0]})"
                )
        return problems


def _duplicate_keys(lake: Lake) -> list[str]:
    problems = []
    for table in schemas.all_tables():
        if table.view is not None:
            continue
        rows = lake.read_table(layout.table(table.name), columns=None)
        if rows is None or not set(table.key) <= set(rows.column_names):
            continue
        keys = rows.select(list(table.key)).group_by(list(table.key)).aggregate([([], "count_all")])
        dupes = keys.filter(pc.greater(keys.column("count_all"), 1))
        if dupes.num_rows:
            example = {k: dupes.column(k)[0].as_py() for k in table.key}
            problems.append(
                f"tables/{table.name}: {dupes.num_rows} keys {list(table.key)} appear more than once (e.g. {example})"
            )
    return problems


def _staging_problems(lake: Lake, max_runs: int) -> list[str]:
    runs = {key.split("/")[1] for key in lake.iter_keys(f"{layout.STAGING}/") if key.count("/") >= 2}
    if len(runs) > max_runs:
        return [f"staging/: {len(runs)} runs left files (more than {max_runs}); run `vitrine gc`"]
    return []


def cmd_verify_lake(args: argparse.Namespace) -> int:
    lake = open_lake(args.lake)
    problems = verify_lake(lake, args.max_staging_runs)
    for line in problems:
        print(f"FAIL {line}")
    if not problems:
        print(f"ok: {lake.root} keeps every invariant")
    return 1 if problems else 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("verify-lake", help="check the lake's crash-safety invariants")
    add_lake_option(p)
    p.add_argument(
        "--max-staging-runs",
        type=int,
        default=MAX_STAGING_RUNS,
        help=f"runs allowed to leave files in staging/ (default {MAX_STAGING_RUNS})",
    )
    p.set_defaults(func=cmd_verify_lake)
