"""The nearest-neighbour index seam: build, tune, save, load and query, whatever the index kind.

An index holds unit vectors (item ``i`` = row ``i``) and answers with ids and distances
``sqrt(2 - 2 cos)`` (Annoy's ``angular``; Euclidean between unit vectors). :data:`KINDS` maps
a kind name to its implementation; the release manifest records ``"index": {"kind", "params"}``
and the client loads whatever kind it names. ``annoy`` is the production kind; ``exact`` (numpy
brute force) is the reference that proves the seam and suits small catalogs.

Tuning measures recall@10 against exact search (sklearn ``NearestNeighbors(algorithm="brute")``)
on a sample of items, queries being items of the index with the item itself excluded (as in
``Release.similar``). For Annoy: for each tree count, the smallest ``search_k`` that reaches
the target (+0.02 margin); more trees are tried while they make queries at that recall
markedly cheaper. The reported recall is re-measured on a second, disjoint sample, so it is
not the number the tuning optimised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

log = logging.getLogger(__name__)

K = 10
METRIC = "angular"  # the distance every kind returns: sqrt(2 - 2 cos)
SAMPLE_QUERIES = 300
TUNING_MARGIN = 0.02  # tune a little above the target so fresh (also external) queries reach it
TREE_CANDIDATES = (16, 32, 64, 128)

Neighbours = tuple[list[int], list[float]]


@dataclass(frozen=True)
class Tuning:
    """What the tuning chose (``params``, enough to load and query the index) and measured."""

    params: dict[str, Any]
    recall_at_10: float
    query_ms: float
    build_s: float


class Index(Protocol):
    """One built or loaded index."""

    kind: ClassVar[str]
    file_name: ClassVar[str]  # the release file that holds it
    dim: int
    params: dict[str, Any]

    def __len__(self) -> int: ...

    def query_item(self, item: int, n: int) -> Neighbours:
        """The ``n`` nearest rows to row ``item`` (the item itself among them), nearest first."""
        ...

    def query_vector(self, vector: np.ndarray, n: int) -> Neighbours:
        """The ``n`` nearest rows to a unit vector, nearest first."""
        ...

    def vectors(self) -> np.ndarray:
        """Every stored vector, (len, dim) float32 (row i = item i)."""
        ...

    def save(self, path: Path) -> None: ...


class IndexKind(Protocol):
    """How to make an :class:`Index` of one kind."""

    kind: ClassVar[str]
    file_name: ClassVar[str]

    @classmethod
    def tune(
        cls, vectors: np.ndarray, target: float, *, k: int = K, sample: int = SAMPLE_QUERIES, seed: int = 0
    ) -> tuple[Index, Tuning]: ...

    @classmethod
    def load(cls, path: Path, dim: int, params: dict[str, Any]) -> Index: ...


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def exact_neighbours(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact (distances, ids) of the k nearest rows, by sklearn brute force (Euclidean on unit vectors)."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="euclidean").fit(vectors)
    return nn.kneighbors(queries, k)


def measure_recall(
    query: Callable[[int, int], list[int]],
    vectors: np.ndarray,
    query_ids: np.ndarray,
    true_kth: np.ndarray,
    k: int = K,
) -> tuple[float, float]:
    """(recall@k, mean ms/query) of item-to-item queries ``query(item, n) -> ids``, the item excluded.

    A returned item counts when it is at least as close as the exact k-th neighbour, so ties
    between equidistant items (duplicates) do not count as misses.
    """
    hits = 0
    elapsed = 0.0
    for qid, kth in zip(query_ids, true_kth):
        start = time.perf_counter()
        found = query(int(qid), k + 1)
        elapsed += time.perf_counter() - start
        found = [f for f in found if f != qid][:k]
        dists = np.linalg.norm(vectors[found] - vectors[qid], axis=1)
        hits += int(np.sum(dists <= kth + 1e-5))
    return hits / (k * len(query_ids)), 1000 * elapsed / len(query_ids)


def true_kth(vectors: np.ndarray, query_ids: np.ndarray, k: int) -> np.ndarray:
    """Distance of each query's exact k-th neighbour, itself excluded."""
    k_eff = min(k + 1, len(vectors))
    dists, ids = exact_neighbours(vectors, vectors[query_ids], k_eff)
    kth = np.empty(len(query_ids))
    for row, qid in enumerate(query_ids):
        others = dists[row][ids[row] != qid]
        kth[row] = others[min(k, len(others)) - 1]
    return kth


