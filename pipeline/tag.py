"""Tag every catalog item with the attribute model: one prediction per canonical image.

Writes ``tables/attributes/model_version=<v>/part-0.parquet`` (item_id, image_sha256, and per
attribute ``A`` and ``A_confidence``), overwriting it on every run (idempotent). An item whose
image cannot be read or decoded keeps a row with null values and confidence 0, and is
reported with the reason, so the table always covers every item. An untrained model (the
initial one, before any retrain) tags nothing: every value is null with confidence 0, and
neither the model nor any image is read.

Incremental: a prediction depends only on the image and the model version, so an image the
last run tagged (same partition, values not null) keeps its row; only new images are read.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipeline import schemas
from pipeline.config import Settings
from pipeline.imageio import lake_reads
from pipeline.lake import Lake

log = logging.getLogger(__name__)

ITEM_COLUMNS = ["item_id", "canonical_sha256", "image_key"]


def read_items(lake: Lake, items_uri: str) -> pa.Table:
    """The items table (a partition folder or one Parquet file), with the columns tagging needs."""
    key = lake.key_of(items_uri)
    table = (
        lake.read_parquet(key, columns=ITEM_COLUMNS)
        if key.endswith(".parquet")
        else lake.read_table(key, columns=ITEM_COLUMNS)
    )
    if table is None:
        raise FileNotFoundError(f"no items table at {items_uri}")
    return table.sort_by("item_id")


@lake_reads()
def predict_attributes(
    lake: Lake, keys: list[str], model_version: str, batch_size: int, cache_dir: Path | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[int, str]]:
    """Per attribute an (N, n_values) probability array (rows of unreadable images are zero),
    an ok mask, and position → reason for every image that could not be read or decoded.
    ``cache_dir``: where the model file is kept (see ``pipeline.registry.load_model``)."""
    from pipeline.imageio import inference_dataset
    from pipeline.registry import load_model

    model = load_model(lake, model_version, cache_dir)
    probs = {a: np.zeros((len(keys), len(v)), np.float32) for a, v in model.attributes.items()}
    failures: dict[int, str] = {}
    if keys:
        for positions, images in inference_dataset(lake, keys, model.image_size, batch_size, failures):
            out = model.keras_model(images, training=False)
            rows = positions.numpy()
            for attr in model.attributes:
                probs[attr][rows] = np.asarray(out[attr])
    ok = np.ones(len(keys), bool)
    ok[list(failures)] = False
    return probs, ok, failures


def attributes_table(
    items: pa.Table, attributes: dict[str, list[str]], probs: dict[str, np.ndarray], ok: np.ndarray
) -> pa.Table:
    """Pure: the attributes table from predicted probabilities (null where ``ok`` is False)."""
    columns: dict[str, pa.Array] = {
        "item_id": items.column("item_id"),
        "image_sha256": items.column("canonical_sha256"),
    }
    for attr, values in attributes.items():
        p = probs[attr]
        best = p.argmax(axis=1) if len(p) else np.zeros(0, int)
        labels = [values[i] if good else None for i, good in zip(best, ok)]
        conf = np.where(ok, p.max(axis=1) if len(p) else 0.0, 0.0).astype(np.float32)
        columns[attr] = pa.array(labels, pa.string())
        columns[f"{attr}_confidence"] = pa.array(conf, pa.float32())
    return pa.table(columns)


def _kept_rows(previous: pa.Table | None, items: pa.Table, attribute: str) -> tuple[pa.Table | None, list[int]]:
    """Rows of the last run's table that still hold (same image, tagged: not null), re-keyed to
    the current items; and the positions of the items that must be tagged now."""
    shas = items.column("canonical_sha256").to_pylist()
    if previous is None:
        return None, list(range(len(shas)))
    row_of = {
        sha: i
        for i, (sha, value) in enumerate(
            zip(previous.column("image_sha256").to_pylist(), previous.column(attribute).to_pylist())
        )
        if value is not None
    }
    reuse = [i for i, sha in enumerate(shas) if sha in row_of]
    kept = previous.take(pa.array([row_of[shas[i]] for i in reuse], pa.int64()))
    ids = items.take(pa.array(reuse, pa.int64())).column("item_id")
    kept = kept.set_column(kept.schema.get_field_index("item_id"), "item_id", ids)
    return kept, [i for i, sha in enumerate(shas) if sha not in row_of]


def tag_items(
    lake: Lake,
    items_uri: str,
    model_version: str,
    batch_size: int = Settings.embed_batch_size,
    cache_dir: Path | None = None,
) -> str:
    """Predict every attribute of every new image; returns the attributes partition URI.
    ``cache_dir``: where the model file is kept (see ``pipeline.registry.load_model``). The model
    is loaded only when there are new images to tag with a trained model (the vocabulary comes
    from the registry's metadata): TensorFlow's import and the model load are most of an
    incremental night's tagging."""
    from pipeline.registry import read_metadata

    start = time.monotonic()
    items = read_items(lake, items_uri)
    keys = items.column("image_key").to_pylist()
    missing = [i for i, k in enumerate(keys) if not k]
    if missing:
        raise ValueError(f"{len(missing)} item(s) in {items_uri} have no image_key, e.g. row {missing[0]}")
    metadata = read_metadata(lake, model_version)
    attributes = {k: list(v) for k, v in metadata["attributes"].items()}
    trained = bool(metadata.get("trained", True))
    schema = schemas.attributes_table(attributes)
    prefix, key = schema.prefix(model_version=model_version), schema.part(model_version=model_version)
    kept, todo = _kept_rows(lake.read_parquet(key) if lake.exists(key) else None, items, next(iter(attributes)))
    todo_keys = [keys[i] for i in todo]
    if trained and todo_keys:
        probs, ok, errors = predict_attributes(lake, todo_keys, model_version, batch_size, cache_dir)
    else:  # nothing new; or an untrained model, whose guesses are noise (often at high confidence): empty values
        probs = {a: np.zeros((len(todo), len(v)), np.float32) for a, v in attributes.items()}
        ok, errors = np.zeros(len(todo), bool), {}
    table = schema.arrow(attributes_table(items.take(pa.array(todo, pa.int64())), attributes, probs, ok))
    if kept is not None:
        table = pa.concat_tables([schema.arrow(kept), table])
    schema.write(lake, table.sort_by("item_id"), model_version=model_version)
    failed = [(todo_keys[i], reason) for i, reason in sorted(errors.items())]
    elapsed = time.monotonic() - start
    if not trained:
        log.warning(
            f"model {model_version} is untrained: attribute values left empty (train one with "
            "`vitrine dag-run attribute_model_retrain`)"
        )
    log.info(
        f"tagged {int(ok.sum())}/{len(todo)} new images with model {model_version} in {elapsed:.1f}s"
        f" ({len(todo) / max(elapsed, 1e-9):.0f} images/s), {items.num_rows - len(todo)} kept from the last run;"
        f" {len(failed)} unreadable image(s)"
    )
    for key, error in failed[:20]:
        log.warning("  unreadable: %s: %s", key, error)
    return lake.uri(prefix)
