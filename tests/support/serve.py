"""Helpers for the embed/index/publish/client tests: a tiny real Keras model and a tiny catalog.

The model has the registry's interface (version, image_size, attributes, embedding_dim,
keras_model with dict outputs {"embedding": L2-normalized, "category": softmax}).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from PIL import Image, ImageDraw

from pipeline import layout, schemas
from pipeline.lake import Lake, sha256_bytes

CATEGORIES = ["dresses", "shirts", "bags"]


@dataclass(frozen=True)
class TinyModel:
    version: str
    image_size: int
    attributes: dict
    embedding_dim: int
    keras_model: Any


def tiny_model(version: str = "tiny-v1", image_size: int = 32, dim: int = 16) -> TinyModel:
    """A small functional model; color statistics feed the embedding so colors separate."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((image_size, image_size, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    conv = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    features = keras.layers.Concatenate()(
        [keras.layers.GlobalAveragePooling2D()(conv), keras.layers.GlobalAveragePooling2D()(x)]
    )
    embedding = keras.layers.UnitNormalization(name="embedding")(keras.layers.Dense(dim)(features))
    category = keras.layers.Dense(len(CATEGORIES), activation="softmax", name="category")(features)
    model = keras.Model(inputs, {"embedding": embedding, "category": category})
    return TinyModel(version, image_size, {"category": CATEGORIES}, dim, model)


def garment_png(i: int, size: int = 48) -> bytes:
    """A distinct little picture per i (background color + a shape), as PNG bytes."""
    rng = np.random.default_rng(i)
    image = Image.new("RGB", (size, size), tuple(int(c) for c in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    x, y = rng.integers(0, size // 2, 2)
    draw.rectangle(
        [int(x), int(y), int(x) + size // 2, int(y) + size // 3], fill=tuple(int(c) for c in rng.integers(0, 256, 3))
    )
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def write_catalog(lake: Lake, ids: range, *, corrupt: tuple[int, ...] = (), model_version: str = "tiny-v1") -> str:
    """Store images and write the items + attributes tables for items ``ids``; returns items URI.

    Items in ``corrupt`` get bytes that are not an image.
    """
    rows = []
    for i in ids:
        data = b"not an image at all" + bytes([i % 256]) if i in corrupt else garment_png(i)
        sha = sha256_bytes(data)
        key = layout.image_key(sha, "png")
        lake.write_bytes(key, data)
        rows.append((f"item-{i:04d}", sha, key, i))
    offers = [
        [
            {
                "retailer": "acme",
                "product_id": f"acme:{i}",
                "url": f"http://127.0.0.1/p/{i}",
                "price": 10.0 + i,
                "currency": "EUR",
            }
        ]
        for *_, i in rows
    ]
    items = [
        {
            "item_id": r[0],
            "group_id": f"g{r[3]}",
            "canonical_sha256": r[1],
            "image_key": r[2],
            "title": f"Garment {r[3]}",
            "offers": o,
            "n_images": 1,
        }
        for r, o in zip(rows, offers)
    ]
    attributes = pa.table(
        {
            "item_id": [r[0] for r in rows],
            "image_sha256": [r[1] for r in rows],
            "category": [CATEGORIES[r[3] % len(CATEGORIES)] for r in rows],
            "category_confidence": pa.array([0.5 + (r[3] % 5) / 10 for r in rows], pa.float32()),
        }
    )
    schemas.ITEMS.write(lake, items)
    schemas.attributes_table(["category"]).write(lake, attributes, model_version=model_version)
    return lake.uri(schemas.ITEMS.prefix())


def attributes_uri(lake: Lake, model_version: str = "tiny-v1") -> str:
    return lake.uri(schemas.attributes_table(["category"]).prefix(model_version=model_version))


def register(lake: Lake, model: TinyModel) -> str:
    """Register the tiny model in the lake's model registry under its version."""
    from pipeline.registry import exists, register_model

    if not exists(lake, model.version):
        register_model(
            lake,
            model.keras_model,
            attributes=model.attributes,
            image_size=model.image_size,
            backbone="tiny",
            version=model.version,
        )
    return model.version


def embed_all(
    lake: Lake, items_uri: str, model: TinyModel, max_shards: int = 2, min_shard_images: int = 4
) -> list[str]:
    """Register the model, then plan and run every shard as the DAG's mapped tasks would
    (the model comes from the registry)."""
    from pipeline.embed import embed_shard, plan_shards

    register(lake, model)
    shards = plan_shards(lake, items_uri, model.version, max_shards, min_shard_images=min_shard_images)
    return [embed_shard(lake, shard) for shard in shards]
