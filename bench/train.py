"""Training throughput: the tf.data pipeline from the lake vs the same model fed from
in-memory arrays (goal: ratio ≥ 0.8, the input pipeline is not the bottleneck), measured side
by side in one run, for the compact backbone; then the pretrained EfficientNet-Lite0 path's
stages (feature extraction, head training on cached features, fine-tuning the top blocks on
cached activations). On a GPU both compare mixed precision with float32.

    .venv/bin/python -m bench.train [--folder ../shared/datasets/fashion-products] [--images 1024]

Without ``--folder`` it generates garment-like images. Both arms run the same compiled
training model (augmentation included) for the same number of steps after a warm-up epoch;
the tf.data arm starts from the first epoch's cache, as training does after epoch 1.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pipeline.lake import Lake


def _prepare(folder: Path | None, n: int, workdir: Path) -> tuple[Lake, str]:
    from pipeline.taxonomy import load_taxonomy
    from pipeline.train.folder_import import import_labelled_folder
    from pipeline.train.trainset import build_training_set

    lake = Lake(f"file://{workdir / 'lake'}")
    if folder is None:
        from tests.support.attributes import write_labelled_folder

        folder = workdir / "folder"
        write_labelled_folder(folder, n=n, size=224, duplicate_every=0)
    import_labelled_folder(lake, folder, limit=n)
    return lake, build_training_set(
        lake, "bench", load_taxonomy(), ["category", "color", "pattern"], fractions=(0.8, 0.2, 0.0)
    )


def throughput(model, data, steps: int, batch: int, arrays: bool) -> float:
    """Images/s of ``steps`` training steps (after one warm-up pass over the data)."""
    if arrays:
        x, y = data
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        n_epochs = max(1, round(steps * batch / len(x)))
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=n_epochs, verbose=0)
        return n_epochs * len(x) / (time.perf_counter() - start)
    model.fit(data, epochs=1, verbose=0)  # fills the decode cache, as epoch 1 of training does
    n = sum(int(next(iter(b.values())).shape[0]) for _, b in data)
    n_epochs = max(1, round(steps * batch / n))
    start = time.perf_counter()
    model.fit(data, epochs=n_epochs, verbose=0)
    return n_epochs * n / (time.perf_counter() - start)


def training_arm(vocab: dict[str, list[str]], size: int, policy: str, jit: bool = False, augment: bool = True):
    """(model, compiled training model) built under dtype ``policy``; the global policy is
    float32 again afterwards."""
    import keras
    import numpy as np

    from pipeline.model import build_model
    from pipeline.train.config import TrainConfig
    from pipeline.train.losses import masked_loss
    from pipeline.train.train import _training_model

    keras.mixed_precision.set_global_policy(policy)
    try:
        model = build_model(vocab, size, backbone="compact")
        train_model = _training_model(model, list(vocab), TrainConfig(image_size=size, augment=augment))
        train_model.compile(
            "adam", loss={a: masked_loss(np.ones(len(v), "float32")) for a, v in vocab.items()}, jit_compile=jit
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return model, train_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, help="labelled photo folder (default: generated images)")
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per arm (best is kept)")
    parser.add_argument("--pretrained-size", type=int, default=160, help="input size of the pretrained arm")
    args = parser.parse_args()

    from pipeline.taxonomy import load_taxonomy
    from pipeline.train.data import load_arrays, make_dataset
    from pipeline.train.train import has_gpu
    from pipeline.train.trainset import read_training_set

    with tempfile.TemporaryDirectory(prefix="vitrine-bench-train-") as tmp:
        lake, uri = _prepare(args.folder, args.images, Path(tmp))
        table = read_training_set(lake, uri)
        vocab = load_taxonomy().vocabularies(["category", "color", "pattern"])
        size, batch = args.image_size, args.batch_size
        dataset = make_dataset(lake, table, vocab, size, batch, shuffle=True)
        start = time.perf_counter()
        arrays = load_arrays(lake, table, vocab, size)
        decode_rate = table.num_rows / (time.perf_counter() - start)
        policies = [("float32", False)] + ([("mixed_float16", True)] if has_gpu() else [])
        print(
            f"{table.num_rows} images @ {size}px, batch {batch}, {args.steps} steps per arm; "
            f"decode from lake: {decode_rate:.0f} images/s; gpu={has_gpu()}"
        )
        results = {}
        for policy, jit in policies:
            _, pipe_model = training_arm(vocab, size, policy, jit)
            _, mem_model = training_arm(vocab, size, policy, jit)
            pipes, mems = [], []
            for _ in range(args.rounds):  # alternate the arms so machine load hits both alike
                pipes.append(throughput(pipe_model, dataset, args.steps, batch, arrays=False))
                mems.append(throughput(mem_model, arrays, args.steps, batch, arrays=True))
            pipe, mem = max(pipes), max(mems)
            results[policy] = (pipe, mem)
            print(
                f"[{policy}] tf.data pipeline: {pipe:.0f} images/s | in-memory arrays: {mem:.0f} images/s "
                f"(best of {args.rounds} alternating rounds) "
                f"| ratio {pipe / mem:.2f} (goal ≥ 0.8)"
            )
        if "mixed_float16" in results:
            print(f"mixed precision vs float32 (tf.data): {results['mixed_float16'][0] / results['float32'][0]:.2f}×")
        else:
            print("no GPU: mixed precision vs float32 not measured")
        pretrained_arm(lake, uri, args.pretrained_size, batch)


def pretrained_arm(lake: Lake, uri: str, size: int, batch: int) -> None:
    """Stage rates of a short pretrained training run, per precision (float32, and mixed_float16
    when a GPU is present: the same code path, told its precision)."""
    from pipeline.train.config import TrainConfig
    from pipeline.train.train import has_gpu, train_candidate

    for precision in ["float32"] + (["mixed_float16"] if has_gpu() else []):
        config = TrainConfig(
            attributes=["category", "color", "pattern"],
            image_size=size,
            epochs=2,
            finetune_epochs=2,
            patience=10,
            batch_size=batch,
            precision=precision,
        )
        rates = train_candidate(lake, uri, config, verbose=0, register=False).rates
        print(f"[efficientnet_lite0 @ {size}px, {precision}] " + " | ".join(f"{k} {v:.0f}" for k, v in rates.items()))


if __name__ == "__main__":
    main()
