"""Group-aware stratified train/val/test splits (pure): a dedup group never straddles splits."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.70, 0.15, 0.15)


class LeakageError(AssertionError):
    """The same group (or image) appears in more than one split."""


def _order(group: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()


def assign_splits(
    groups: Sequence[str],
    strata: Sequence[str | None],
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> list[str]:
    """The split of every row. All rows of a group go to one split; within each stratum
    (a group's most common stratum label), groups are dealt in a seeded pseudo-random order
    to the split furthest below its target share of rows, so every split gets each stratum
    in proportion. Deterministic for the same inputs and seed."""
    if len(groups) != len(strata):
        raise ValueError("groups and strata must have the same length")
    if abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise ValueError(f"fractions must be ≥ 0 and sum to 1, got {fractions}")
    rows_of: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        rows_of[g].append(i)
    by_stratum: dict[str, list[str]] = defaultdict(list)
    for g, rows in rows_of.items():
        labels = Counter(strata[i] or "" for i in rows)
        top = max(labels.items(), key=lambda kv: (kv[1], kv[0]))[0]
        by_stratum[top].append(g)
    result = [""] * len(groups)
    for stratum in sorted(by_stratum):
        members = sorted(by_stratum[stratum], key=lambda g: _order(g, seed))
        total = sum(len(rows_of[g]) for g in members)
        filled = [0, 0, 0]
        for g in members:
            deficit = [fractions[k] * total - filled[k] for k in range(3)]
            k = max(range(3), key=lambda k: (deficit[k], -k))
            filled[k] += len(rows_of[g])
            for i in rows_of[g]:
                result[i] = SPLITS[k]
    return result


def check_no_leakage(groups: Sequence[str], images: Sequence[str], splits: Sequence[str]) -> None:
    """Raise :class:`LeakageError` if a group or an image is in more than one split."""
    for name, keys in (("group", groups), ("image", images)):
        seen: dict[str, str] = {}
        for key, split in zip(keys, splits):
            if seen.setdefault(key, split) != split:
                raise LeakageError(f"{name} {key!r} is in both {seen[key]!r} and {split!r}")
