"""The dedup stage: stored images → hash index → groups → ``duplicates`` and ``items`` tables."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import layout, schemas
from pipeline.dedup import state
from pipeline.dedup.grouping import Signatures, Thresholds, assign_groups, canonical_rank, verify
from pipeline.dedup.handlers import pairs_with
from pipeline.dedup.hashing import hash_many
from pipeline.dedup.items import build_tables
from pipeline.dedup.methods.color import CELLS
from pipeline.lake import Lake

log = logging.getLogger(__name__)

IMAGE_COLUMNS = ["sha256", "image_key", "retailer", "product_id", "status"]
HASH_BATCH = 4096  # images hashed at once (their signatures are Python objects until they are rows)
PRODUCT_COLUMNS = ["product_id", "retailer", "title", "url", "price", "currency", "gtin", "available"]


def dedup_catalog(lake: Lake, run_id: str, thresholds: Thresholds | None = None) -> str:
    """Hash new stored images, group near-duplicates (the pair rule: ``thresholds``; adapters
    set ``max_distance`` from ``VITRINE_DEDUP_MAX_DISTANCE``), write the duplicates and items tables.

    Idempotent: a re-run with no new images hashes nothing and rewrites identical tables.
    Returns the items table URI.
    """
    th = thresholds or Thresholds()
    t0 = time.monotonic()
    images = _read(lake, "images", IMAGE_COLUMNS)
    images = images.filter(pc.and_(pc.equal(images["status"], "stored"), pc.is_valid(images["sha256"])))
    present = _first_keys(images)

    index = state.load_index(lake)
    todo = present.filter(pc.invert(pc.is_in(present["sha256"], value_set=index.table["sha256"])))
    n_hashed, rejected_now = state.append_batches(lake, index.next_seq, _hash_new(lake, todo, index.next_seq, run_id))
    if n_hashed:
        index = state.load_index(lake)

    groups = state.load_groups(lake)
    n_pairs = _group_pending(lake, index, groups, th)
    state.save_groups(lake, groups)
    state.save_rejected(lake, index.table)

    duplicates, items = build_tables(images, _read(lake, "products", PRODUCT_COLUMNS), index.table, groups)
    schemas.DUPLICATES.write(lake, duplicates)
    schemas.ITEMS.write(lake, items)
    log.info(
        f"dedup {run_id}: {present.num_rows} stored images, {n_hashed} hashed "
        f"({rejected_now} rejected), {n_pairs} near-duplicate pairs, "
        f"{items.num_rows} items from {duplicates.num_rows} images in {time.monotonic() - t0:.1f}s"
    )
    return lake.uri(schemas.ITEMS.prefix())


def _group_pending(lake: Lake, index: state.Index, groups: dict[str, str], th: Thresholds) -> int:
    """Give every hashed, ungrouped image a group (updating ``groups``): searches the pending
    images against all hashed images, in both views (full, trimmed), and regroups only the
    groups they touch. Returns the number of verified near-duplicate pairs found."""
    table = index.table
    ok = np.flatnonzero(table["reason"].is_null().to_numpy(zero_copy_only=False))
    if len(ok) == 0:
        return 0
    take = pa.array(ok)
    sha = table["sha256"].take(take).to_pylist()
    codes = [table[c].take(take).to_numpy() for c in ("phash", "tphash")]
    gid = np.array([groups.get(s) for s in sha], dtype=object)
    pending = np.flatnonzero(gid == None)  # noqa: E711 (elementwise on an object array)
    if len(pending) == 0:
        return 0
    found = [pairs_with(c, pending, th.max_distance) for c in codes]

    # the universe to regroup: pending images, their candidates, and all members of the
    # existing groups those candidates belong to
    touched = np.unique(np.concatenate([pending, *(x for i, j, _ in found for x in (i, j))]))
    touched_groups = {g for g in gid[touched] if g is not None}
    if touched_groups:
        touched = np.union1d(touched, np.flatnonzero([g in touched_groups for g in gid]))
    views = []
    for c, trimmed in zip(codes, (False, True)):
        fine, color = state.load_signatures(lake, index, ok[touched], trimmed=trimmed)
        views.append(Signatures(c[touched], fine, color.reshape(-1, CELLS, 3)))

    # verified pairs of either view, each once with its smallest distance
    li, lj, ld = [], [], []
    for view, (i, j, dist) in zip(views, found):
        a, b = np.searchsorted(touched, i), np.searchsorted(touched, j)
        keep = verify(view, a, b, th)
        li.append(a[keep])
        lj.append(b[keep])
        ld.append(dist[keep])
    i, j, dist = np.concatenate(li), np.concatenate(lj), np.concatenate(ld)
    order = np.lexsort((dist, j, i))
    first = np.ones(len(order), dtype=bool)
    first[1:] = (np.diff(i[order]) != 0) | (np.diff(j[order]) != 0)
    i, j, dist = i[order][first], j[order][first], dist[order][first]

    cols = {c: table[c].take(pa.array(ok[touched])).to_numpy() for c in ("width", "height", "seen_seq")}
    shas = [sha[p] for p in touched]
    rank = canonical_rank(cols["width"], cols["height"], cols["seen_seq"], shas)
    groups.update(zip(shas, assign_groups(views, list(gid[touched]), (i, j, dist), rank, shas, th)))
    log.info("dedup: %d pending, %d verified pairs", len(pending), len(i))
    return len(i)


def _read(lake: Lake, name: str, columns: list[str]) -> pa.Table:
    """A table's columns (missing columns as nulls; empty if the table does not exist)."""
    table = lake.read_table(layout.table(name))
    if table is None:
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    for c in columns:
        if c not in table.column_names:
            table = table.append_column(c, pa.nulls(table.num_rows))
    return table.select(columns)


def _first_keys(images: pa.Table) -> pa.Table:
    """(sha256, image_key) per stored sha256, in sha256 order: the smallest key, if one
    sha256 was stored under several keys (empty keys ignored)."""
    keyed = images.select(["sha256", "image_key"]).filter(
        pc.and_kleene(pc.is_valid(images["image_key"]), pc.not_equal(images["image_key"], ""))
    )
    first = keyed.group_by("sha256", use_threads=False).aggregate([("image_key", "min")])
    return first.rename_columns(["sha256", "image_key"]).sort_by("sha256")


def _hash_new(lake: Lake, todo: pa.Table, seen_seq: int, run_id: str) -> Iterator[pa.Table]:
    """Index rows (``state.SCHEMA``) for the images of ``todo`` (sha256, image_key), one row
    group (``state.ROW_GROUP`` rows) at a time, hashed ``HASH_BATCH`` at a time: only one
    batch's signatures are Python objects at once, and only one row group's rows are held."""
    for start in range(0, todo.num_rows, state.ROW_GROUP):
        group = todo.slice(start, state.ROW_GROUP)
        parts = []
        for at in range(0, group.num_rows, HASH_BATCH):
            batch = group.slice(at, HASH_BATCH)
            shas, keys = batch["sha256"].to_pylist(), batch["image_key"].to_pylist()
            hashed = hash_many(list(zip(shas, keys)), lake.read_bytes)
            parts.append(state.new_rows(hashed, dict(zip(shas, keys)), seen_seq, run_id))
        yield pa.concat_tables(parts).combine_chunks()
