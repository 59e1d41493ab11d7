"""Benchmark: catalog embedding throughput, Annoy vs exact search, incremental embedding.

All ratios are measured side by side in one run, on the same machine, same model, same data:

  embed        pipeline (lake → tf.data decode → compiled model → Parquet in the lake) images/s
               vs raw ``model.predict`` on pre-decoded in-memory batches (goal ≥ 0.85)
               vs a per-image ``model.predict`` loop (goal ≥ 10×)
  incremental  nightly run with 5% new images (plan + embed) vs a full re-embed (goal ≤ 0.15)
  annoy        100k and 1M random unit vectors (dim = the model's embedding size): recall@10,
               queries/s vs sklearn brute force (goal at 100k: ≥ 0.95 recall at ≥ 50× QPS),
               build time, index size; plus 100k clustered vectors for contrast

    .venv/bin/python -m bench.embed_index                      # everything
    .venv/bin/python -m bench.embed_index --parts embed annoy --annoy-sizes 100000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipeline import layout
from pipeline.ann import AnnoyIndex, exact_neighbours, normalize
from pipeline.lake import Lake, sha256_bytes

DATASET = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "fashion-products" / "images"


def _best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


# -- embedding --------------------------------------------------------------------------
def _catalog(lake: Lake, blobs: list[bytes]) -> str:
    """Store images and write a minimal items table (the columns embedding reads)."""
    shas = []
    for data in blobs:
        sha = sha256_bytes(data)
        lake.write_bytes(layout.image_key(sha, "jpg"), data)
        shas.append(sha)
    items = pa.table(
        {
            "item_id": [f"item-{s[:12]}" for s in shas],
            "canonical_sha256": shas,
            "image_key": [layout.image_key(s, "jpg") for s in shas],
        }
    )
    lake.write_parquet(f"{layout.table('items')}/part-0.parquet", items)
    return lake.uri(layout.table("items"))


def _embed_all(lake: Lake, items_uri: str, model, batch_size: int) -> int:
    from pipeline.embed import embed_shard, plan_shards

    shards = plan_shards(lake, items_uri, model.version, max_shards=1)
    for shard in shards:
        embed_shard(lake, shard, model=model, batch_size=batch_size)
    return sum(s["n_images"] for s in shards)


def bench_embedding(n_images: int, batch_size: int, repeat: int, per_image: int) -> dict:
    from pipeline.config import settings
    from pipeline.embed import embed_fn
    from pipeline.imageio import decode_bytes
    from pipeline.registry import ensure_production_model, load_model

    unique = {}
    for path in sorted(DATASET.iterdir())[:n_images]:
        data = path.read_bytes()
        unique.setdefault(sha256_bytes(data), data)  # the photo set has a few exact duplicates
    blobs = list(unique.values())
    n = len(blobs)
    n_new = max(1, round(0.05 * n))
    with tempfile.TemporaryDirectory(prefix="vitrine-bench-") as tmp:
        lake = Lake(f"file://{tmp}/lake")
        model = load_model(lake, ensure_production_model(lake, settings().image_size))
        keras_model = model.keras_model
        run = embed_fn(model)
        warm = np.zeros((batch_size, model.image_size, model.image_size, 3), np.float32)
        run(warm)
        keras_model.predict(warm, batch_size=batch_size, verbose=0)

        # nightly: 95% embedded already (also warms the tf.data path), then 5% new images
        _embed_all(lake, _catalog(lake, blobs[: n - n_new]), model, batch_size)
        items_uri = _catalog(lake, blobs)
        start = time.perf_counter()
        assert _embed_all(lake, items_uri, model, batch_size) == n_new
        t_incremental = time.perf_counter() - start

        # full re-embed of the whole catalog under another model version (same weights)
        versions = iter(f"full-{i}" for i in range(repeat))
        t_full = _best_of(
            repeat, lambda: _embed_all(lake, items_uri, dataclasses.replace(model, version=next(versions)), batch_size)
        )

    pixels = np.stack([decode_bytes(b, model.image_size) for b in blobs]).astype(np.float32)
    t_decode = _best_of(1, lambda: [decode_bytes(b, model.image_size) for b in blobs])
    t_predict = _best_of(repeat, lambda: keras_model.predict(pixels, batch_size=batch_size, verbose=0))
    t_compiled = _best_of(repeat, lambda: [run(pixels[i : i + batch_size]).numpy() for i in range(0, n, batch_size)])
    m = min(per_image, n)
    t_loop = _best_of(1, lambda: [keras_model.predict(pixels[i : i + 1], verbose=0) for i in range(m)])

    pipeline_ips = n / t_full
    return {
        "images": n,
        "image_size": model.image_size,
        "batch_size": batch_size,
        "model": f"{model.version} ({model.backbone}, dim {model.embedding_dim})",
        "pipeline_images_per_s": round(pipeline_ips, 1),
        "raw_predict_images_per_s": round(n / t_predict, 1),
        "compiled_in_memory_images_per_s": round(n / t_compiled, 1),
        "per_image_predict_images_per_s": round(m / t_loop, 1),
        "decode_only_images_per_s_1_thread": round(n / t_decode, 1),
        "ratio_pipeline_vs_raw_predict": round(pipeline_ips / (n / t_predict), 3),
        "ratio_pipeline_vs_compiled_in_memory": round(pipeline_ips / (n / t_compiled), 3),
        "ratio_pipeline_vs_per_image_loop": round(pipeline_ips / (m / t_loop), 1),
        "incremental_new_images": n_new,
        "incremental_s": round(t_incremental, 2),
        "full_reembed_s": round(t_full, 2),
        "ratio_incremental_vs_full": round(t_incremental / t_full, 3),
    }


# -- annoy ------------------------------------------------------------------------------
def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    return normalize(rng.standard_normal((n, dim), dtype=np.float32))


def _clustered(rng: np.random.Generator, centres: np.ndarray, n: int) -> np.ndarray:
    return normalize(
        centres[rng.integers(0, len(centres), n)] + rng.standard_normal((n, centres.shape[1]), dtype=np.float32)
    )


def annoy_data(kind: str, n: int, dim: int, n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    """(data, external queries): uniform random unit vectors, or a mixture of n/100 clusters."""
    rng = np.random.default_rng(0)
    if kind == "random":
        return _unit(rng, n, dim), _unit(rng, n_queries, dim)
    centres = rng.standard_normal((n // 100, dim), dtype=np.float32)
    return _clustered(rng, centres, n), _clustered(rng, centres, n_queries)


def bench_annoy(
    label: str,
    data: np.ndarray,
    queries: np.ndarray,
    target: float,
    sample: int,
    trees: tuple[int, ...],
    factors: tuple[float, ...],
) -> dict:
    from sklearn.neighbors import NearestNeighbors
    from threadpoolctl import threadpool_limits

    n_queries = len(queries)
    start = time.perf_counter()
    _, truth = exact_neighbours(data, queries, 10)
    brute_batched_qps = n_queries / (time.perf_counter() - start)
    nn = NearestNeighbors(n_neighbors=10, algorithm="brute", metric="euclidean").fit(data)
    single = queries[: min(100, n_queries)]
    t_single = _best_of(1, lambda: [nn.kneighbors(q[None], 10) for q in single])
    brute_single_qps = len(single) / t_single
    with threadpool_limits(1):  # one core, like an Annoy query; steadier when the machine is busy
        brute_single_1t_qps = len(single) / _best_of(1, lambda: [nn.kneighbors(q[None], 10) for q in single])

    start = time.perf_counter()
    index, tuning = AnnoyIndex.tune(data, target, sample=sample, tree_candidates=trees)
    n_trees, search_k = tuning.params["n_trees"], tuning.params["search_k"]
    tune_s = time.perf_counter() - start

    def evaluate(search_k: int) -> tuple[float, float]:
        t0 = time.perf_counter()
        found = [index.annoy.get_nns_by_vector(q, 10, search_k=search_k) for q in queries]
        qps = n_queries / (time.perf_counter() - t0)
        return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])), qps

    recall, qps = evaluate(search_k)
    sweep = []
    for factor in factors:
        sk = max(10, int(search_k * factor))
        r, q = evaluate(sk)
        sweep.append(
            {
                "search_k": sk,
                "recall_at_10": round(r, 4),
                "qps": round(q, 1),
                "x_brute_single": round(q / brute_single_qps, 2),
                "x_brute_batched": round(q / brute_batched_qps, 2),
            }
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "index.ann")
        index.save(Path(path))
        size = os.path.getsize(path)
    return {
        "data": label,
        "queries": n_queries,
        "n_trees": n_trees,
        "search_k": search_k,
        "build_s (chosen n_trees)": round(tuning.build_s, 2),
        "tuning_s (all candidates + recall measurement)": round(tune_s, 1),
        "index_mb": round(size / 2**20, 1),
        "recall_at_10 (external queries)": round(recall, 4),
        "annoy_qps": round(qps, 1),
        "brute_qps_single_query": round(brute_single_qps, 1),
        "brute_qps_single_query_1_thread": round(brute_single_1t_qps, 1),
        "brute_qps_batched": round(brute_batched_qps, 1),
        "x_vs_brute_single": round(qps / brute_single_qps, 2),
        "x_vs_brute_single_1_thread": round(qps / brute_single_1t_qps, 2),
        "x_vs_brute_batched": round(qps / brute_batched_qps, 2),
        "search_k_sweep": sweep,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["embed", "annoy"], choices=["embed", "annoy"])
    parser.add_argument("--images", type=int, default=6000, help="dataset images for the embedding part")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2, help="best of N for timed runs")
    parser.add_argument("--per-image", type=int, default=100, help="images in the per-image predict loop")
    parser.add_argument("--annoy-sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=None, help="vector dim (default: the model's embedding dim)")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    results: dict = {"load_average_at_start": os.getloadavg(), "cpus": os.cpu_count()}
    if "embed" in args.parts:
        results["embedding"] = bench_embedding(args.images, args.batch_size, args.repeat, args.per_image)
        print(json.dumps(results["embedding"], indent=2), flush=True)
    if "annoy" in args.parts:
        if args.dim is None:
            from pipeline.model import DEFAULT_EMBEDDING_DIM

            args.dim = DEFAULT_EMBEDDING_DIM
        results["annoy"] = []
        for n in args.annoy_sizes:
            big = n >= 500_000
            for kind in ["random"] + ([] if big else ["clustered"]):
                label = f"{n} {kind} unit vectors, dim {args.dim}"
                if big:  # keep 1M feasible in minutes on 2 cores: fewer queries, one tree count
                    data, queries = annoy_data(kind, n, args.dim, args.queries // 10)
                    res = bench_annoy(label, data, queries, args.target, 100, (16,), (1 / 16, 1 / 4, 1))
                else:
                    data, queries = annoy_data(kind, n, args.dim, args.queries)
                    res = bench_annoy(label, data, queries, args.target, 200, (16, 32, 64, 128), (1 / 16, 1 / 4, 1, 4))
                results["annoy"].append(res)
                print(json.dumps(res, indent=2), flush=True)
    results["load_average_at_end"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
