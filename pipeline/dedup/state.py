"""The persisted hash index under ``state/dedup/`` in the lake.

- ``hashes/part-<seq>.parquet``: one append-only file per dedup run that hashed something,
  one row per new image: sha256, image_key, phash (uint64), phash256 (32 bytes), color
  (color signature), the same three for the trimmed view (tphash, tphash256, tcolor),
  width, height, seen_seq (the run that first saw it: "earliest seen"), run_id, reason
  (null unless the image was rejected; then the signatures are null).
  Images are never hashed twice: a run hashes only sha256s found in no part.
- ``groups.parquet``: sha256 → group_id for every grouped image, rewritten each run.
- ``rejected.parquet``: the rejected images with their reasons, for people to read.

Memory stays bounded: the search needs only the narrow columns of all rows (``Index``);
the wide signature columns are read row group by row group, only for the rows a run
touches (``load_signatures``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import layout
from pipeline.dedup.hashing import ImageHashes
from pipeline.dedup.methods.color import SIZE as COLOR_BYTES
from pipeline.dedup.methods.phash import FINE_BYTES
from pipeline.lake import Lake

PREFIX = f"{layout.STATE}/dedup"
HASHES = f"{PREFIX}/hashes"
GROUPS_KEY = f"{PREFIX}/groups.parquet"
REJECTED_KEY = f"{PREFIX}/rejected.parquet"
ROW_GROUP = 16384

SCHEMA = pa.schema(
    [
        ("sha256", pa.string()),
        ("image_key", pa.string()),
        ("phash", pa.uint64()),
        ("phash256", pa.binary(FINE_BYTES)),
        ("color", pa.binary(COLOR_BYTES)),
        ("tphash", pa.uint64()),
        ("tphash256", pa.binary(FINE_BYTES)),
        ("tcolor", pa.binary(COLOR_BYTES)),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("seen_seq", pa.int32()),
        ("run_id", pa.string()),
        ("reason", pa.string()),
    ]
)
NARROW = ["sha256", "image_key", "phash", "tphash", "width", "height", "seen_seq", "run_id", "reason"]
GROUPS_SCHEMA = pa.schema([("sha256", pa.string()), ("group_id", pa.string())])


@dataclass(frozen=True)
class Index:
    """Narrow columns of every hashed image, plus where each row lives (part key, row)."""

    table: pa.Table
    part: np.ndarray  # index into ``keys``
    row: np.ndarray  # row inside that part
    keys: list[str]

    @property
    def next_seq(self) -> int:
        return int(pc.max(self.table["seen_seq"]).as_py() or 0) + 1 if self.table.num_rows else 1


def part_key(seq: int) -> str:
    return f"{HASHES}/part-{seq:06d}.parquet"


def load_index(lake: Lake) -> Index:
    """Narrow columns of all parts, in part then row order."""
    keys = [k for k in lake.list(HASHES + "/") if k.endswith(".parquet")]
    tables, part, row = [], [], []
    for n, key in enumerate(keys):
        t = lake.read_parquet(key, columns=NARROW)
        tables.append(t)
        part.append(np.full(t.num_rows, n, dtype=np.int32))
        row.append(np.arange(t.num_rows, dtype=np.int64))
    if not tables:
        empty = np.empty(0, dtype=np.int64)
        return Index(SCHEMA.empty_table().select(NARROW), empty.astype(np.int32), empty, [])
    return Index(pa.concat_tables(tables), np.concatenate(part), np.concatenate(row), keys)


def new_rows(hashes: list[ImageHashes], keys: dict[str, str], seen_seq: int, run_id: str) -> pa.Table:
    """Index rows for freshly hashed images."""
    return pa.table(
        {
            "sha256": [h.sha256 for h in hashes],
            "image_key": [keys[h.sha256] for h in hashes],
            "phash": pa.array([h.phash for h in hashes], pa.uint64()),
            "phash256": pa.array([h.phash256 for h in hashes], pa.binary(FINE_BYTES)),
            "color": pa.array([h.color for h in hashes], pa.binary(COLOR_BYTES)),
            "tphash": pa.array([h.tphash for h in hashes], pa.uint64()),
            "tphash256": pa.array([h.tphash256 for h in hashes], pa.binary(FINE_BYTES)),
            "tcolor": pa.array([h.tcolor for h in hashes], pa.binary(COLOR_BYTES)),
            "width": pa.array([h.width for h in hashes], pa.int32()),
            "height": pa.array([h.height for h in hashes], pa.int32()),
            "seen_seq": pa.array([seen_seq] * len(hashes), pa.int32()),
            "run_id": [run_id] * len(hashes),
            "reason": [h.reason for h in hashes],
        },
        schema=SCHEMA,
    )


def append(lake: Lake, seq: int, rows: pa.Table) -> None:
    """Write one run's new rows as part ``seq`` (sorted by sha256)."""
    lake.write_parquet(part_key(seq), rows.sort_by("sha256"), row_group_size=ROW_GROUP)


