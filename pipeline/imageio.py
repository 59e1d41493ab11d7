"""Decoding lake images into model-ready batches (tf.data), shared by tagging and embedding.

Decoding goes through the image gate (:mod:`pipeline.imagegate`, Pillow), which handles every
format the scrapers keep (JPEG incl. CMYK and progressive, PNG/WebP with alpha, palette,
grayscale, GIF, BMP), applies EXIF orientation and decodes to no less than the model's input
size (JPEGs at a reduced DCT scale, several times faster than a full decode; other formats
reduced before any conversion), within the process's decode memory budget.
Images are letterboxed onto a white square (catalog photos sit on white) and transparent
pixels are composited on white.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from pipeline.imagegate import WHITE, ImageRejected, decode_rgb, to_rgb
from pipeline.lake import Lake

if TYPE_CHECKING:
    import tensorflow as tf

S3_BATCHES_IN_FLIGHT = 8


def decode_bytes(data: bytes, image_size: int) -> np.ndarray:
    """Image bytes → uint8 RGB array (image_size, image_size, 3), aspect kept, white padding.

    Raises :class:`~pipeline.imagegate.ImageRejected` for bytes the gate refuses."""
    image, _, _ = decode_rgb(data, image_size, exif=True)
    return letterbox(image, image_size)


def letterbox(image: Image.Image, image_size: int) -> np.ndarray:
    """An opened image → uint8 RGB (image_size, image_size, 3): resized, aspect kept, white padding."""
    image = to_rgb(image)
    scale = image_size / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.BILINEAR)
    if image.size == (image_size, image_size):
        return np.asarray(image, dtype=np.uint8)
    canvas = Image.new("RGB", (image_size, image_size), (WHITE,) * 3)
    canvas.paste(image, ((image_size - image.width) // 2, (image_size - image.height) // 2))
    return np.asarray(canvas, dtype=np.uint8)


def inference_dataset(
    lake: Lake,
    keys: Sequence[str],
    image_size: int,
    batch_size: int,
    failures: dict[int, str] | None = None,
) -> tf.data.Dataset:
    """Batches ``(positions int64 [B], images float32 [B, S, S, 3])`` for ``keys``, in order.

    Each batch is read and decoded by one Python call (per-image calls into Python cost more
    than Pillow's decode), several batches in parallel (Pillow releases the GIL; S3 reads are
    I/O). An image that cannot be read or decoded is left out of its batch and its position is
    recorded in ``failures`` (position → reason) instead of failing the whole run.
    """
    import tensorflow as tf

    failed = failures if failures is not None else {}
    lock = threading.Lock()
    key_list = list(keys)

    def load(batch: np.int64) -> tuple[np.ndarray, np.ndarray]:
        start = int(batch) * batch_size
        positions, images = [], []
        for pos in range(start, min(start + batch_size, len(key_list))):
            try:
                images.append(decode_bytes(lake.read_bytes(key_list[pos]), image_size))
                positions.append(pos)
            except ImageRejected as exc:  # the gate's reason, as dedup records it
                with lock:
                    failed[pos] = str(exc)
            except FileNotFoundError as exc:
                with lock:
                    failed[pos] = f"missing from the lake: {exc}"
        pixels = np.stack(images) if images else np.zeros((0, image_size, image_size, 3), np.uint8)
        return np.asarray(positions, np.int64), pixels

    def tf_load(batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        positions, images = tf.numpy_function(load, [batch], (tf.int64, tf.uint8))
        positions.set_shape((None,))
        images.set_shape((None, image_size, image_size, 3))
        return positions, tf.cast(images, tf.float32)

    # remote reads are latency-bound: keep many in flight; local reads are CPU-bound: let tf.data tune
    parallel = S3_BATCHES_IN_FLIGHT if lake.latency_bound else tf.data.AUTOTUNE
    n_batches = -(-len(key_list) // batch_size)
    ds = tf.data.Dataset.range(n_batches).map(tf_load, num_parallel_calls=parallel, deterministic=True)
    return ds.filter(lambda positions, images: tf.size(positions) > 0).prefetch(tf.data.AUTOTUNE)
