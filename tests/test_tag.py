"""Tagging items: one row per item, vocabulary values, idempotent, unreadable images reported."""

from __future__ import annotations

import logging

import pyarrow as pa

from pipeline import layout
from pipeline.model import build_model
from pipeline.registry import MODEL_FILE, register_model
from pipeline.tag import tag_items
from tests.support.attributes import write_items

VOCAB = {"category": ["tshirts_tops", "trousers"], "color": ["red", "blue", "green", "black"]}


def _model(lake) -> str:
    model = build_model(VOCAB, 32, backbone="compact", embedding_dim=8)
    return register_model(lake, model, attributes=VOCAB, image_size=32, backbone="compact")


def test_tag_items_writes_one_row_per_item_and_is_idempotent(lake, caplog) -> None:
    caplog.set_level(logging.INFO, logger="pipeline")
    items_uri = write_items(lake, n=10, corrupt=1)
    version = _model(lake)
    uri = tag_items(lake, items_uri, version, batch_size=4)
    assert uri == lake.uri(layout.table("attributes", model_version=version))
    table = lake.read_table(layout.table("attributes"), partitions={"model_version": version})
    assert table.num_rows == 11
    assert table.schema.field("color_confidence").type == pa.float32()
    rows = table.sort_by("item_id").to_pylist()
    assert [r["item_id"] for r in rows] == [f"item-{i:03d}" for i in range(11)]
    for row in rows[:10]:
        assert row["category"] in VOCAB["category"] and row["color"] in VOCAB["color"]
        assert 0.0 < row["category_confidence"] <= 1.0
    assert rows[10]["category"] is None and rows[10]["category_confidence"] == 0.0
    assert "1 unreadable image(s)" in caplog.text

    tag_items(lake, items_uri, version, batch_size=4)
    again = lake.read_table(layout.table("attributes"), partitions={"model_version": version})
    assert again.num_rows == 11
    assert again.sort_by("item_id").equals(table.sort_by("item_id"))


def test_a_second_run_tags_only_new_images(lake, caplog) -> None:
    caplog.set_level(logging.INFO, logger="pipeline")
    items_uri = write_items(lake, n=6)
    version = _model(lake)
    tag_items(lake, items_uri, version, batch_size=4)
    first = lake.read_table(layout.table("attributes"), partitions={"model_version": version}).sort_by("item_id")
    items = lake.read_table(layout.table("items"))
    for key in items.column("image_key").to_pylist():  # the tagged images are not read again
        lake.delete(key)
    more = write_items(lake, n=8)  # items 0-5 as before (same images), 6-7 new
    caplog.clear()
    tag_items(lake, more, version, batch_size=4)
    assert "tagged 2/2 new images" in caplog.text
    again = lake.read_table(layout.table("attributes"), partitions={"model_version": version}).sort_by("item_id")
    assert again.num_rows == 8 and again.slice(0, 6).equals(first)
    assert all(v is not None for v in again.column("category").to_pylist())


def test_an_untrained_model_leaves_every_value_empty(lake, caplog) -> None:
    items_uri = write_items(lake, n=4)
    model = build_model(VOCAB, 32, backbone="compact", embedding_dim=8)
    version = register_model(lake, model, attributes=VOCAB, image_size=32, backbone="compact", extra={"trained": False})
    lake.delete(f"{layout.model_prefix(version)}/{MODEL_FILE}")  # nothing to predict: the model is not loaded
    tag_items(lake, items_uri, version, batch_size=4)
    rows = lake.read_table(layout.table("attributes"), partitions={"model_version": version}).to_pylist()
    assert len(rows) == 4
    assert all(r["category"] is None and r["color"] is None and r["color_confidence"] == 0.0 for r in rows)
    assert "is untrained: attribute values left empty" in caplog.text
