"""The dedup stage end to end on a lake: grouping, colorways, rejects, stable ids, S3."""

from __future__ import annotations

import logging

import pyarrow as pa
import pyarrow.compute as pc

from pipeline import layout
from pipeline.dedup import dedup_catalog, state
from tests.support.dedup import brightness, encode, garment, hue_shift, pad, resize, watermark, write_catalog


def _listings() -> list[tuple[str, str, bytes | None, str]]:
    shirt, dress, bag = garment(1), garment(2), garment(3)
    return [
        ("acme", "shirt", encode(shirt, "PNG"), "Striped shirt"),
        ("bravo", "s-1", encode(resize(shirt, 0.5), quality=70), "Shirt (bravo)"),
        ("bravo", "s-2", encode(resize(shirt, 2.0), quality=85), "Shirt XL photo"),
        ("carol", "s-9", encode(shirt, quality=30), "Shirt low quality"),
        ("carol", "s-10", encode(watermark(shirt)), "Shirt watermarked"),
        ("delta", "s-11", encode(brightness(shirt, 1.1)), "Shirt brighter"),
        ("delta", "s-12", encode(brightness(shirt, 0.9)), "Shirt darker"),
        ("delta", "s-13", encode(pad(shirt, 0.10)), "Shirt with a white border"),
        ("acme", "shirt-green", encode(hue_shift(shirt, 120)), "Striped shirt, green"),
        ("acme", "dress", encode(dress), "Dress"),
        ("bravo", "d-1", encode(dress), "Dress (same file)"),
        ("carol", "d-7", encode(resize(dress, 0.5), quality=60), "Dress small"),
        ("acme", "bag", encode(bag), "Bag"),
        ("acme", "broken", encode(garment(4))[:700], "Truncated image"),
        ("bravo", "html", b"<html>not an image</html>", "HTML behind an image URL"),
        ("carol", "lost", None, "Download failed upstream"),
    ]


def _items_by_offer(lake) -> dict[str, dict]:
    items = lake.read_parquet(f"{layout.table('items')}/part-0.parquet").to_pylist()
    return {offer["product_id"]: item for item in items for offer in item["offers"]}


def test_groups_copies_keeps_colorways_apart_and_records_rejects(lake):
    shas = write_catalog(lake, _listings())
    uri = dedup_catalog(lake, "run-1")
    assert uri == lake.uri("tables/items")
    by_offer = _items_by_offer(lake)

    shirt = by_offer["acme:shirt"]
    copies = ["bravo:s-1", "bravo:s-2", "carol:s-9", "carol:s-10", "delta:s-11", "delta:s-12", "delta:s-13"]
    assert all(by_offer[p]["item_id"] == shirt["item_id"] for p in copies), "every transformed copy joins"
    assert len(shirt["offers"]) == 8 and shirt["n_images"] == 8
    assert shirt["canonical_sha256"] == shas["bravo:s-2"], "largest resolution is canonical"
    assert shirt["title"] == "Shirt XL photo", "title from the canonical image's product"
    assert by_offer["acme:shirt-green"]["item_id"] != shirt["item_id"], "a colorway stays its own item"

    dress = by_offer["acme:dress"]
    assert by_offer["carol:d-7"]["item_id"] == dress["item_id"]
    assert dress["n_images"] == 2, "an identical file at two retailers is one image"
    assert [o["product_id"] for o in dress["offers"]] == ["acme:dress", "bravo:d-1", "carol:d-7"]
    assert by_offer["acme:bag"]["item_id"] not in {dress["item_id"], shirt["item_id"]}
    items = lake.read_parquet(f"{layout.table('items')}/part-0.parquet")
    assert items.num_rows == 4  # shirt, green shirt, dress, bag

    rejected = lake.read_parquet(state.REJECTED_KEY).to_pylist()
    reasons = {r["sha256"]: r["reason"] for r in rejected}
    assert set(reasons) == {shas["acme:broken"], shas["bravo:html"]}
    assert "truncated" in reasons[shas["acme:broken"]]
    assert "not an image" in reasons[shas["bravo:html"]]

    dups = lake.read_parquet(f"{layout.table('duplicates')}/part-0.parquet")
    assert dups.num_rows == 12  # distinct stored, decodable images
    canon_rows = dups.filter(pc.equal(dups["sha256"], dups["canonical_sha256"]))
    assert canon_rows.num_rows == 4 and set(canon_rows["distance"].to_pylist()) == {0}


