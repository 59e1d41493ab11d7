"""The dedup stage: stored images → hash index → groups → ``duplicates`` and ``items`` tables."""
from __future__ import annotations

import logging
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import layout
from pipeline.dedup import state
from pipeline.dedup.grouping import Signatures, Thresholds, assign_groups, canonical_rank, verify
from pipeline.dedup.handlers import pairs_with
from pipeline.dedup.hashing import hash_many
from pipeline.dedup.items import build_tables
from pipeline.dedup.methods.color import CELLS
from pipeline.lake import Lake

log = logging.getLogger(__name__)

IMAGE_COLUMNS = ["sha256", "image_key", "retailer", "product_id", "status"]
PRODUCT_COLUMNS = ["product_id", "retailer", "title", "url", "price", "currency", "available"]


def default_thresholds() -> Thresholds:
    """Thresholds from settings (``VITRINE_DEDUP_MAX_DISTANCE``) and the evaluated defaults."""
    from pipeline.config import settings

    return Thresholds(max_distance=settings().dedup_max_distance)


def dedup_catalog(lake: Lake, run_id: str, thresholds: Thresholds | None = None) -> str:
    """Hash new stored images, group near-duplicates, write the duplicates and items tables.

    Idempotent: a re-run with no new images hashes nothing and rewrites identical tables.
    Returns the items table URI.
    """
    th = thresholds or default_thresholds()
    t0 = time.monotonic()
    images = _read(lake, "images", IMAGE_COLUMNS)
    images = images.filter(pc.and_(pc.equal(images["status"], "stored"), pc.is_valid(images["sha256"])))
    present = _first_keys(images)

    index = state.load_index(lake)
    known = set(index.table["sha256"].to_pylist())
    todo = sorted(sha for sha in present if sha not in known)
    hashed = hash_many([(sha, present[sha]) for sha in todo], lake.read_bytes)
    if hashed:
        state.append(lake, index.next_seq, state.new_rows(hashed, present, index.next_seq, run_id))
        index = state.load_index(lake)
    rejected_now = sum(h.reason is not None for h in hashed)

    groups = state.load_groups(lake)
    n_pairs = _group_pending(lake, index, groups, th)
    state.save_groups(lake, groups)
    state.save_rejected(lake, index.table)

    duplicates, items = build_tables(images, _read(lake, "products", PRODUCT_COLUMNS), index.table, groups)
    lake.write_parquet(f"{layout.table('duplicates')}/part-0.parquet", duplicates)
    lake.write_parquet(f"{layout.table('items')}/part-0.parquet", items)
    print(
        f"dedup {run_id}: {len(present)} stored images, {len(hashed)} hashed "
        f"({rejected_now} rejected), {n_pairs} near-duplicate pairs, "
        f"{items.num_rows} items from {duplicates.num_rows} images in {time.monotonic() - t0:.1f}s"
    )
    return lake.uri(layout.table("items"))


def _group_pending(lake: Lake, index: state.Index, groups: dict[str, str], th: Thresholds) -> int:
    """Give every hashed, ungrouped image a group (updating ``groups``); searches the
    pending images against all hashed images and regroups only the groups they touch.
    Returns the number of verified near-duplicate pairs found."""
    table = index.table
    ok = np.flatnonzero(table["reason"].is_null().to_numpy(zero_copy_only=False))
    if len(ok) == 0:
        return 0
    sha = table["sha256"].take(pa.array(ok)).to_pylist()
    codes = table["phash"].take(pa.array(ok)).to_numpy()
    gid = np.array([groups.get(s) for s in sha], dtype=object)
    pending = np.flatnonzero(gid == None)  # noqa: E711 (elementwise on an object array)
    if len(pending) == 0:
        return 0
    i, j, dist = pairs_with(codes, pending, th.max_distance)

    # the universe to regroup: pending images, their candidates, and all members of the
    # existing groups those candidates belong to
    touched = np.unique(np.concatenate([pending, i, j]))
    touched_groups = {g for g in gid[touched] if g is not None}
    if touched_groups:
        touched = np.union1d(touched, np.flatnonzero([g in touched_groups for g in gid]))
    local = {int(p): n for n, p in enumerate(touched)}
    li = np.array([local[int(x)] for x in i], dtype=np.int64)
    lj = np.array([local[int(x)] for x in j], dtype=np.int64)

    fine, color = state.load_signatures(lake, index, ok[touched])
    sig = Signatures(codes[touched], fine, color.reshape(-1, CELLS, 2))
    keep = verify(sig, li, lj, th)
    cols = {c: table[c].take(pa.array(ok[touched])).to_numpy() for c in ("width", "height", "seen_seq")}
    shas = [sha[p] for p in touched]
    rank = canonical_rank(cols["width"], cols["height"], cols["seen_seq"], shas)
    assigned = assign_groups(sig, list(gid[touched]), (li[keep], lj[keep], dist[keep]), rank, shas, th)
    groups.update(zip(shas, assigned))
    log.info("dedup: %d pending, %d candidate pairs, %d verified", len(pending), len(i), int(keep.sum()))
    return int(keep.sum())


def _read(lake: Lake, name: str, columns: list[str]) -> pa.Table:
    """A table's columns (missing columns as nulls; empty if the table does not exist)."""
    table = lake.read_table(layout.table(name))
    if table is None:
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    for c in columns:
        if c not in table.column_names:
            table = table.append_column(c, pa.nulls(table.num_rows))
    return table.select(columns)


def _first_keys(images: pa.Table) -> dict[str, str]:
    """sha256 → image_key (the smallest, if one sha256 was stored under several keys)."""
    out: dict[str, str] = {}
    for sha, key in zip(images["sha256"].to_pylist(), images["image_key"].to_pylist()):
        if key and (sha not in out or key < out[sha]):
            out[sha] = key
    return out
