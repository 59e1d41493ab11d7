"""The index stage: the staged index of a small catalog (the index kinds: test_ann.py)."""

from __future__ import annotations

import pyarrow as pa

from pipeline import layout, schemas
from pipeline.index import build_index
from tests.support.serve import embed_all, tiny_model, write_catalog


def test_build_index_stages_index_items_and_stats(lake):
    model = tiny_model()
    items_uri = write_catalog(lake, range(20), corrupt=(7,))
    embed_all(lake, items_uri, model)

    uri = build_index(
        lake, items_uri, model.version, run_id="manual__2026-01-01T00:00:00+00:00", recall_target=0.95, kind="annoy"
    )
    prefix = lake.key_of(uri)
    assert prefix == layout.staging("manual__2026-01-01T00:00:00+00:00", "index")
    assert sorted(k.rsplit("/", 1)[1] for k in lake.list(prefix + "/")) == ["index.ann", "index.json", "items.parquet"]

    stats = lake.read_json(f"{prefix}/index.json")
    assert stats["n_items"] == 19 and stats["dim"] == model.embedding_dim and stats["metric"] == "angular"
    assert stats["recall_at_10"] >= 0.95 and stats["n_trees"] >= 1
    assert stats["index"] == {
        "kind": "annoy",
        "params": {"metric": "angular", "n_trees": stats["n_trees"], "search_k": stats["search_k"]},
    }

    items = lake.read_parquet(f"{prefix}/items.parquet")
    assert items.column_names == ["annoy_id", "item_id", "title", "image_key", "offers"]
    assert items.schema.field("annoy_id").type == pa.int64()
    assert items.schema.field("offers").type == pa.list_(schemas.OFFER)
    ids = items.column("item_id").to_pylist()
    assert ids == sorted(ids) and "item-0007" not in ids
    assert items.column("annoy_id").to_pylist() == list(range(19))