def test_rerun_is_idempotent_and_group_ids_are_stable(lake, caplog):
    caplog.set_level(logging.INFO, logger="pipeline")
    listings = _listings()
    write_catalog(lake, listings[:13])
    dedup_catalog(lake, "run-1")
    first_items = lake.read_parquet(f"{layout.table('items')}/part-0.parquet")
    first_dups = lake.read_parquet(f"{layout.table('duplicates')}/part-0.parquet")

    dedup_catalog(lake, "run-2")
    assert "0 hashed" in caplog.messages[-1] and caplog.messages[-1].startswith("dedup run-2:")
    assert lake.read_parquet(f"{layout.table('items')}/part-0.parquet").equals(first_items)
    assert lake.read_parquet(f"{layout.table('duplicates')}/part-0.parquet").equals(first_dups)
    assert len(lake.list(state.HASHES + "/")) == 1, "nothing new: no new index part"

    # next night: a new retailer lists the shirt (another re-encode) and a new product
    shirt = garment(1)
    write_catalog(
        lake,
        listings[:13]
        + [
            ("echo", "e-1", encode(resize(shirt, 0.75), quality=50), "Shirt"),
            ("echo", "e-2", encode(garment(5)), "Scarf"),
        ],
    )
    dedup_catalog(lake, "run-3")
    assert "2 hashed" in caplog.messages[-1] and caplog.messages[-1].startswith("dedup run-3:")
    by_offer = _items_by_offer(lake)
    before = {o["product_id"]: item["item_id"] for item in first_items.to_pylist() for o in item["offers"]}
    assert by_offer["echo:e-1"]["item_id"] == before["acme:shirt"], "a new copy joins the existing item"
    assert all(by_offer[p]["item_id"] == gid for p, gid in before.items()), "existing item ids unchanged"
    assert by_offer["echo:e-2"]["item_id"] not in set(before.values())


def test_offers_follow_availability(lake):
    dress = garment(2)
    write_catalog(lake, [("acme", "dress", encode(dress), "Dress"), ("bravo", "d", encode(dress, quality=60), "Dress")])
    key = f"{layout.table('products', retailer='bravo')}/part-0.parquet"
    products = lake.read_parquet(key).to_pylist()
    products[0]["available"] = False
    lake.write_parquet(key, pa.Table.from_pylist(products))
    dedup_catalog(lake, "run-1")
    (item,) = lake.read_parquet(f"{layout.table('items')}/part-0.parquet").to_pylist()
    assert [o["product_id"] for o in item["offers"]] == ["acme:dress"]
    assert item["n_images"] == 2


def test_offers_sharing_a_gtin_are_one_item_whatever_their_photos(lake):
    write_catalog(
        lake,
        [
            ("acme", "boot", encode(garment(3)), "Boot"),
            ("bravo", "b", encode(garment(4)), "Boot"),
            ("bravo", "other", encode(garment(5)), "Other"),
        ],
    )
    for retailer, gtins in (
        ("acme", {"acme:boot": "036000291452"}),
        ("bravo", {"bravo:b": "0036000291452", "bravo:other": "4006381333931"}),
    ):
        key = f"{layout.table('products', retailer=retailer)}/part-0.parquet"
        rows = [{**p, "gtin": gtins[p["product_id"]]} for p in lake.read_parquet(key).to_pylist()]
        lake.write_parquet(key, pa.Table.from_pylist(rows))
    dedup_catalog(lake, "run-1")
    items = lake.read_parquet(f"{layout.table('items')}/part-0.parquet").to_pylist()
    groups = lake.read_parquet(f"{layout.table('duplicates')}/part-0.parquet")["group_id"].to_pylist()
    assert len(set(groups)) == 3  # three photos that look nothing alike
    offers = sorted(sorted(o["product_id"] for o in item["offers"]) for item in items)
    assert offers == [["acme:boot", "bravo:b"], ["bravo:other"]]
    boot = next(i for i in items if len(i["offers"]) == 2)
    assert boot["n_images"] == 2 and {o["gtin"] for o in boot["offers"]} == {"036000291452", "0036000291452"}


def test_empty_lake_writes_empty_tables(lake):
    uri = dedup_catalog(lake, "run-1")
    assert lake.read_parquet(f"{layout.table('items')}/part-0.parquet").num_rows == 0
    assert uri.endswith("tables/items")


def test_s3_lake(s3_lake):
    shirt = garment(1)
    write_catalog(
        s3_lake,
        [
            ("acme", "shirt", encode(shirt), "Shirt"),
            ("bravo", "s", encode(resize(shirt, 0.5)), "Shirt"),
            ("acme", "bag", encode(garment(3)), "Bag"),
        ],
    )
    uri = dedup_catalog(s3_lake, "run-1")
    assert uri.startswith("s3://")
    items = s3_lake.read_parquet(f"{layout.table('items')}/part-0.parquet")
    assert sorted(items["n_images"].to_pylist()) == [1, 2]
    dedup_catalog(s3_lake, "run-2")
    assert s3_lake.read_parquet(f"{layout.table('items')}/part-0.parquet").equals(items)
