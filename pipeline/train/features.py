"""Cached features of a frozen pretrained backbone, extracted once per training run.

Each training image is seen in ``views`` versions (view 0 as is, the others through the
training augmentation), so augmentation still counts when the heads train on cached
features. Per view four things are kept: the pooled backbone features, the pooled
activations of earlier stages, and a 32×32 downsample of the image (read by the color
branch), which phase 1 trains the heads on, and
the activation entering the first fine-tuned block (float16), which phase 2 trains the top
blocks on, so neither phase runs the frozen bottom of the network again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from pipeline.imageio import lake_reads
from pipeline.lake import Lake

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)
LOG_EVERY_S = 30.0


@dataclass
class Features:
    """Cached per-view features and labels (rows are views; ``source`` is the image row)."""

    pooled: np.ndarray  # (V, FEATURES) float32: pooled backbone features
    low: np.ndarray  # (V, TAP_FEATURES) float32: pooled low-level activations (all below the cut)
    cut: np.ndarray | None  # (V, h, w, c) float16 entering block ``cut_block``, or None
    small: np.ndarray  # (V, SMALL, SMALL, 3) float16: the downsampled image (color branch)
    labels: dict[str, np.ndarray]  # attr → (V,) int32, -1 unlabelled
    source: np.ndarray  # (V,) index of the decoded image the view comes from

    def __len__(self) -> int:
        return len(self.pooled)


def extractor(net: Any, image_size: int, cut_block: int | None) -> keras.Model:
    """[0, 255] pixels → (pooled features, pooled low-level features, small image[, activation
    entering ``cut_block``])."""
    import keras
    from keras import layers

    from pipeline.backbones.efficientnet_lite import N_BLOCKS, TAPS, pool_taps
    from pipeline.model import small_image

    cut = N_BLOCKS if cut_block is None else cut_block
    if cut <= max(TAPS):
        raise ValueError(
            f"fine-tuning reaches below block {max(TAPS)}, whose features are cached: "
            f"finetune_blocks must be at most {N_BLOCKS - max(TAPS) - 1}"
        )
    pixels = keras.Input((image_size, image_size, 3), name="pixels")
    taps: dict = {}
    mid = net.apply(pixels, 0, cut, head=False, taps=taps)
    top = net.apply(mid, cut, N_BLOCKS, stem=False)
    pooled = layers.GlobalAveragePooling2D(name="pool")(top)
    outputs = [pooled, pool_taps(taps), small_image(pixels, image_size)] + ([mid] if cut_block is not None else [])
    return keras.Model(pixels, outputs, name="extractor")


@lake_reads()
def extract(
    lake: Lake,
    table: pa.Table,
    vocab: dict[str, list[str]],
    net: Any,
    image_size: int,
    *,
    views: int = 1,
    cut_block: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    label: str = "",
) -> Features:
    """Run the frozen backbone once over ``views`` versions of every decodable image."""
    import tensorflow as tf

    from pipeline.train.augment import augmentation
    from pipeline.train.data import make_dataset

    model = extractor(net, image_size, cut_block)
    run = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    augment = augmentation(seed)
    ds = make_dataset(lake, table, vocab, image_size, batch_size, shuffle=False, cache=None)
    pooled, lows, smalls, cuts, source = [], [], [], [], []
    labels: dict[str, list[np.ndarray]] = {a: [] for a in vocab}
    done, start, last = 0, time.monotonic(), time.monotonic()
    for images, y in ds:
        n = int(images.shape[0])
        for v in range(views):
            x = images if v == 0 else augment(images, training=True)
            out = run(x)
            pooled.append(np.asarray(out[0], np.float32))
            lows.append(np.asarray(out[1], np.float32))
            smalls.append(np.asarray(out[2]).astype(np.float16))
            if cut_block is not None:
                cuts.append(np.asarray(out[3]).astype(np.float16))
            for a in vocab:
                labels[a].append(y[a].numpy())
            source.append(np.arange(done, done + n))
        done += n
        if time.monotonic() - last > LOG_EVERY_S:
            last = time.monotonic()
            log.info(
                "%s features: %d/%d images (%.0f views/s)", label, done, table.num_rows, done * views / (last - start)
            )
    seconds = time.monotonic() - start
    log.info(
        "%s features: %d images × %d views in %.0fs (%.1f views/s)",
        label,
        done,
        views,
        seconds,
        done * views / max(seconds, 1e-9),
    )
    return Features(
        pooled=np.concatenate(pooled) if pooled else np.zeros((0, 0), np.float32),
        low=np.concatenate(lows) if lows else np.zeros((0, 0), np.float32),
        cut=np.concatenate(cuts) if cuts else None,
        small=np.concatenate(smalls) if smalls else np.zeros((0, 0, 0, 3), np.float16),
        labels={a: np.concatenate(v) if v else np.zeros(0, np.int32) for a, v in labels.items()},
        source=np.concatenate(source) if source else np.zeros(0, np.int64),
    )


def feature_dataset(
    inputs: Any, labels: dict[str, np.ndarray], batch_size: int, *, shuffle: bool, seed: int = 0
) -> Any:
    """A tf.data pipeline of batches over cached arrays (inputs: one array or a tuple of arrays),
    reshuffled every epoch when ``shuffle``.

    Batches are cut and cast to float32 in numpy: the cache keeps the large arrays in float16,
    and a float16 tensor anywhere in a TensorFlow graph makes oneDNN log an error-level line
    ("oneDNN supports DT_HALF only on platforms with AVX-512") on CPUs without AVX-512 FP16,
    which Airflow records as an error in the training task's log."""
    import tensorflow as tf

    several = isinstance(inputs, tuple)
    arrays = inputs if several else (inputs,)
    n = len(next(iter(labels.values())))
    rng = np.random.default_rng(seed)

    def batches() -> Any:
        order = rng.permutation(n) if shuffle else np.arange(n)
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            x = tuple(a[rows].astype(np.float32) for a in arrays)
            yield (x if several else x[0]), {k: v[rows] for k, v in labels.items()}

    x_spec = tuple(tf.TensorSpec((None, *a.shape[1:]), tf.float32) for a in arrays)
    y_spec = {k: tf.TensorSpec((None, *v.shape[1:]), tf.as_dtype(v.dtype)) for k, v in labels.items()}
    signature = (x_spec if several else x_spec[0], y_spec)
    return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(tf.data.AUTOTUNE)
