"""The pure core of the visual search app: pre-filtered ranking, style profiles, "no close match".

Everything here works on arrays held in memory for one release (no I/O):

- **Pre-filters** (category, color, pattern, ...) select the candidate rows *before* ranking:
  a filtered query is answered exactly over the matching rows only, so asking for "red"
  returns the k nearest red items, never a top-k that happened to contain few red ones.
- **Style profile**: several photos give one profile, the normalised mean of their embeddings
  plus, per attribute, the mean of their predicted probability vectors (soft votes). An item
  scores ``EMBEDDING_WEIGHT * cos(profile, item) + (1 - EMBEDDING_WEIGHT) * agreement``, where
  ``agreement`` is the mean over attributes of the profile's vote for the item's value
  (FashionNet counted matching attributes; ``bench/profile.py`` measures both pure forms
  against the blend on held-out photos).
- **No close match**: the threshold is calibrated on the release itself. Among catalog items and
  their 10 nearest neighbours, a pair is a good match when both have the same category and
  color; the threshold is the largest distance up to which at least half the pairs are good
  matches, per category where the release has enough pairs of it (a catalog's sunglasses sit
  closer together than its handbags), else overall. A query whose best match is farther is
  "no close match".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from pipeline.train.config import DEFAULT_SIMILARITY_ATTRIBUTES

EMBEDDING_WEIGHT = 0.7
CLOSE_MATCH_ATTRIBUTES = tuple(DEFAULT_SIMILARITY_ATTRIBUTES)  # a good match shares these (as in training)
TARGET_PRECISION = 0.5
CALIBRATION_K = 10
CALIBRATION_SAMPLE = 2000
MIN_CATEGORY_PAIRS = 200


def angular(cos: np.ndarray) -> np.ndarray:
    """Annoy's angular distance between unit vectors: ``sqrt(2 - 2 cos)``."""
    return np.sqrt(np.maximum(0.0, 2.0 - 2.0 * cos))


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest scores, largest first (stable for ties)."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, np.int64)
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))]


