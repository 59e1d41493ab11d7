"""Build the Annoy index of a release, tuned by measured recall against exact search.

Items are joined with their canonical image's embedding and numbered ``annoy_id`` 0..n-1 in
``item_id`` order. ``n_trees`` and ``search_k`` are chosen by measuring recall@10 against
sklearn's exact ``NearestNeighbors(algorithm="brute")`` on a sample of items: for each tree
count, the smallest ``search_k`` that reaches the target (+0.02 margin); more trees are tried while they
make queries at that recall markedly cheaper. The reported recall is re-measured on a second,
disjoint sample, so it is not the number the tuning optimised. Queries are items of the index
(itself excluded), as in ``Release.similar``; the benchmark also measures external queries.
"""
from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import layout
from pipeline.config import settings
from pipeline.embed import load_table, read_embeddings
from pipeline.lake import Lake

log = logging.getLogger(__name__)

METRIC = "angular"
K = 10
INDEX_FILE = "index.ann"
ITEMS_FILE = "items.parquet"
STATS_FILE = "index.json"
TREE_CANDIDATES = (16, 32, 64, 128)
SAMPLE_QUERIES = 300
TUNING_MARGIN = 0.02  # tune a little above the target so fresh (also external) queries reach it

ITEM_COLUMNS = ["annoy_id", "item_id", "title", "image_key", "offers"]


@dataclass(frozen=True)
class Tuning:
    """What the tuning chose and measured."""

    n_trees: int
    search_k: int
    recall_at_10: float
    query_ms: float
    build_s: float


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def build_annoy(vectors: np.ndarray, n_trees: int, n_jobs: int = -1, seed: int = 0):
    """An in-memory Annoy index over unit vectors (item i = row i)."""
    from annoy import AnnoyIndex

    index = AnnoyIndex(vectors.shape[1], METRIC)
    index.set_seed(seed)
    for i, vector in enumerate(vectors):
        index.add_item(i, vector)
    index.build(n_trees, n_jobs=n_jobs)
    return index


