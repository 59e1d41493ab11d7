"""Decoding lake images into model-ready batches (tf.data), shared by tagging and embedding."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pipeline.lake import Lake

if TYPE_CHECKING:
    import tensorflow as tf


def decode_image(data: "tf.Tensor", image_size: int) -> "tf.Tensor":
    """Bytes (JPEG/PNG/GIF/WebP/BMP) → float32 RGB in [0, 255], resized with padding."""
    import tensorflow as tf

    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image = tf.image.resize_with_pad(image, image_size, image_size)
    return tf.cast(image, tf.float32)


def inference_dataset(
    lake: Lake, keys: Sequence[str], image_size: int, batch_size: int
) -> "tf.data.Dataset":
    """Batches of decoded images for ``keys``, in order, prefetched."""
    import tensorflow as tf

    def load(key: tf.Tensor) -> tf.Tensor:
        data = tf.py_function(lambda k: lake.read_bytes(k.numpy().decode()), [key], tf.string)
        return decode_image(data, image_size)

    ds = tf.data.Dataset.from_tensor_slices(list(keys))
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
