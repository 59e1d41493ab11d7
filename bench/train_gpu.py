"""Mixed precision vs float32 on a GPU worker: training and embedding images/s of the
attribute model, measured side by side in one run, on in-memory batches.

It runs on any Keras 3 backend (``KERAS_BACKEND``), so it also runs on a GPU worker that has
JAX but no TensorFlow. Each policy (float32, mixed_float16, mixed_bfloat16) gets the same
model, the same random images and labels, and the same number of steps after a compile
warm-up; arms alternate over ``--rounds`` and the best round is kept.

    KERAS_BACKEND=jax python -m bench.train_gpu [--image-size 96] [--batch-size 256]

Training runs without the augmentation layers unless ``--augment``: under the JAX backend
Keras' geometric augmentation (RandomRotation/Zoom/Translation) dominates the step
(measured ~60× slower than the model itself), which would hide the precision effect.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.train import throughput, training_arm

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def _data(n: int, size: int, vocab: dict[str, list[str]], seed: int = 0) -> tuple[np.ndarray, dict]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, size, size, 3)).astype("float32")
    return x, {a: rng.integers(0, len(v), n).astype("int32") for a, v in vocab.items()}


def _embed_rate(model, x, batch: int, repeats: int) -> float:
    batches = [x[i : i + batch] for i in range(0, len(x) - batch + 1, batch)]
    np.asarray(model.predict_on_batch(batches[0])["embedding"])  # compile
    start = time.perf_counter()
    for _ in range(repeats):
        for b in batches:
            np.asarray(model.predict_on_batch(b)["embedding"])
    return repeats * len(batches) * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--augment", action="store_true", help="include the augmentation layers")
    args = parser.parse_args()

    import keras

    from pipeline.taxonomy import load_taxonomy

    vocab = load_taxonomy().vocabularies(["category", "color", "pattern"])
    x, y = _data(args.images, args.image_size, vocab)
    devices = _devices()
    print(
        f"keras {keras.__version__}, backend {keras.backend.backend()}, devices {devices}; {args.images} images "
        f"@ {args.image_size}px, batch {args.batch_size}, augment={args.augment}"
    )
    arms = {p: training_arm(vocab, args.image_size, p, augment=args.augment) for p in POLICIES}
    steps = args.epochs * args.images // args.batch_size  # whole epochs of the in-memory set
    train = {p: [] for p in POLICIES}
    embed = {p: [] for p in POLICIES}
    for _ in range(args.rounds):
        for policy, (model, train_model) in arms.items():
            train[policy].append(throughput(train_model, (x, y), steps, args.batch_size, arrays=True))
            embed[policy].append(_embed_rate(model, x, args.batch_size, args.epochs))
    base_t, base_e = max(train["float32"]), max(embed["float32"])
    for policy in POLICIES:
        t, e = max(train[policy]), max(embed[policy])
        print(
            f"[{policy:>14}] train {t:8.0f} images/s ({t / base_t:.2f}× float32) | "
            f"embed {e:8.0f} images/s ({e / base_e:.2f}× float32)"
        )


def _devices() -> str:
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return str(jax.devices())
    if backend == "tensorflow":
        import tensorflow as tf

        return str(tf.config.list_physical_devices("GPU") or ["CPU"])
    return backend


if __name__ == "__main__":
    main()
