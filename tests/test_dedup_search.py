"""Multi-index hashing is exact (same pairs as brute force); grouping guards against chains."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.dedup.grouping import Signatures, Thresholds, assign_groups, canonical_rank
from pipeline.dedup.handlers import pairs_with, plan_parts, self_pairs
from pipeline.dedup.methods.color import CELLS


def _codes(n: int, r: int, seed: int) -> np.ndarray:
    """n random 64-bit codes plus n/2 planted copies with up to r flipped bits."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
    near = base[: n // 2].copy()
    for _ in range(r):
        bit = rng.integers(0, 64, n // 2).astype(np.uint64)
        near ^= (np.uint64(1) << bit) * (rng.random(n // 2) < 0.8).astype(np.uint64)
    return np.concatenate([base, near])


def _brute(codes: np.ndarray, r: int) -> set[tuple[int, int]]:
    d = np.bitwise_count(codes[:, None] ^ codes[None, :])
    i, j = np.nonzero(np.triu(d <= r, 1))
    return set(zip(i.tolist(), j.tolist()))


@pytest.mark.parametrize("n,r", [(600, 0), (900, 3), (1200, 8), (800, 12)])
def test_self_pairs_match_brute_force(n, r):
    codes = _codes(n, r, seed=r)
    i, j, d = self_pairs(codes, r)
    assert set(zip(i.tolist(), j.tolist())) == _brute(codes, r)
    assert len(i) == len(set(zip(i.tolist(), j.tolist()))), "each pair once"
    assert np.array_equal(d, np.bitwise_count(codes[i] ^ codes[j]))


def test_incremental_search_finds_exactly_the_pairs_touching_new_codes():
    codes = _codes(1000, 8, seed=7)
    new = np.random.default_rng(1).choice(len(codes), 150, replace=False)
    i, j, _ = pairs_with(codes, new, 8)
    expected = {(a, b) for a, b in _brute(codes, 8) if a in set(new) or b in set(new)}
    assert set(zip(i.tolist(), j.tolist())) == expected


def test_plan_obeys_pigeonhole_and_table_limits():
    for n in (10, 10_000, 1_000_000):
        for r in range(0, 16):
            parts = plan_parts(n, n, r)
            assert sum(p.bits for p in parts) == 64 and max(p.bits for p in parts) <= 24
            assert sum(p.radius for p in parts) >= r - len(parts) + 1


def test_grouping_refuses_chains_and_keeps_existing_ids():
    # a chain 0 - 1 - 2 - 3 where each step flips 6 other bits: neighbours are pairs
    # (r = 8); 0 and 2 are 12 bits apart (<= 2r) but 0 and 3 are 18 (> 2r): the guard
    # lets 2 join 0 and 1, and keeps 3 out
    codes = np.zeros(4, dtype=np.uint64)
    for k in range(1, 4):
        codes[k] = codes[k - 1] ^ np.uint64(0b111111 << (6 * k))
    sig = Signatures(codes, np.zeros((4, 4), np.uint64), np.zeros((4, CELLS, 3), np.uint8))
    edges = (np.array([0, 1, 2]), np.array([1, 2, 3]), np.array([6, 6, 6], dtype=np.int16))
    shas = ["a" * 64, "b" * 64, "c" * 64, "d" * 64]
    rank = canonical_rank(np.full(4, 10), np.full(4, 10), np.zeros(4), shas)
    th = Thresholds(max_distance=8)
    groups = assign_groups([sig], [None] * 4, edges, rank, shas, th)
    assert groups[0] == groups[1] == groups[2] != groups[3]
    assert groups[3] == "g" + "d" * 16

    # with 0 and 1 already grouped as "gold", ids survive and newcomers join
    groups = assign_groups([sig], ["gold", "gold", None, None], edges, rank, shas, th)
    assert groups == ["gold", "gold", "gold", "g" + "d" * 16]


def test_canonical_rank_prefers_resolution_then_earliest_then_sha():
    shas = ["b", "a", "c", "d"]
    rank = canonical_rank(np.array([10, 10, 20, 20]), np.array([10, 10, 5, 20]), np.array([2, 2, 1, 3]), shas)
    assert list(np.argsort(rank)) == [3, 2, 1, 0]