def append_batches(lake: Lake, seq: int, batches: Iterable[pa.Table]) -> tuple[int, int]:
    """Write one run's new rows as part ``seq`` from batches already in sha256 order, each
    at most ``ROW_GROUP`` rows (one row group each: the file ``append`` writes), streamed
    through a local file; nothing is written for no rows. Returns (rows, rejected rows)."""
    rows = rejected = 0
    with tempfile.TemporaryDirectory(prefix="vitrine-dedup-") as tmp:
        path = Path(tmp) / "part.parquet"
        with pq.ParquetWriter(path, SCHEMA, compression="zstd") as writer:
            for batch in batches:
                if batch.num_rows > ROW_GROUP:
                    raise ValueError(f"a batch of {batch.num_rows} rows is more than a row group ({ROW_GROUP})")
                writer.write_table(batch, row_group_size=ROW_GROUP)
                rows += batch.num_rows
                rejected += batch.num_rows - batch["reason"].null_count
        if rows:
            lake.put_file(part_key(seq), path, content_type="application/vnd.apache.parquet")
    return rows, rejected


def binary_matrix(column: pa.ChunkedArray | pa.Array, dtype: type) -> np.ndarray:
    """(N, width / itemsize) numpy copy of a non-null fixed-size binary column."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if arr.null_count:
        raise ValueError("binary_matrix needs a column without nulls")
    width = arr.type.byte_width
    flat = np.frombuffer(arr.buffers()[1], dtype=np.uint8)[width * arr.offset : width * (arr.offset + len(arr))]
    return flat.view(dtype).reshape(len(arr), -1).copy()


def load_signatures(lake: Lake, index: Index, rows: np.ndarray, trimmed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """phash256 (k, 4) uint64 and color (k, CELLS*3) uint8 (of the trimmed view if
    ``trimmed``) for index rows ``rows``, in that order, reading only the row groups that
    hold them."""
    names = ["tphash256", "tcolor"] if trimmed else ["phash256", "color"]
    fine = np.zeros((len(rows), FINE_BYTES // 8), dtype=np.uint64)
    color = np.zeros((len(rows), COLOR_BYTES), dtype=np.uint8)
    for p in np.unique(index.part[rows]):
        sel = np.flatnonzero(index.part[rows] == p)
        want = index.row[rows[sel]]
        with _local(lake, index.keys[p]) as path:
            pf = pq.ParquetFile(path, memory_map=True)
            start = 0
            for g in range(pf.num_row_groups):
                size = pf.metadata.row_group(g).num_rows
                hit = (want >= start) & (want < start + size)
                if hit.any():
                    t = pf.read_row_group(g, columns=names).take(pa.array(want[hit] - start))
                    fine[sel[hit]] = binary_matrix(t[names[0]], np.uint64)
                    color[sel[hit]] = binary_matrix(t[names[1]], np.uint8)
                start += size
    return fine, color


class _local:
    """A local path for a lake key (the file itself, or a download in a temp dir)."""

    def __init__(self, lake: Lake, key: str):
        self.lake, self.key = lake, key
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Path:
        local = self.lake.local_path(self.key)
        if local is not None:
            return local
        self._tmp = tmp = tempfile.TemporaryDirectory(prefix="vitrine-dedup-")
        return self.lake.get_file(self.key, Path(tmp.name) / "part.parquet")

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def load_groups(lake: Lake) -> dict[str, str]:
    if not lake.exists(GROUPS_KEY):
        return {}
    t = lake.read_parquet(GROUPS_KEY)
    return dict(zip(t["sha256"].to_pylist(), t["group_id"].to_pylist()))


def save_groups(lake: Lake, groups: dict[str, str]) -> None:
    shas = sorted(groups)
    table = pa.table({"sha256": shas, "group_id": [groups[s] for s in shas]}, schema=GROUPS_SCHEMA)
    lake.write_parquet(GROUPS_KEY, table, row_group_size=ROW_GROUP * 4)


def save_rejected(lake: Lake, index_table: pa.Table) -> None:
    rejected = index_table.filter(pc.is_valid(index_table["reason"]))
    lake.write_parquet(REJECTED_KEY, rejected.select(["sha256", "image_key", "reason", "run_id"]).sort_by("sha256"))
