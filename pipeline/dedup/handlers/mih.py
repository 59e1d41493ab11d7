"""Exact Hamming range search on 64-bit codes by multi-index hashing, vectorised with numpy.

The 64 bits are split into ``m`` substrings. If two codes are within ``r`` bits, then by the
(generalised) pigeonhole principle some substring ``i`` differs by at most ``t_i`` bits for
any radii with ``sum(t_i) >= r - m + 1`` (``m = r + 1`` gives ``t_i = 0``: one substring
matches exactly). Each substring indexes the codes in a direct-address table (CSR:
``offsets`` over ``2**bits`` buckets, ``order`` of code ids); a query probes every bucket
within ``t_i`` bits of its substring, and every candidate is verified with a full 64-bit
popcount, so the result is exact: all pairs within ``r``, nothing else. ``m`` and the
``t_i`` are chosen by a cost model (probes + expected candidates + table size) for the
data size, so the same code serves 100 codes in a test and 1M in the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb

import numpy as np

MAX_TABLE_BITS = 24  # 2**24 int64 offsets = 128 MiB per substring table, at most
PROBE_BLOCK = 1 << 21  # (queries x probes) per vectorised step: bounds temporary memory
CANDIDATE_BLOCK = 1 << 20  # candidates compared per vectorised step: bounds it where buckets are full


@dataclass(frozen=True)
class Part:
    """One substring: ``bits`` bits starting at ``shift``, probed within ``radius`` bits."""

    shift: int
    bits: int
    radius: int


def _ball(bits: int, radius: int) -> int:
    return sum(comb(bits, k) for k in range(radius + 1))


def plan_parts(n_index: int, n_query: int, max_distance: int) -> list[Part]:
    """The substring split with the lowest estimated cost for this search."""
    best: tuple[float, list[Part]] | None = None
    m_min = -(-64 // MAX_TABLE_BITS)
    for m in range(m_min, max(max_distance + 1, m_min) + 1):
        sizes = [64 // m + (1 if i < 64 % m else 0) for i in range(m)]
        slack = max(0, max_distance - m + 1)
        radii = [slack // m + (1 if i < slack % m else 0) for i in range(m)]
        parts, shift = [], 0
        for bits, radius in zip(sizes, radii):
            parts.append(Part(shift, bits, radius))
            shift += bits
        probes = sum(_ball(p.bits, p.radius) for p in parts)
        hit_rate = sum(_ball(p.bits, p.radius) / 2.0**p.bits for p in parts)
        cost = n_query * probes + 2.0 * n_query * n_index * hit_rate + 0.05 * sum(2.0**p.bits for p in parts)
        if best is None or cost < best[0]:
            best = (cost, parts)
    assert best is not None
    return best[1]


def _masks(bits: int, radius: int) -> np.ndarray:
    """All ``bits``-bit masks with at most ``radius`` bits set (int64)."""
    out = [0]
    for k in range(1, radius + 1):
        out.extend(sum(1 << b for b in combo) for combo in combinations(range(bits), k))
    return np.asarray(out, dtype=np.int64)


def _substring(codes: np.ndarray, part: Part) -> np.ndarray:
    return ((codes >> np.uint64(part.shift)) & np.uint64((1 << part.bits) - 1)).astype(np.int64)


class MultiIndexHash:
    """Index of 64-bit codes answering "all codes within ``max_distance`` bits" exactly."""

    def __init__(self, codes: np.ndarray, max_distance: int, n_query: int | None = None):
        if not 0 <= max_distance < 64:
            raise ValueError(f"max_distance must be in [0, 63], got {max_distance}")
        self.codes = np.ascontiguousarray(codes, dtype=np.uint64)
        self.max_distance = max_distance
        n = len(self.codes)
        self.parts = plan_parts(n, n if n_query is None else n_query, max_distance)
        # per substring: code ids sorted by substring, the codes in that order, bucket offsets
        self._tables: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for part in self.parts:
            keys = _substring(self.codes, part)
            order = np.argsort(keys, kind="stable")
            offsets = np.zeros((1 << part.bits) + 1, dtype=np.int64)
            np.cumsum(np.bincount(keys, minlength=1 << part.bits), out=offsets[1:])
            self._tables.append((order, self.codes[order], offsets))

    def search(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All (query row, code id, distance) with distance <= max_distance, each once."""
        return self._run(np.ascontiguousarray(queries, dtype=np.uint64), self_join=False)

    def self_join(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All pairs (i, j, distance), i < j, of the indexed codes within max_distance.

        Each pair is looked for from one side only: a code takes candidates only from
        positions after its own in a substring's sorted order, which halves the work."""
        return self._run(self.codes, self_join=True)

    def _run(self, queries: np.ndarray, self_join: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        found_q, found_c = [], []
        for part, table in zip(self.parts, self._tables):
            masks = _masks(part.bits, part.radius)
            keys = _substring(queries, part)
            own = np.empty(len(queries), dtype=np.int64)
            if self_join:
                own[table[0]] = np.arange(len(queries))  # each code's position in sorted order
            step = max(1, PROBE_BLOCK // len(masks))
            for start in range(0, len(queries), step):
                sl = slice(start, start + step)
                q, c = self._probe(keys[sl], queries[sl], own[sl] if self_join else None, masks, table)
                found_q.append(q + start)
                found_c.append(c)
        n = max(1, len(self.codes))
        q = np.concatenate(found_q) if found_q else np.empty(0, np.int64)
        c = np.concatenate(found_c) if found_c else np.empty(0, np.int64)
        if self_join:  # found from either end, depending on the substring
            q, c = np.minimum(q, c), np.maximum(q, c)
        # a pair may be found through several substrings: keep it once
        pair = np.unique(q * n + c)
        q, c = np.divmod(pair, n)
        return q, c, np.bitwise_count(queries[q] ^ self.codes[c]).astype(np.int16)

    def _probe(
        self,
        keys: np.ndarray,
        qcodes: np.ndarray,
        own: np.ndarray | None,
        masks: np.ndarray,
        table: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray]:
        order, sorted_codes, offsets = table
        buckets = (keys[:, None] ^ masks[None, :]).ravel()
        lo, hi = offsets[buckets], offsets[buckets + 1]
        if own is not None:
            lo = np.maximum(lo, np.repeat(own + 1, len(masks)))
        counts = np.maximum(hi - lo, 0)
        per_query = counts.reshape(len(keys), len(masks)).sum(axis=1)
        # expand every bucket range [lo, hi) into sorted positions, compare full codes there,
        # and recover the query row and code id of the survivors only; in runs of queries
        # with at most CANDIDATE_BLOCK candidates (clustered codes fill some buckets densely)
        rows_out, ids_out = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)]
        reach = np.cumsum(per_query)
        start = 0
        while start < len(keys):
            base = reach[start - 1] if start else 0
            stop = max(start + 1, int(np.searchsorted(reach, base + CANDIDATE_BLOCK, side="right")))
            sl = slice(start * len(masks), stop * len(masks))
            rows, ids = self._expand(qcodes[start:stop], per_query[start:stop], lo[sl], counts[sl], sorted_codes, order)
            rows_out.append(rows + start)
            ids_out.append(ids)
            start = stop
        return np.concatenate(rows_out), np.concatenate(ids_out)

    def _expand(
        self,
        qcodes: np.ndarray,
        per_query: np.ndarray,
        lo: np.ndarray,
        counts: np.ndarray,
        sorted_codes: np.ndarray,
        order: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        total = int(per_query.sum())
        if total == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        ends = np.cumsum(counts)
        pos = np.arange(total, dtype=np.int64) + np.repeat(lo - (ends - counts), counts)
        hit = np.flatnonzero(np.bitwise_count(np.repeat(qcodes, per_query) ^ sorted_codes[pos]) <= self.max_distance)
        rows = np.searchsorted(np.cumsum(per_query), hit, side="right")
        return rows, order[pos[hit]]


def self_pairs(codes: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs i < j of ``codes`` within ``max_distance`` bits: (i, j, distance)."""
    return MultiIndexHash(codes, max_distance).self_join()


def pairs_with(codes: np.ndarray, new: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i, j, distance), i < j, within ``max_distance`` that involve a code in ``new``
    (row ids of ``codes``): the incremental search, new codes against all codes."""
    new = np.unique(np.asarray(new, dtype=np.int64))
    index = MultiIndexHash(codes, max_distance, n_query=len(new))
    q, c, d = index.search(codes[new])
    q = new[q]
    is_new = np.zeros(len(codes), dtype=bool)
    is_new[new] = True
    # a new-new pair is found from both ends: keep the i < j copy; new-old pairs once
    keep = (q != c) & (~is_new[c] | (q < c))
    i, j = np.minimum(q[keep], c[keep]), np.maximum(q[keep], c[keep])
    return i, j, d[keep]
