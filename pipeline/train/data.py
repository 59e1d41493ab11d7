"""tf.data input pipelines for training and evaluation, read from the lake.

Images are read and decoded in parallel exactly as inference decodes them
(:func:`pipeline.imageio.decode_bytes`: letterboxed on white), cached as uint8 after the
first epoch (memory, or a file under the cache dir for large sets), shuffled, batched and
prefetched. Labels are int32 per attribute, -1 where the image has no label.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from pipeline.imageio import lake_read_failed, lake_reads
from pipeline.lake import Lake

if TYPE_CHECKING:
    import tensorflow as tf

log = logging.getLogger(__name__)

MISSING = -1


def encode_labels(table: pa.Table, attributes: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Per attribute, int32 class indices (``MISSING`` where unlabelled or unknown value)."""
    out = {}
    for attr, values in attributes.items():
        index = {v: i for i, v in enumerate(values)}
        column = table.column(attr).to_pylist() if attr in table.column_names else [None] * table.num_rows
        out[attr] = np.array([index.get(v, MISSING) if v is not None else MISSING for v in column], np.int32)
    return out


def _loader(lake: Lake, image_size: int):
    """A numpy function: lake key → (uint8 image, ok); missing or undecodable images are flagged,
    not fatal; any other read failure is a :class:`~pipeline.imageio.LakeReadError`
    (see :func:`~pipeline.imageio.lake_reads`)."""
    from pipeline.imagegate import ImageRejected
    from pipeline.imageio import decode_bytes

    blank = np.zeros((image_size, image_size, 3), np.uint8)
    failed = lake_read_failed()

    def load(key: bytes) -> tuple[np.ndarray, np.bool_]:
        name = key.decode()
        try:
            data = lake.read_bytes(name)
        except FileNotFoundError as exc:
            log.warning(f"skipping missing training image {name}: {exc}")
            return blank, np.bool_(False)
        except Exception as exc:  # the lake failed (S3 error, outage): not a reason to skip
            raise failed(f"training image {name}", exc) from exc
        try:
            return decode_bytes(data, image_size), np.bool_(True)
        except ImageRejected as exc:
            log.warning(f"skipping undecodable training image {name}: {exc}")
            return blank, np.bool_(False)

    return load


def _is_ok(image: tf.Tensor, ok: tf.Tensor, y: dict) -> tf.Tensor:
    return ok


def _drop_ok(image: tf.Tensor, ok: tf.Tensor, y: dict) -> tuple:
    return image, y


def _to_float(images: tf.Tensor, y: dict) -> tuple:
    import tensorflow as tf

    return tf.cast(images, tf.float32), y


def make_dataset(
    lake: Lake,
    table: pa.Table,
    attributes: dict[str, list[str]],
    image_size: int,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    cache: str | Path | None = "",
    similar: dict[str, int] | None = None,
) -> tf.data.Dataset:
    """Batches of (float32 images [B,S,S,3] in [0,255], {attr: int32 [B]}).

    ``cache``: "" caches decoded images in memory, a path caches them to that file, None
    disables caching (every epoch decodes again). ``similar`` (attribute → number of values):
    the labels also hold ``embedding``, the similarity ids of the similarity loss.
    """
    import tensorflow as tf

    from pipeline.train.losses import with_similarity

    labels = with_similarity(encode_labels(table, attributes), similar)
    keys = table.column("image_key").to_pylist()
    load = _loader(lake, image_size)

    def read(key: tf.Tensor, y: dict) -> tuple[tf.Tensor, tf.Tensor, dict]:
        image, ok = tf.numpy_function(load, [key], (tf.uint8, tf.bool))
        image.set_shape((image_size, image_size, 3))
        ok.set_shape(())
        return image, ok, y

    ds = tf.data.Dataset.from_tensor_slices((tf.constant(keys, tf.string), labels))
    ds = ds.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.filter(_is_ok).map(_drop_ok)
    if cache is not None:
        ds = ds.cache(str(cache))
    if shuffle:
        ds = ds.shuffle(max(len(keys), 1), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(_to_float, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


@lake_reads()
def load_arrays(
    lake: Lake, table: pa.Table, attributes: dict[str, list[str]], image_size: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The same examples fully decoded into memory (float32 images, int32 labels)."""
    ds = make_dataset(lake, table, attributes, image_size, 256, shuffle=False, cache=None)
    xs: list[np.ndarray] = []
    ys: dict[str, list[np.ndarray]] = {a: [] for a in attributes}
    for x, y in ds:
        xs.append(x.numpy())
        for a in attributes:
            ys[a].append(y[a].numpy())
    images = np.concatenate(xs) if xs else np.zeros((0, image_size, image_size, 3), np.float32)
    return images, {a: np.concatenate(v) if v else np.zeros(0, np.int32) for a, v in ys.items()}
