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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from pipeline.imagegate import WHITE, ImageRejected, decode_rgb, to_rgb
from pipeline.lake import Lake

if TYPE_CHECKING:
    import tensorflow as tf

S3_BATCHES_IN_FLIGHT = 8


class LakeReadError(RuntimeError):
    """An image could not be read from the lake: the lake failed (S3 error, outage), not the image."""


# the lake read failures of the datasets made inside the current :func:`lake_reads`
_FAILURES: ContextVar[list[LakeReadError] | None] = ContextVar("vitrine_lake_read_failures", default=None)


@contextmanager
def lake_reads() -> Iterator[None]:
    """Around making *and* iterating tf.data datasets that read the lake (also a decorator): a
    lake read that fails inside tf.data, which TensorFlow reports as an opaque ``UnknownError``,
    raises :class:`LakeReadError` naming the key and the cause instead."""
    import tensorflow as tf

    failures: list[LakeReadError] = []
    token = _FAILURES.set(failures)
    try:
        yield
    except tf.errors.OpError:
        if not failures:
            raise
        raise failures[0] from failures[0].__cause__
    finally:
        _FAILURES.reset(token)


def lake_read_failed() -> Callable[[str, BaseException], LakeReadError]:
    """For a dataset being made: ``(what, exc) -> LakeReadError``, recorded for the enclosing
    :func:`lake_reads` (call it where the dataset is made: tf.data runs loaders on its threads)."""
    failures = _FAILURES.get()

    def failed(what: str, exc: BaseException) -> LakeReadError:
        error = LakeReadError(f"{what}: {type(exc).__name__}: {exc}")
        if failures is not None:
            failures.append(error)
        return error

    return failed


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
    I/O). An image that is missing or cannot be decoded is left out of its batch and its position
    is recorded in ``failures`` (position → reason) instead of failing the whole run; a failing
    lake is a :class:`LakeReadError` under :func:`lake_reads`.
    """
    import tensorflow as tf

    failed = failures if failures is not None else {}
    lake_failed = lake_read_failed()
    lock = threading.Lock()
    key_list = list(keys)

    def load(batch: np.int64) -> tuple[np.ndarray, np.ndarray]:
        start = int(batch) * batch_size
        positions, images = [], []
        for pos in range(start, min(start + batch_size, len(key_list))):
            try:
                data = lake.read_bytes(key_list[pos])
            except FileNotFoundError as exc:
                with lock:
                    failed[pos] = f"missing from the lake: {exc}"
                continue
            except Exception as exc:  # the lake failed: the run must fail, naming the key
                raise lake_failed(f"image {key_list[pos]}", exc) from exc
            try:
                images.append(decode_bytes(data, image_size))
                positions.append(pos)
            except ImageRejected as exc:  # the gate's reason, as dedup records it
                with lock:
                    failed[pos] = str(exc)
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
