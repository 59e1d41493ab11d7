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

from pipeline import ann, layout
from pipeline.embed import load_table, read_embeddings
from pipeline.lake import Lake

log = logging.getLogger(__name__)


def build_index(lake: Lake, items_uri: str, model_version: str, run_id: str, *, recall_target: float, kind: str) -> str:
    """Index every item whose canonical image has an embedding with an index of ``kind`` tuned
    to ``recall_target`` recall@10; returns the staging URI."""
    items = load_table(lake, items_uri, columns=["item_id", "canonical_sha256", "title", "image_key", "offers"])
    embeddings = read_embeddings(lake, model_version, columns=["embedding"])
    if items is None or embeddings is None or embeddings.num_rows == 0:
        raise ValueError(f"nothing to index: no items at {items_uri} or no embeddings for model {model_version}")
    position = pc.index_in(items.column("canonical_sha256"), value_set=embeddings.column("image_sha256"))
    has_vector = pc.is_valid(position)
    missing = items.num_rows - pc.sum(has_vector.cast(pa.int64())).as_py()
    if missing:
        log.warning(
            "%d of %d items have no embedding for model %s and are left out", missing, items.num_rows, model_version
        )
    items = items.append_column("_pos", position).filter(has_vector).sort_by("item_id")
    if items.num_rows == 0:
        raise ValueError(f"no item has an embedding for model {model_version}")
    column = embeddings.column("embedding").combine_chunks()
    dim = column.type.list_size
    all_vectors = column.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)
    vectors = ann.normalize(all_vectors[items.column("_pos").to_numpy()])

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