# -- annoy --------------------------------------------------------------------------------------
class AnnoyIndex:
    """Annoy (``angular``), memory-mapped on load; queries use the tuned ``search_k``."""

    kind: ClassVar[str] = "annoy"
    file_name: ClassVar[str] = "index.ann"

    def __init__(self, annoy: Any, params: dict[str, Any]):
        self.annoy = annoy
        self.dim = int(annoy.f)
        self.params = params

    @staticmethod
    def build(vectors: np.ndarray, n_trees: int, n_jobs: int = -1, seed: int = 0) -> Any:
        """An in-memory ``annoy.AnnoyIndex`` over unit vectors (item i = row i)."""
        from annoy import AnnoyIndex as Annoy

        index = Annoy(vectors.shape[1], "angular")  # METRIC
        index.set_seed(seed)
        for i, vector in enumerate(vectors):
            index.add_item(i, vector)
        index.build(n_trees, n_jobs=n_jobs)
        return index

    @classmethod
    def tune(
        cls,
        vectors: np.ndarray,
        target: float,
        *,
        k: int = K,
        sample: int = SAMPLE_QUERIES,
        seed: int = 0,
        tree_candidates: tuple[int, ...] = TREE_CANDIDATES,
    ) -> tuple[AnnoyIndex, Tuning]:
        """Choose n_trees/search_k for ``target`` recall@k (recall re-measured on a second sample)."""
        n = len(vectors)
        if n < 2:
            return cls._wrap(cls.build(vectors, 1), 1, k), Tuning(cls._params(1, k), 1.0, 0.0, 0.0)
        k = min(k, n - 1)
        rng = np.random.default_rng(seed)
        order = rng.permutation(n)
        tune_ids = order[:sample]
        report_ids = order[sample : 2 * sample] if n >= 2 * sample else tune_ids
        tune_kth = true_kth(vectors, tune_ids, k)
        goal = min(1.0, target + TUNING_MARGIN)
        best = None
        for n_trees in tree_candidates:
            start = time.perf_counter()
            index = cls.build(vectors, n_trees, seed=seed)
            build_s = time.perf_counter() - start
            search_k, recall, query_ms = _smallest_search_k(index, vectors, tune_ids, tune_kth, goal, k, n_trees)
            log.info(
                "n_trees=%d: search_k=%d recall@%d=%.4f %.3f ms/query (build %.1f s)",
                n_trees,
                search_k,
                k,
                recall,
                query_ms,
                build_s,
            )
            candidate = (index, n_trees, search_k, query_ms, build_s)
            if best is not None and (recall < goal or query_ms >= 0.8 * best[3]):
                break
            best = candidate
            if recall < goal:  # even exhaustive search missed: more trees won't help
                break
        assert best is not None
        index, n_trees, search_k, _, build_s = best
        report_kth = true_kth(vectors, report_ids, k)
        recall, query_ms = measure_recall(_by_item(index, search_k), vectors, report_ids, report_kth, k)
        return cls._wrap(index, n_trees, search_k), Tuning(
            cls._params(n_trees, search_k), round(recall, 4), query_ms, build_s
        )

    @classmethod
    def load(cls, path: Path, dim: int, params: dict[str, Any]) -> AnnoyIndex:
        from annoy import AnnoyIndex as Annoy

        index = Annoy(dim, params.get("metric", METRIC))
        index.load(str(path))  # memory-mapped
        return cls(index, params)

    @staticmethod
    def _params(n_trees: int, search_k: int) -> dict[str, Any]:
        return {"metric": METRIC, "n_trees": n_trees, "search_k": search_k}

    @classmethod
    def _wrap(cls, index: Any, n_trees: int, search_k: int) -> AnnoyIndex:
        return cls(index, cls._params(n_trees, search_k))

    def __len__(self) -> int:
        return int(self.annoy.get_n_items())

    def _search_k(self, n: int) -> int:
        """The tuned search_k (tuned asking for 11 neighbours: 10 + the item), scaled for larger n."""
        return int(self.params.get("search_k", -1)) * max(1, -(-n // (K + 1)))

    def query_item(self, item: int, n: int) -> Neighbours:
        return self.annoy.get_nns_by_item(item, n, search_k=self._search_k(n), include_distances=True)

    def query_vector(self, vector: np.ndarray, n: int) -> Neighbours:
        return self.annoy.get_nns_by_vector(vector, n, search_k=self._search_k(n), include_distances=True)

    def vectors(self) -> np.ndarray:
        n = len(self)
        return np.array([self.annoy.get_item_vector(i) for i in range(n)], np.float32).reshape(n, self.dim)

    def save(self, path: Path) -> None:
        self.annoy.save(str(path))

    def unload(self) -> None:
        self.annoy.unload()


def _by_item(index: Any, search_k: int) -> Callable[[int, int], list[int]]:
    return lambda item, n: index.get_nns_by_item(item, n, search_k=search_k)


def _smallest_search_k(
    index: Any, vectors: np.ndarray, query_ids: np.ndarray, kth: np.ndarray, target: float, k: int, n_trees: int
) -> tuple[int, float, float]:
    """Double search_k until the target is met, then bisect down (3 steps)."""
    limit = len(vectors) * n_trees
    search_k = n_trees * k
    recall, ms = measure_recall(_by_item(index, search_k), vectors, query_ids, kth, k)
    low = None
    while recall < target and search_k < limit:
        low, search_k = search_k, min(search_k * 2, limit)
        recall, ms = measure_recall(_by_item(index, search_k), vectors, query_ids, kth, k)
    if low is None or recall < target:
        return search_k, recall, ms
    high = (search_k, recall, ms)
    for _ in range(3):
        mid = (low + high[0]) // 2
        r, t = measure_recall(_by_item(index, mid), vectors, query_ids, kth, k)
        if r >= target:
            high = (mid, r, t)
        else:
            low = mid
    return high


# -- exact --------------------------------------------------------------------------------------
class ExactIndex:
    """Brute force over the vectors (numpy): exact, recall 1.0, O(n) per query."""

    kind: ClassVar[str] = "exact"
    file_name: ClassVar[str] = "index.npy"

    def __init__(self, vectors: np.ndarray, params: dict[str, Any] | None = None):
        self._data = normalize(vectors)
        self.dim = int(self._data.shape[1])
        self.params = params or {"metric": METRIC}

    @classmethod
    def tune(
        cls, vectors: np.ndarray, target: float, *, k: int = K, sample: int = SAMPLE_QUERIES, seed: int = 0
    ) -> tuple[ExactIndex, Tuning]:
        start = time.perf_counter()
        index = cls(vectors)
        return index, Tuning(index.params, 1.0, 0.0, time.perf_counter() - start)

    @classmethod
    def load(cls, path: Path, dim: int, params: dict[str, Any]) -> ExactIndex:
        vectors = np.load(path, mmap_mode="r", allow_pickle=False)
        if vectors.ndim != 2 or vectors.shape[1] != dim:
            raise ValueError(f"{path}: vectors of shape {vectors.shape}, expected (n, {dim})")
        return cls(vectors, params)

    def __len__(self) -> int:
        return len(self._data)

    def _nearest(self, vector: np.ndarray, n: int) -> Neighbours:
        dists = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * (self._data @ np.asarray(vector, np.float32))))
        n = min(n, len(dists))
        top = np.argpartition(dists, n - 1)[:n] if n < len(dists) else np.arange(len(dists))
        top = top[np.lexsort((top, dists[top]))]
        return top.tolist(), dists[top].astype(float).tolist()

    def query_item(self, item: int, n: int) -> Neighbours:
        return self._nearest(self._data[item], n)

    def query_vector(self, vector: np.ndarray, n: int) -> Neighbours:
        return self._nearest(vector, n)

    def vectors(self) -> np.ndarray:
        return np.asarray(self._data, np.float32)

    def save(self, path: Path) -> None:
        with open(path, "wb") as fh:
            np.save(fh, self._data, allow_pickle=False)


#: index kind -> implementation
KINDS: dict[str, type[IndexKind]] = {"annoy": AnnoyIndex, "exact": ExactIndex}


def kind_of(name: str) -> type[IndexKind]:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown index kind {name!r}; choose one of {sorted(KINDS)}") from None


def tune(kind: str, vectors: np.ndarray, target: float, **options: Any) -> tuple[Index, Tuning]:
    """A tuned index of ``kind`` over unit vectors, and what the tuning measured."""
    return kind_of(kind).tune(vectors, target, **options)


def load(entry: dict[str, Any], path: Path, dim: int) -> Index:
    """The index a manifest's ``"index": {"kind", "params"}`` entry describes, from ``path``."""
    return kind_of(entry["kind"]).load(path, dim, entry.get("params", {}))


def describe(index: Index) -> dict[str, Any]:
    """The manifest entry for an index: ``{"kind": ..., "params": {...}}``."""
    return {"kind": index.kind, "params": dict(index.params)}
