"""Index stage: the nearest-neighbour index of a release, staged for publishing.

Items are joined with their canonical image's embedding and numbered ``annoy_id`` 0..n-1 in
``item_id`` order; the index itself is built and tuned through the :mod:`pipeline.ann` seam
(Annoy by default, tuned by measured recall against exact search).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import ann, layout, schemas
from pipeline.embed import load_table
from pipeline.lake import Lake

log = logging.getLogger(__name__)


def build_index(lake: Lake, items_uri: str, model_version: str, run_id: str, *, recall_target: float, kind: str) -> str:
    """Index every item whose canonical image has an embedding with an index of ``kind`` tuned
    to ``recall_target`` recall@10; returns the staging URI."""
    items = load_table(lake, items_uri, columns=["item_id", "canonical_sha256", "title", "image_key", "offers"])
    if items is None:
        raise ValueError(f"nothing to index: no items at {items_uri}")
    items = items.sort_by("item_id")
    found, raw = _item_vectors(lake, model_version, items.column("canonical_sha256"))
    if found is None:
        raise ValueError(f"nothing to index: no embeddings for model {model_version}")
    missing = items.num_rows - int(found.sum())
    if missing:
        log.warning(
            "%d of %d items have no embedding for model %s and are left out", missing, items.num_rows, model_version
        )
    items = items.filter(pa.array(found))
    if items.num_rows == 0:
        raise ValueError(f"no item has an embedding for model {model_version}")
    dim = raw.shape[1]
    vectors = ann.normalize(raw[found])
    del raw

    index, tuning = ann.tune(kind, vectors, recall_target)
    log.info("index of %d items: %s", len(vectors), tuning)
    table = pa.table(
        {
            "annoy_id": pa.array(np.arange(items.num_rows, dtype=np.int64)),
            "item_id": items.column("item_id").cast(pa.string()),
            "title": items.column("title").cast(pa.string()),
            "image_key": items.column("image_key").cast(pa.string()),
            "offers": items.column("offers"),
        }
    )
    stats = {
        "model_version": model_version,
        "n_items": items.num_rows,
        "dim": dim,
        "metric": ann.METRIC,
        "n_trees": tuning.params.get("n_trees", 0),
        "search_k": tuning.params.get("search_k", -1),
        "recall_at_10": tuning.recall_at_10,
        "query_ms": tuning.query_ms,
        "build_s": tuning.build_s,
        "index": ann.describe(index),
    }
    prefix = layout.staging(run_id, "index")
    with tempfile.TemporaryDirectory(prefix="vitrine-index-") as tmp:
        local = Path(tmp) / index.file_name
        index.save(local)
        lake.put_file(f"{prefix}/{index.file_name}", local)
    lake.write_parquet(f"{prefix}/{layout.ITEMS_FILE}", table)
    lake.write_json(f"{prefix}/{layout.INDEX_STATS_FILE}", stats)
    return lake.uri(prefix)


def _item_vectors(lake: Lake, model_version: str, shas: pa.ChunkedArray) -> tuple[np.ndarray | None, np.ndarray]:
    """(has an embedding, (n, dim) float32 embeddings) for images ``shas``, the embeddings read
    batch by batch (the first row of an image counts, as in ``read_embeddings``): only the
    vectors asked for are held, never the whole embeddings table. (None, empty) when the model
    has no embeddings."""
    wanted = pc.unique(shas)
    slot = pc.index_in(shas, value_set=wanted).to_numpy(zero_copy_only=False)
    out: np.ndarray | None = None
    filled = np.zeros(len(wanted), dtype=bool)
    rows = 0
    for batch in schemas.EMBEDDINGS.iter_batches(lake, ["image_sha256", "embedding"], model_version=model_version):
        rows += batch.num_rows
        column = batch.column("embedding")
        if out is None:
            out = np.zeros((len(wanted), _dim(column)), dtype=np.float32)
        at = pc.index_in(batch.column("image_sha256"), value_set=wanted)
        hit = np.flatnonzero(pc.is_valid(at).to_numpy(zero_copy_only=False))
        if len(hit) == 0:
            continue
        at_hit = at.take(pa.array(hit)).to_numpy().astype(np.int64)
        first, in_batch = np.unique(at_hit, return_index=True)  # an image twice in one batch: its first row
        new = ~filled[first]
        take = hit[in_batch[new]]
        block = column.take(pa.array(take)).flatten().to_numpy(zero_copy_only=False)
        out[first[new]] = block.reshape(len(take), out.shape[1])
        filled[first[new]] = True
    if out is None or rows == 0:
        return None, np.empty((0, 0), dtype=np.float32)
    return filled[slot], out[slot]


def _dim(column: pa.Array) -> int:
    if pa.types.is_fixed_size_list(column.type):
        return int(column.type.list_size)
    return int(pc.list_value_length(column).to_numpy(zero_copy_only=False)[0]) if len(column) else 0
