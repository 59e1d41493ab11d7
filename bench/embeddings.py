"""Retrieval quality of registered models' embeddings on a training set's test split.

For each model, side by side on the same images:
- precision@5: share of each test image's 5 nearest neighbours (cosine, other dedup groups
  only) with the same category and color labels (images with both labels);
- crop / pad retrieval: each test image is cropped 5% per side and padded 10% per side
  (``vitrine dedup-eval``'s variants); the rate at which the original, or an image of its
  dedup group, is the variant's nearest neighbour among all test images;
- for a model whose embedding blends in its heads' probabilities (``similarity_blend``), the
  same on the learned projection alone (the embedding's first ``embedding_dim`` components,
  renormalized);
- for a pretrained model, the same on its raw pooled backbone features reduced by PCA to 128
  and 256 dimensions (fitted on the train split), beside the learned 128-d projection.

    .venv/bin/python -m bench.embeddings --lake file:///tmp/vacc/lake \\
        --trainset file:///tmp/vacc/lake/tables/training_sets/run=acceptance VERSION [VERSION ...]
"""

from __future__ import annotations

import argparse
import io

import numpy as np

from pipeline.dedup import transforms
from pipeline.imageio import decode_bytes
from pipeline.lake import Lake
from pipeline.train.evaluate import RETRIEVAL_K as K
from pipeline.train.evaluate import precision_at_k


def variant_retrieval(base: np.ndarray, variants: np.ndarray, groups: list[str]) -> float:
    """Share of variants whose nearest base embedding is their own original, or an image of
    its dedup group (a crawled catalog holds the same photo at several retailers)."""
    b = base / np.linalg.norm(base, axis=1, keepdims=True)
    v = variants / np.linalg.norm(variants, axis=1, keepdims=True)
    group = np.asarray(groups)
    return float(np.mean(group[(v @ b.T).argmax(axis=1)] == group))


def _images(lake: Lake, keys: list[str], size: int, variant: str | None) -> np.ndarray:
    from PIL import Image

    out = []
    for key in keys:
        data = lake.read_bytes(key)
        if variant:
            img = Image.open(io.BytesIO(data)).convert("RGB")
            img = transforms.crop(img, 0.05) if variant == "crop" else transforms.pad(img, 0.10)
            data = transforms.encode(img)
        out.append(decode_bytes(data, size))
    return np.stack(out).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", required=True)
    parser.add_argument("--trainset", required=True)
    parser.add_argument("--pca-train", type=int, default=2000, help="train images the PCA is fitted on")
    parser.add_argument("--limit", type=int, help="use only the first N test images")
    parser.add_argument("versions", nargs="+")
    args = parser.parse_args()

    import keras

    from pipeline.registry import load_model
    from pipeline.train.trainset import read_training_set

    lake = Lake(args.lake)
    table = read_training_set(lake, args.trainset)
    rows = table.to_pylist()
    test = [r for r in rows if r["split"] == "test"][: args.limit]
    train = [r for r in rows if r["split"] == "train"][: args.pca_train]
    keys = [r["image_key"] for r in test]
    labels = [(r.get("category"), r.get("color")) for r in test]
    groups = [r["group_id"] for r in test]
    print(f"{len(test)} test images, {sum(None not in lab for lab in labels)} with category and color")
    for version in args.versions:
        model = load_model(lake, version)
        size = model.image_size

        def embed(x: np.ndarray, m: keras.Model = model.keras_model) -> np.ndarray:
            return np.asarray(m.predict(x, batch_size=64, verbose=0)["embedding"])

        base = _images(lake, keys, size, None)
        emb, crops, pads = (
            embed(base),
            embed(_images(lake, keys, size, "crop")),
            embed(_images(lake, keys, size, "pad")),
        )
        projection = int(model.metadata.get("config", {}).get("embedding_dim", emb.shape[1]))
        views = [("embedding", emb.shape[1])] + (
            [("projection alone", projection)] if projection < emb.shape[1] else []
        )
        for name, dims in views:
            e, c, p = emb[:, :dims], crops[:, :dims], pads[:, :dims]
            print(
                f"{version} ({model.backbone} @ {size}px, {name}, {dims}-d): "
                f"precision@{K} {precision_at_k(e, labels, groups):.3f}  crop 5% {variant_retrieval(e, c, groups):.3f}  "
                f"pad 10% {variant_retrieval(e, p, groups):.3f}",
                flush=True,
            )
        if model.backbone == "efficientnet_lite0":
            from sklearn.decomposition import PCA

            backbone = model.keras_model.get_layer("backbone")  # → [top feature map, pooled stage features]
            pooled = keras.Model(backbone.input, keras.layers.GlobalAveragePooling2D()(backbone.output[0]))
            fit = pooled.predict(_images(lake, [r["image_key"] for r in train], size, None), batch_size=64, verbose=0)
            feats = pooled.predict(base, batch_size=64, verbose=0)
            for dim in (128, 256):
                pca = PCA(dim, random_state=0).fit(fit)
                print(
                    f"  ImageNet pooled features, PCA {dim}-d: precision@{K} "
                    f"{precision_at_k(pca.transform(feats), labels, groups):.3f}"
                )


if __name__ == "__main__":
    main()
