"""Annoy index: tuning against exact search, and the staged index of a small catalog."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
from serve_fixtures import embed_all, tiny_model, write_catalog

from pipeline import layout, schemas
from pipeline.index import exact_neighbours, normalise, tune_annoy
from pipeline.index import build_index


def _clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    centres = np.random.default_rng(0).standard_normal((40, dim))
    rng = np.random.default_rng(seed)
    return normalise(centres[rng.integers(0, 40, n)] + 0.3 * rng.standard_normal((n, dim)))


def test_tuning_reaches_the_target_recall_measured_against_brute_force():
    vectors = _clustered(3000, 16)
    index, tuning = tune_annoy(vectors, 0.95, sample=150)
    assert tuning.recall_at_10 >= 0.93  # re-measured on held-out queries
    assert tuning.n_trees >= 16 and tuning.search_k >= 10 * tuning.n_trees

    # independent check on fresh external queries with the chosen search_k
    queries = _clustered(200, 16, seed=1)
    _, truth = exact_neighbours(vectors, queries, 10)
    found = [index.get_nns_by_vector(q, 10, search_k=tuning.search_k) for q in queries]
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    assert recall >= 0.9


def test_tiny_inputs_are_indexed_exactly():
    vectors = _clustered(5, 4)
    index, tuning = tune_annoy(vectors, 0.95)
    assert tuning.recall_at_10 == 1.0
    assert index.get_n_items() == 5


def test_build_index_stages_index_items_and_stats(lake):
    model = tiny_model()
    items_uri = write_catalog(lake, range(20), corrupt=(7,))
    embed_all(lake, items_uri, model)

    uri = build_index(lake, items_uri, model.version, run_id="manual__2026-01-01T00:00:00+00:00")
    prefix = lake.key_of(uri)
    assert prefix == layout.staging("manual__2026-01-01T00:00:00+00:00", "index")
    assert sorted(k.rsplit("/", 1)[1] for k in lake.list(prefix + "/")) == ["index.ann", "index.json", "items.parquet"]

    stats = lake.read_json(f"{prefix}/index.json")
    assert stats["n_items"] == 19 and stats["dim"] == model.embedding_dim and stats["metric"] == "angular"
    assert stats["recall_at_10"] >= 0.95 and stats["n_trees"] >= 1

    items = lake.read_parquet(f"{prefix}/items.parquet")
    assert items.column_names == ["annoy_id", "item_id", "title", "image_key", "offers"]
    assert items.schema.field("annoy_id").type == pa.int64()
    assert items.schema.field("offers").type == pa.list_(schemas.OFFER)
    ids = items.column("item_id").to_pylist()
    assert ids == sorted(ids) and "item-0007" not in ids
    assert items.column("annoy_id").to_pylist() == list(range(19))
