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

MAX_TABLE_BITS = 24  # 2**24 int32 offsets = 64 MiB per substring table, at most
PROBE_BLOCK = 1 << 21  # (queries x probes) per vectorised step: bounds temporary memory


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
        self._tables: list[tuple[np.ndarray, np.ndarray]] = []
        for part in self.parts:
            keys = _substring(self.codes, part)
            order = np.argsort(keys, kind="stable").astype(np.int32)
            offsets = np.zeros((1 << part.bits) + 1, dtype=np.int64 if n >= 2**31 else np.int32)
            np.cumsum(np.bincount(keys, minlength=1 << part.bits), out=offsets[1:])
            self._tables.append((order, offsets))

    def search(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All (query row, code id, distance) with distance <= max_distance, each once."""
        queries = np.ascontiguousarray(queries, dtype=np.uint64)
        found_q, found_c = [], []
        for part, (order, offsets) in zip(self.parts, self._tables):
            masks = _masks(part.bits, part.radius)
            keys = _substring(queries, part)
            step = max(1, PROBE_BLOCK // len(masks))
            for start in range(0, len(queries), step):
                q, c = self._probe(keys[start : start + step], masks, order, offsets, queries, start)
                found_q.append(q)
                found_c.append(c)
        if not found_q:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty.astype(np.int16)
        # a pair may be found through several substrings: keep it once
        pair = np.unique(np.concatenate(found_q) * len(self.codes) + np.concatenate(found_c))
        q, c = np.divmod(pair, len(self.codes)) if len(self.codes) else (pair, pair)
        dist = np.bitwise_count(queries[q] ^ self.codes[c]).astype(np.int16)
        return q, c, dist

    def _probe(
        self, keys: np.ndarray, masks: np.ndarray, order: np.ndarray, offsets: np.ndarray,
        queries: np.ndarray, row0: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        buckets = (keys[:, None] ^ masks[None, :]).ravel()
        lo = offsets[buckets].astype(np.int64)
        counts = offsets[buckets + 1] - lo
        total = int(counts.sum())
        if total == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        # expand every bucket range [lo, lo + count) into candidate positions
        ends = np.cumsum(counts)
        pos = np.arange(total, dtype=np.int64) + np.repeat(lo - (ends - counts), counts)
        cand = order[pos].astype(np.int64)
        per_query = counts.reshape(len(keys), len(masks)).sum(axis=1)
        rows = np.repeat(np.arange(row0, row0 + len(keys), dtype=np.int64), per_query)
        close = np.bitwise_count(queries[rows] ^ self.codes[cand]) <= self.max_distance
        return rows[close], cand[close]


def self_pairs(codes: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs i < j of ``codes`` within ``max_distance`` bits: (i, j, distance)."""
    index = MultiIndexHash(codes, max_distance)
    q, c, d = index.search(codes)
    keep = q < c
    return q[keep], c[keep], d[keep]


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
