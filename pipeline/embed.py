"""Embed the catalog's canonical images with a registered model, incrementally and in shards.

``plan_shards`` finds canonical images without an embedding for the model version, splits
them into shards and writes each shard's work list to the lake; only the small shard dicts
travel through XCom. ``embed_shard`` runs one shard: a tf.data pipeline reads and decodes the
images in parallel, a compiled ``model(x, training=False)`` embeds each batch, and rows
stream into ``tables/embeddings/model_version=<v>/part-<shard_id>.parquet`` in bounded row
groups. A shard id is a hash of its image set, so re-running a shard overwrites its own part
and a later, incremental run adds new parts; two runs that plan the same images (e.g.
catalog_refresh and catalog_reembed on one model version) converge on the same parts; readers
dedup on ``image_sha256`` anyway.
Images that cannot be read or decoded are recorded in ``tables/embedding_rejects`` with the
reason and are not retried for that model version.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import layout, schemas
from pipeline.config import Settings
from pipeline.imageio import lake_reads
from pipeline.lake import Lake

log = logging.getLogger(__name__)

MIN_SHARD_IMAGES = 512
ROW_GROUP_ROWS = 4096
LOG_EVERY_S = 10.0

WORK_SCHEMA = pa.schema([("item_id", pa.string()), ("image_sha256", pa.string()), ("image_key", pa.string())])


def embedding_schema(dim: int) -> pa.Schema:
    """The embeddings file schema with the vector as a fixed-size list of ``dim`` floats."""
    schema = schemas.EMBEDDINGS.schema
    i = schema.get_field_index("embedding")
    return schema.set(i, schema.field(i).with_type(pa.list_(pa.float32(), dim)))


def load_table(lake: Lake, uri: str, columns: list[str] | None = None) -> pa.Table | None:
    """A table given by a lake URI: one Parquet file, or a (partitioned) table prefix."""
    key = lake.key_of(uri)
    if key.endswith(".parquet"):
        return lake.read_parquet(key, columns=columns)
    return lake.read_table(key, columns=columns)


def read_embeddings(lake: Lake, model_version: str, columns: list[str] | None = None) -> pa.Table | None:
    """All embeddings of a model version, one row per image (duplicates across parts dropped)."""
    cols = None if columns is None else list(dict.fromkeys(["image_sha256", *columns]))
    table = schemas.EMBEDDINGS.read(lake, columns=cols, model_version=model_version)
    if table is None or table.num_rows == 0:
        return table
    return _first_per_sha(table)


def _first_per_sha(table: pa.Table) -> pa.Table:
    shas = table.column("image_sha256").to_numpy(zero_copy_only=False)
    _, first = np.unique(shas, return_index=True)
    if len(first) == table.num_rows:
        return table
    return table.take(pa.array(np.sort(first)))


def _known_shas(lake: Lake, model_version: str) -> set[str]:
    known: set[str] = set()
    for table_ in (schemas.EMBEDDINGS, schemas.EMBEDDING_REJECTS):
        table = table_.read(lake, columns=["image_sha256"], model_version=model_version)
        if table is not None:
            known.update(table.column("image_sha256").to_pylist())
    return known


def _work_key(model_version: str, shard_id: str) -> str:
    return f"{layout.staging('embed-plan', f'model_version={model_version}')}/shard-{shard_id}.parquet"


def _part_key(table: schemas.Table, model_version: str, shard_id: str) -> str:
    return table.part(shard_id, model_version=model_version)


def plan_shards(
    lake: Lake,
    items_uri: str,
    model_version: str,
    max_shards: int,
    min_shard_images: int = MIN_SHARD_IMAGES,
) -> list[dict]:
    """Split canonical images that have no embedding for ``model_version`` into ≤ max_shards shards.

    Each returned dict (JSON-serialisable, for XCom) names the shard's work list in the lake.
    Returns [] when everything is embedded already.
    """
    if max_shards < 1:
        raise ValueError(f"max_shards must be ≥ 1, got {max_shards}")
    items = load_table(lake, items_uri, columns=["item_id", "canonical_sha256", "image_key"])
    if items is None or items.num_rows == 0:
        log.info("no items at %s: nothing to embed", items_uri)
        return []
    items = items.sort_by([("canonical_sha256", "ascending"), ("item_id", "ascending")])
    work = pa.table(
        {
            "item_id": items.column("item_id").cast(pa.string()),
            "image_sha256": items.column("canonical_sha256").cast(pa.string()),
            "image_key": items.column("image_key").cast(pa.string()),
        },
        schema=WORK_SCHEMA,
    )
    work = _first_per_sha(work.filter(pc.is_valid(work.column("image_key"))))
    known = _known_shas(lake, model_version)
    if known:
        work = work.filter(pc.invert(pc.is_in(work.column("image_sha256"), pa.array(sorted(known)))))
    n = work.num_rows
    log.info("%d of %d canonical images need embeddings for model %s", n, items.num_rows, model_version)
    if n == 0:
        return []
    n_shards = max(1, min(max_shards, n // max(1, min_shard_images)))
    bounds = np.linspace(0, n, n_shards + 1).astype(int)
    shards = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        part = work.slice(start, stop - start)
        digest = hashlib.sha256("\n".join(part.column("image_sha256").to_pylist()).encode())
        shard_id = digest.hexdigest()[:16]
        lake.write_parquet(_work_key(model_version, shard_id), part)
        shards.append(
            {
                "model_version": model_version,
                "shard_id": shard_id,
                "work_key": _work_key(model_version, shard_id),
                "output_key": _part_key(schemas.EMBEDDINGS, model_version, shard_id),
                "n_images": int(part.num_rows),
            }
        )
    return shards


def embed_fn(model: Any) -> Any:
    """A compiled function: float32 batch (N, S, S, 3) in [0, 255] → (N, D) embeddings."""
    return _compiled(model.keras_model, model.image_size)


@lru_cache(maxsize=2)
def _compiled(keras_model: Any, image_size: int) -> Any:
    import tensorflow as tf

    spec = tf.TensorSpec((None, image_size, image_size, 3), tf.float32)

    @tf.function(input_signature=[spec])
    def run(images: tf.Tensor) -> tf.Tensor:
        return keras_model(images, training=False)["embedding"]

    return run


def embed_shard(
    lake: Lake,
    shard: dict,
    model: Any | None = None,
    batch_size: int = Settings.embed_batch_size,
    cache_dir: Path | None = None,
) -> str:
    """Embed one planned shard and return the URI of its Parquet part.

    ``model`` defaults to ``pipeline.registry.load_model(lake, shard["model_version"], cache_dir)``.
    Idempotent: a shard whose part exists and whose work list is gone is already done.
    """
    version = shard["model_version"]
    out_key = shard["output_key"]
    if not lake.exists(shard["work_key"]):
        if lake.exists(out_key):
            log.info("shard %s already embedded: %s", shard["shard_id"], lake.uri(out_key))
            return lake.uri(out_key)
        raise FileNotFoundError(f"work list {lake.uri(shard['work_key'])} is missing: re-plan the shards")
    if model is None:
        from pipeline.registry import load_model

        model = load_model(lake, version, cache_dir)
    if model.version != version:
        raise ValueError(f"shard is for model {version}, got model {model.version}")
    work = lake.read_parquet(shard["work_key"])
    rejected = _embed_to_lake(lake, work, model, out_key, batch_size)
    reject_key = _part_key(schemas.EMBEDDING_REJECTS, version, shard["shard_id"])
    if rejected.num_rows:
        lake.write_parquet(reject_key, rejected)
    else:
        lake.delete(reject_key)
    lake.delete(shard["work_key"])
    return lake.uri(out_key)


@lake_reads()
def _embed_to_lake(lake: Lake, work: pa.Table, model: Any, out_key: str, batch_size: int) -> pa.Table:
    """Stream embeddings of ``work`` into ``out_key``; returns the rejected rows."""
    from pipeline.imageio import inference_dataset

    n = work.num_rows
    item_ids = work.column("item_id").to_pylist()
    shas = work.column("image_sha256").to_pylist()
    failures: dict[int, str] = {}
    dataset = inference_dataset(lake, work.column("image_key").to_pylist(), model.image_size, batch_size, failures)
    run = embed_fn(model)
    schema = embedding_schema(model.embedding_dim)
    done = 0
    start = last_log = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vitrine-embed-") as tmp:
        local = Path(tmp) / "part.parquet"
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        with pq.ParquetWriter(local, schema, compression="zstd") as writer:
            for positions, images in dataset:
                vectors = run(images).numpy().astype(np.float32, copy=False)
                idx = positions.numpy()
                pending.append(_batch(schema, idx, vectors, item_ids, shas))
                pending_rows += len(idx)
                if pending_rows >= ROW_GROUP_ROWS:
                    writer.write_table(pa.Table.from_batches(pending), row_group_size=ROW_GROUP_ROWS)
                    pending, pending_rows = [], 0
                done += len(idx)
                now = time.monotonic()
                if now - last_log >= LOG_EVERY_S:
                    log.info("embedded %d/%d images (%.1f images/s)", done, n, done / (now - start))
                    last_log = now
            if pending:
                writer.write_table(pa.Table.from_batches(pending), row_group_size=ROW_GROUP_ROWS)
        lake.put_file(out_key, local, content_type="application/vnd.apache.parquet")
    elapsed = time.monotonic() - start
    log.info(
        "embedded %d images in %.1f s (%.1f images/s), %d rejected → %s",
        done,
        elapsed,
        done / max(elapsed, 1e-9),
        len(failures),
        lake.uri(out_key),
    )
    for pos, reason in sorted(failures.items())[:20]:
        log.warning("cannot embed %s (item %s): %s", shas[pos], item_ids[pos], reason)
    return schemas.EMBEDDING_REJECTS.arrow(
        {"item_id": item_ids[p], "image_sha256": shas[p], **schemas.rejection(failures[p])} for p in sorted(failures)
    )


def _batch(schema: pa.Schema, idx: np.ndarray, vectors: np.ndarray, item_ids: list, shas: list) -> pa.RecordBatch:
    dim = vectors.shape[1]
    flat = pa.array(vectors.reshape(-1), pa.float32())
    return pa.RecordBatch.from_arrays(
        [
            pa.array([item_ids[i] for i in idx], pa.string()),
            pa.array([shas[i] for i in idx], pa.string()),
            pa.FixedSizeListArray.from_arrays(flat, dim),
        ],
        schema=schema,
    )