def exact_neighbours(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact (distances, ids) of the k nearest rows, by sklearn brute force (Euclidean on unit vectors)."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="euclidean").fit(vectors)
    return nn.kneighbors(queries, k)


def measure_recall(
    index, vectors: np.ndarray, query_ids: np.ndarray, true_kth: np.ndarray, search_k: int, k: int = K
) -> tuple[float, float]:
    """(recall@k, mean ms/query) of item-to-item queries, the query item itself excluded.

    A returned item counts when it is at least as close as the exact k-th neighbour, so ties
    between equidistant items (duplicates) do not count as misses.
    """
    hits = 0
    elapsed = 0.0
    for qid, kth in zip(query_ids, true_kth):
        start = time.perf_counter()
        found = index.get_nns_by_item(int(qid), k + 1, search_k=search_k)
        elapsed += time.perf_counter() - start
        found = [f for f in found if f != qid][:k]
        dists = np.linalg.norm(vectors[found] - vectors[qid], axis=1)
        hits += int(np.sum(dists <= kth + 1e-5))
    return hits / (k * len(query_ids)), 1000 * elapsed / len(query_ids)


def _truth(vectors: np.ndarray, query_ids: np.ndarray, k: int) -> np.ndarray:
    """Distance of each query's exact k-th neighbour, itself excluded."""
    k_eff = min(k + 1, len(vectors))
    dists, ids = exact_neighbours(vectors, vectors[query_ids], k_eff)
    kth = np.empty(len(query_ids))
    for row, qid in enumerate(query_ids):
        others = dists[row][ids[row] != qid]
        kth[row] = others[min(k, len(others)) - 1]
    return kth


def tune_annoy(
    vectors: np.ndarray,
    target: float,
    *,
    k: int = K,
    sample: int = SAMPLE_QUERIES,
    tree_candidates: tuple[int, ...] = TREE_CANDIDATES,
    seed: int = 0,
):
    """Choose n_trees/search_k for ``target`` recall@k; returns (index, Tuning).

    The recall in the returned Tuning is measured on a second sample of queries.
    """
    n = len(vectors)
    if n < 2:
        index = build_annoy(vectors, 1)
        return index, Tuning(1, k, 1.0, 0.0, 0.0)
    k = min(k, n - 1)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    tune_ids = order[:sample]
    report_ids = order[sample : 2 * sample] if n >= 2 * sample else tune_ids
    tune_kth = _truth(vectors, tune_ids, k)
    goal = min(1.0, target + TUNING_MARGIN)
    best = None
    for n_trees in tree_candidates:
        start = time.perf_counter()
        index = build_annoy(vectors, n_trees, seed=seed)
        build_s = time.perf_counter() - start
        search_k, recall, query_ms = _smallest_search_k(index, vectors, tune_ids, tune_kth, goal, k, n_trees)
        log.info(
            "n_trees=%d: search_k=%d recall@%d=%.4f %.3f ms/query (build %.1f s)",
            n_trees, search_k, k, recall, query_ms, build_s,
        )
        candidate = (index, Tuning(n_trees, search_k, recall, query_ms, build_s))
        if best is not None and (recall < goal or query_ms >= 0.8 * best[1].query_ms):
            break
        best = candidate
        if recall < goal:  # even exhaustive search missed: more trees won't help
            break
    index, chosen = best
    report_kth = _truth(vectors, report_ids, k)
    recall, query_ms = measure_recall(index, vectors, report_ids, report_kth, chosen.search_k, k)
    return index, Tuning(chosen.n_trees, chosen.search_k, round(recall, 4), query_ms, chosen.build_s)


def _smallest_search_k(
    index, vectors: np.ndarray, query_ids: np.ndarray, kth: np.ndarray, target: float, k: int, n_trees: int
) -> tuple[int, float, float]:
    """Double search_k until the target is met, then bisect down (3 steps)."""
    limit = len(vectors) * n_trees
    search_k = n_trees * k
    recall, ms = measure_recall(index, vectors, query_ids, kth, search_k, k)
    low = None
    while recall < target and search_k < limit:
        low, search_k = search_k, min(search_k * 2, limit)
        recall, ms = measure_recall(index, vectors, query_ids, kth, search_k, k)
    if low is None or recall < target:
        return search_k, recall, ms
    high = (search_k, recall, ms)
    for _ in range(3):
        mid = (low + high[0]) // 2
        r, t = measure_recall(index, vectors, query_ids, kth, mid, k)
        if r >= target:
            high = (mid, r, t)
        else:
            low = mid
    return high


def build_index(lake: Lake, items_uri: str, model_version: str, run_id: str) -> str:
    """Index every item whose canonical image has an embedding; returns the staging URI."""
    items = load_table(lake, items_uri, columns=["item_id", "canonical_sha256", "title", "image_key", "offers"])
    embeddings = read_embeddings(lake, model_version, columns=["embedding"])
    if items is None or embeddings is None or embeddings.num_rows == 0:
        raise ValueError(f"nothing to index: no items at {items_uri} or no embeddings for model {model_version}")
    position = pc.index_in(items.column("canonical_sha256"), value_set=embeddings.column("image_sha256"))
    has_vector = pc.is_valid(position)
    missing = items.num_rows - pc.sum(has_vector.cast(pa.int64())).as_py()
    if missing:
        log.warning("%d of %d items have no embedding for model %s and are left out", missing, items.num_rows, model_version)
    items = items.append_column("_pos", position).filter(has_vector).sort_by("item_id")
    if items.num_rows == 0:
        raise ValueError(f"no item has an embedding for model {model_version}")
    column = embeddings.column("embedding").combine_chunks()
    dim = column.type.list_size
    all_vectors = column.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)
    vectors = normalise(all_vectors[items.column("_pos").to_numpy()])

    index, tuning = tune_annoy(vectors, settings().annoy_recall_target)
    log.info("index of %d items: %s", len(vectors), tuning)
    table = pa.table(
        {
            "annoy_id": pa.array(np.arange(items.num_rows, dtype=np.int64)),
            "item_id": items.column("item_id").cast(pa.string()),
            "title": items.column("title").cast(pa.string()),
            "image_key": items.column("image_key").cast(pa.string()),
            "offers": items.column("offers"),
        }
    )
    stats = {
        "model_version": model_version,
        "n_items": items.num_rows,
        "dim": dim,
        "metric": METRIC,
        **asdict(tuning),
    }
    prefix = layout.staging(run_id, "index")
    with tempfile.TemporaryDirectory(prefix="vitrine-index-") as tmp:
        local = Path(tmp) / INDEX_FILE
        index.save(str(local))
        index.unload()
        lake.put_file(f"{prefix}/{INDEX_FILE}", local)
    lake.write_parquet(f"{prefix}/{ITEMS_FILE}", table)
    lake.write_bytes(f"{prefix}/{STATS_FILE}", json.dumps(stats, indent=2).encode(), content_type="application/json")
    return lake.uri(prefix)
