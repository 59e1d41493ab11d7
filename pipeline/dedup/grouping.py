"""Near-duplicate pairs → groups with stable ids, and the canonical image of a group.

Decision for a pair (``Thresholds``): 64-bit pHash within ``max_distance`` (the multi-index
search), 256-bit pHash within ``max_fine_distance``, hue distance within
``max_color_distance`` and Lab distance within ``max_lab_distance`` — in either *view*: the
full picture, or the picture trimmed to its content (which makes padding and crops of
background invisible). The defaults are the ones ``vitrine dedup-eval`` selects on the
fashion-products photos.

Grouping rule (guard against chaining): pairs are merged in ascending order of distance,
like single-link clustering, but a merge of two groups is refused unless *every* image of
the merged group is, in one view, within ``GUARD_FACTOR`` × the hash thresholds of the
merged group's canonical image and within the color thresholds of it (a star around the
canonical image). So a group's radius is bounded: A~B~C~…~Z never joins A and Z unless
both are close to the canonical image, and color never chains (a colorway cannot join
through an in-between image). Existing groups (from earlier runs) are kept as they are; new images join them or
form new groups, and two existing groups merge only through the same guarded rule. The
merged group keeps the id of the larger group (then the smaller id): ids are stable.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pipeline.dedup.methods import hamming, hamming_fine, hue_distance, lab_distance

GUARD_FACTOR = 2


@dataclass(frozen=True)
class Thresholds:
    """The pair decision: :meth:`is_duplicate` (used by dedup and by ``vitrine dedup-eval``)."""

    max_distance: int = 8
    max_fine_distance: int = 48
    max_color_distance: float = 14.0
    max_lab_distance: float = 9.0

    def hashes_match(self, d64: np.ndarray, d256: np.ndarray) -> np.ndarray:
        return (d64 <= self.max_distance) & (d256 <= self.max_fine_distance)

    def colors_match(self, dhue: np.ndarray, dlab: np.ndarray) -> np.ndarray:
        return (dhue <= self.max_color_distance) & (dlab <= self.max_lab_distance)

    def is_duplicate(self, d64: np.ndarray, d256: np.ndarray, dhue: np.ndarray, dlab: np.ndarray) -> np.ndarray:
        """Elementwise: are pairs at these distances (of one view) near-duplicates?"""
        return self.hashes_match(d64, d256) & self.colors_match(dhue, dlab)

    def guarded(self) -> Thresholds:
        """The looser hash thresholds a group member must meet against its canonical image."""
        return replace(
            self, max_distance=GUARD_FACTOR * self.max_distance, max_fine_distance=GUARD_FACTOR * self.max_fine_distance
        )


@dataclass(frozen=True)
class Signatures:
    """Signatures of N images, row-aligned: 64-bit codes, (N, 4) fine codes, (N, C, 3) color."""

    codes: np.ndarray
    fine: np.ndarray
    color: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)


def verify(sig: Signatures, i: np.ndarray, j: np.ndarray, th: Thresholds) -> np.ndarray:
    """Boolean mask of the candidate pairs ``(i, j)`` that are duplicates (``th.is_duplicate``);
    color distances, the costly part, only for pairs whose hashes match."""
    keep = th.hashes_match(hamming(sig.codes[i], sig.codes[j]), hamming_fine(sig.fine[i], sig.fine[j]))
    out = np.zeros(len(i), dtype=bool)
    idx = np.flatnonzero(keep)
    for start in range(0, len(idx), 4096):  # in blocks
        block = idx[start : start + 4096]
        out[block] = _same_color(sig.color[i[block]], sig.color[j[block]], th)
    return out


def _same_color(a: np.ndarray, b: np.ndarray, th: Thresholds) -> np.ndarray:
    return th.colors_match(hue_distance(a, b), lab_distance(a, b))


def _fits(views: list[Signatures], group: list[int], canon: int, th: Thresholds) -> bool:
    """Is every image of ``group`` close enough to the canonical image ``canon``?"""
    ia = np.asarray(group)
    ib = np.full(len(ia), canon)
    ok = np.zeros(len(ia), dtype=bool)
    guard = th.guarded()
    for sig in views:
        ok |= guard.hashes_match(
            hamming(sig.codes[ia], sig.codes[ib]), hamming_fine(sig.fine[ia], sig.fine[ib])
        ) & _same_color(sig.color[ia], sig.color[ib], th)
    return bool(ok.all())


def assign_groups(
    views: list[Signatures],
    existing: list[str | None],
    edges: tuple[np.ndarray, np.ndarray, np.ndarray],
    rank: np.ndarray,
    sha256: list[str],
    th: Thresholds,
) -> list[str]:
    """Group ids for every image.

    ``views``: row-aligned signatures of each view; ``existing``: group id from earlier
    runs, None for new images; ``edges``: verified pairs (i, j, distance); ``rank``:
    ``canonical_rank``, which picks the canonical image the guard measures from and names a
    new group after its best image (``g`` + its sha256[:16]).
    """
    n = len(existing)
    parent = list(range(n))
    members: dict[int, list[int]] = {}
    by_id: dict[str, int] = {}
    for idx, gid in enumerate(existing):
        if gid is None:
            members[idx] = [idx]
        elif gid in by_id:
            root = by_id[gid]
            parent[idx] = root
            members[root].append(idx)
        else:
            by_id[gid] = idx
            members[idx] = [idx]

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    i, j, dist = edges
    order = np.lexsort((j, i, dist))
    refused: set[tuple[int, int, int, int]] = set()  # (root, root, sizes): retried once either grows
    for e in order:
        ra, rb = find(int(i[e])), find(int(j[e]))
        if ra == rb:
            continue
        key = (min(ra, rb), max(ra, rb), len(members[min(ra, rb)]), len(members[max(ra, rb)]))
        if key in refused:
            continue
        merged = members[ra] + members[rb]
        if not _fits(views, merged, min(merged, key=lambda k: rank[k]), th):
            refused.add(key)
            continue
        keep, gone = (ra, rb) if len(members[ra]) >= len(members[rb]) else (rb, ra)
        parent[gone] = keep
        members[keep].extend(members.pop(gone))

    out: list[str] = [""] * n
    for group in members.values():
        ids: dict[str, int] = {}
        for idx in group:
            if (old := existing[idx]) is not None:
                ids[old] = ids.get(old, 0) + 1
        if ids:
            gid = min(ids, key=lambda g: (-ids[g], g))
        else:
            best = min(group, key=lambda k: rank[k])
            gid = "g" + sha256[best][:16]
        for idx in group:
            out[idx] = gid
    return out


def canonical_rank(width: np.ndarray, height: np.ndarray, seen_seq: np.ndarray, sha256: list[str]) -> np.ndarray:
    """Rank for choosing the canonical image (lower is better): largest resolution, then
    earliest seen, then smallest sha256, so the choice is deterministic."""
    pixels = width.astype(np.int64) * height.astype(np.int64)
    order = np.lexsort((np.asarray(sha256, dtype=str), seen_seq, -pixels))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank
