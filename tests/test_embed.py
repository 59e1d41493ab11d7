"""Decoding and embedding: real images, a real (tiny) Keras model, a real file lake."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline import embed, layout, schemas
from pipeline.imagegate import ImageRejected
from pipeline.imageio import decode_bytes
from tests.support.serve import embed_all, garment_png, tiny_model, write_catalog


def _encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny valid PNG whose header claims width × height."""
    data = bytearray(_encode(Image.new("RGB", (4, 4)), "PNG"))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def test_decode_handles_real_world_formats():
    red = Image.new("RGB", (64, 32), (200, 0, 0))
    cmyk = decode_bytes(_encode(red.convert("CMYK"), "JPEG", quality=95), 16)
    assert cmyk.shape == (16, 16, 3) and cmyk.dtype == np.uint8
    assert cmyk[8, 8, 0] > 150 and cmyk[8, 8, 1] < 60  # still red, not inverted
    assert (cmyk[0, 8] == 255).all()  # letterboxed on white (64x32 → 16x8 in the middle)

    transparent = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    for fmt in ("PNG", "WEBP"):
        assert (
            decode_bytes(_encode(transparent, fmt, **({"lossless": True} if fmt == "WEBP" else {})), 8) >= 250
        ).all()

    palette = Image.new("P", (10, 10), 3)
    assert decode_bytes(_encode(palette, "PNG"), 8).shape == (8, 8, 3)
    assert decode_bytes(_encode(Image.new("L", (5, 5), 128), "JPEG"), 12)[6, 6, 0] == pytest.approx(128, abs=3)


def test_decode_rejects_bad_input_with_reason():
    with pytest.raises(ImageRejected, match="not an image"):
        decode_bytes(b"<html>not an image</html>", 16)
    with pytest.raises(ImageRejected, match="too many pixels"):
        decode_bytes(_png_claiming(10000, 10000), 16)
    with pytest.raises(ImageRejected, match="too many pixels"):
        decode_bytes(_png_claiming(30000, 30000), 16)
    truncated = _encode(Image.new("RGB", (64, 64), (1, 2, 3)), "JPEG")[:200]
    with pytest.raises(ImageRejected):
        decode_bytes(truncated, 16)


def test_embed_is_sharded_incremental_and_idempotent(lake, monkeypatch):
    monkeypatch.setattr(embed, "ROW_GROUP_ROWS", 4)
    model = tiny_model()
    items_uri = write_catalog(lake, range(13), corrupt=(5,))

    shards = embed.plan_shards(lake, items_uri, model.version, max_shards=3, min_shard_images=4)
    assert len(shards) == 3 and sum(s["n_images"] for s in shards) == 13
    uris = [embed.embed_shard(lake, s, model=model, batch_size=4) for s in shards]
    assert uris == [lake.uri(s["output_key"]) for s in shards]

    table = embed.read_embeddings(lake, model.version)
    assert table.num_rows == 12 and "item-0005" not in table.column("item_id").to_pylist()
    assert table.schema.field("embedding").type == pa.list_(pa.float32(), model.embedding_dim)
    vectors = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    for key in lake.list(layout.table("embeddings")):
        meta = pq.ParquetFile(lake.local_path(key)).metadata
        assert all(meta.row_group(g).num_rows <= 4 for g in range(meta.num_row_groups))

    # the vector equals the model's own output for that image
    row = table.column("item_id").to_pylist().index("item-0003")
    pixels = decode_bytes(garment_png(3), model.image_size).astype(np.float32)[None]
    expected = np.asarray(model.keras_model(pixels, training=False)["embedding"])[0]
    assert np.allclose(vectors[row], expected, atol=1e-5)

    rejects = schemas.EMBEDDING_REJECTS.read(lake, model_version=model.version)
    assert rejects.column("item_id").to_pylist() == ["item-0005"]
    assert rejects.column("reason")[0].as_py() == "not_an_image"
    assert "unrecognised format" in rejects.column("detail")[0].as_py()

    # nothing left to do; a retried shard is a no-op returning the same part
    assert embed.plan_shards(lake, items_uri, model.version, max_shards=3, min_shard_images=4) == []
    assert embed.embed_shard(lake, shards[0], model=model) == uris[0]

    # 3 new items: only they are planned and embedded, no row is duplicated
    items_uri = write_catalog(lake, range(16), corrupt=(5,))
    new = embed.plan_shards(lake, items_uri, model.version, max_shards=3, min_shard_images=4)
    assert [s["n_images"] for s in new] == [3]
    embed_all(lake, items_uri, model)
    table = embed.read_embeddings(lake, model.version)
    assert table.num_rows == 15
    assert len(set(table.column("image_sha256").to_pylist())) == 15
    assert len(lake.list(layout.table("embeddings"))) == 4

    other = tiny_model(version="tiny-v2")
    assert sum(s["n_images"] for s in embed.plan_shards(lake, items_uri, other.version, 2)) == 16


def test_embed_refuses_a_model_of_another_version(lake):
    items_uri = write_catalog(lake, range(3))
    shard = embed.plan_shards(lake, items_uri, "tiny-v1", max_shards=1)[0]
    with pytest.raises(ValueError, match="tiny-v1"):
        embed.embed_shard(lake, shard, model=tiny_model(version="tiny-v9"))