@dataclass
class Catalog:
    """One release's vectors and attributes as arrays; row i is the index's item i."""

    item_ids: list[str]
    vectors: np.ndarray  # (n, d) float32, unit rows
    vocab: dict[str, list[str]]  # attribute → values (codes index into it)
    codes: dict[str, np.ndarray]  # attribute → (n,) int32, -1 where the item has no value
    row: dict[str, int] = field(default_factory=dict)  # item_id → row

    def __post_init__(self) -> None:
        self.row = {item: i for i, item in enumerate(self.item_ids)}

    @classmethod
    def build(cls, item_ids: Sequence[str], vectors: np.ndarray, values: Mapping[str, Sequence[str | None]]) -> Catalog:
        """From item ids, their vectors and per attribute the item's value (None when untagged)."""
        vectors = np.asarray(vectors, np.float32)
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        vocab: dict[str, list[str]] = {}
        codes: dict[str, np.ndarray] = {}
        for name, column in values.items():
            vocab[name] = sorted({v for v in column if v is not None})
            lookup = {v: i for i, v in enumerate(vocab[name])}
            codes[name] = np.array([lookup.get(v, -1) if v is not None else -1 for v in column], np.int32)
        return cls(list(item_ids), vectors, vocab, codes)

    def __len__(self) -> int:
        return len(self.item_ids)

    # -- filters ------------------------------------------------------------------------
    def mask(self, filters: Mapping[str, Sequence[str]]) -> np.ndarray | None:
        """Rows matching every filter (any of the listed values per attribute); None = no filter."""
        mask = None
        for name, wanted in filters.items():
            if not wanted:
                continue
            vocab = self.vocab.get(name, [])
            allowed = [vocab.index(v) for v in wanted if v in vocab]
            rows = np.isin(self.codes[name], allowed) if name in self.codes else np.zeros(len(self), bool)
            mask = rows if mask is None else mask & rows
        return mask

    # -- ranking ------------------------------------------------------------------------
    def nearest(
        self, vector: np.ndarray, k: int, mask: np.ndarray | None = None, exclude: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact (rows, angular distances) of the k nearest rows among ``mask``."""
        vector = np.asarray(vector, np.float32)
        if mask is None:  # all rows: no copy of the matrix
            candidates, cos = np.arange(len(self)), self.vectors @ vector
        else:
            candidates = np.flatnonzero(mask)
            cos = self.vectors[candidates] @ vector
        if exclude is not None:
            keep = candidates != exclude
            candidates, cos = candidates[keep], cos[keep]
        best = top_k(cos, k)
        return candidates[best], angular(cos[best])

    def profile_scores(
        self, profile: Profile, weight: float = EMBEDDING_WEIGHT, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """Blend score of ``rows`` (default: all) for a profile; 1 = identical and fully agreeing."""
        rows = np.arange(len(self)) if rows is None else rows
        score = np.zeros(len(rows), np.float32)
        if weight > 0:
            score += weight * (self.vectors[rows] @ profile.vector)
        if weight < 1:
            score += (1 - weight) * self.agreement(profile, rows)
        return score

    def agreement(self, profile: Profile, rows: np.ndarray) -> np.ndarray:
        """Mean over attributes of the profile's vote share for each row's value (0 when untagged)."""
        names = [n for n in profile.votes if n in self.codes]
        if not names:
            return np.zeros(len(rows), np.float32)
        total = np.zeros(len(rows), np.float32)
        for name in names:
            share = np.array([profile.votes[name].get(v, 0.0) for v in self.vocab[name]] + [0.0], np.float32)
            total += share[self.codes[name][rows]]  # code -1 picks the trailing 0
        return total / len(names)

    def rank_profile(
        self, profile: Profile, k: int, mask: np.ndarray | None = None, weight: float = EMBEDDING_WEIGHT
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, blend scores, angular distance to the profile's mean) of the k best rows."""
        rows = np.flatnonzero(mask) if mask is not None else np.arange(len(self))
        scores = self.profile_scores(profile, weight, rows)
        best = top_k(scores, k)
        chosen = rows[best]
        return chosen, scores[best], angular(self.vectors[chosen] @ profile.vector)

    # -- calibration ----------------------------------------------------------------------
    def calibrate(
        self,
        agree_on: Sequence[str] = CLOSE_MATCH_ATTRIBUTES,
        by: str = "category",
        sample: int = CALIBRATION_SAMPLE,
        seed: int = 0,
    ) -> Thresholds:
        """Distance thresholds for "no close match", measured on the release's own neighbours.

        For sampled items and their ``CALIBRATION_K`` nearest others, a pair is a good match when
        both items have the same value of every ``agree_on`` attribute. The threshold is the
        largest distance up to which at least ``TARGET_PRECISION`` of the pairs are good
        matches: overall, and per value of ``by`` (the query's category) where that value has
        ``MIN_CATEGORY_PAIRS`` pairs. Without those attributes: the 95th percentile distance of
        an item to its nearest other item.
        """
        n = len(self)
        if n < 2:
            return Thresholds(2.0, {})
        rows = np.random.default_rng(seed).permutation(n)[: min(sample, n)]
        cos = self.vectors[rows] @ self.vectors.T
        cos[np.arange(len(rows)), rows] = -np.inf  # not itself
        k = min(CALIBRATION_K, n - 1)
        neighbours = np.argpartition(-cos, k - 1, axis=1)[:, :k]
        dist = angular(np.take_along_axis(cos, neighbours, axis=1)).ravel()
        names = [a for a in agree_on if a in self.codes]
        if not names:
            return Thresholds(float(np.quantile(dist.reshape(len(rows), k).min(axis=1), 0.95)), {})
        query = np.repeat(rows, k)
        found = neighbours.ravel()
        good = np.ones(len(dist), bool)
        for name in names:
            codes = self.codes[name]
            good &= (codes[query] == codes[found]) & (codes[query] >= 0)
        per: dict[str, float] = {}
        if by in self.codes:
            for code, value in enumerate(self.vocab[by]):
                mine = self.codes[by][query] == code
                if mine.sum() >= MIN_CATEGORY_PAIRS:
                    per[value] = _precise_up_to(dist[mine], good[mine])
        return Thresholds(_precise_up_to(dist, good), per)


def _precise_up_to(dist: np.ndarray, good: np.ndarray, target: float = TARGET_PRECISION) -> float:
    """The largest distance d such that at least ``target`` of the pairs within d are good."""
    order = np.argsort(dist, kind="stable")
    precision = np.cumsum(good[order]) / np.arange(1, len(order) + 1)
    reached = np.flatnonzero(precision >= target)
    return float(dist[order][reached[-1]]) if len(reached) else 0.0


@dataclass(frozen=True)
class Thresholds:
    """Calibrated "close match" distance, overall and per category value."""

    overall: float
    per_category: dict[str, float]

    def for_category(self, value: str | None) -> float:
        return self.per_category.get(value, self.overall) if value else self.overall


@dataclass(frozen=True)
class Profile:
    """A style profile: unit mean embedding and, per attribute, value → vote share (sums to 1)."""

    vector: np.ndarray
    votes: dict[str, dict[str, float]]

    @classmethod
    def from_predictions(
        cls, embeddings: np.ndarray, probabilities: Mapping[str, np.ndarray], vocab: Mapping[str, Sequence[str]]
    ) -> Profile:
        """From (m, d) embeddings and per attribute (m, n_values) softmax outputs of m photos."""
        mean = np.asarray(embeddings, np.float32).mean(axis=0)
        mean = mean / max(float(np.linalg.norm(mean)), 1e-12)
        votes = {}
        for name, probs in probabilities.items():
            share = np.asarray(probs, np.float32).mean(axis=0)
            votes[name] = {value: float(p) for value, p in zip(vocab[name], share / max(share.sum(), 1e-12))}
        return cls(mean, votes)

    def majority(self) -> dict[str, str]:
        """The most voted value per attribute (what attribute counting would match on)."""
        return {name: max(v, key=lambda value: v[value]) for name, v in self.votes.items() if v}
