"""Groups → the ``duplicates`` and ``items`` tables (pure: tables in, tables out).

An item is one group of near-duplicate images that are stored now. Its canonical image is
the group's largest-resolution image, then the earliest seen, then the smallest sha256.
``distance`` in the duplicates table is the 64-bit pHash distance to the canonical image
(the smaller of the two views). Its offers are the available products showing any image of the group, once per
(retailer, product_id); its title is that of the canonical image's product (the first by
retailer, product_id when several products show the very same file). ``item_id`` is the
group id, which stays stable across runs.

Offers that share a valid GTIN are one catalog product whatever their photos look like:
items whose offers share a GTIN are merged into the one with the smallest ``item_id``
(offers and image counts combined), so two shops with different photos of one GTIN give
one item with two offers.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import schemas

OFFER_FIELDS = ("retailer", "product_id", "title", "url", "price", "currency", "gtin")


def build_tables(
    images: pa.Table, products: pa.Table, index: pa.Table, groups: dict[str, str]
) -> tuple[pa.Table, pa.Table]:
    """(duplicates, items) for the stored ``images`` (sha256, image_key, retailer,
    product_id), ``products`` (product_id, retailer, title, url, price, currency, available)
    and the hash ``index`` (sha256, phash, tphash, width, height, seen_seq; rejected rows
    ignored).

    Arrow and numpy throughout (sorts, joins by ``index_in``, group boundaries): no Python
    object per image or offer, so memory is that of the columns themselves."""
    ok = index.filter(pc.is_null(index["reason"]))
    group_table = pa.table(
        {"sha256": pa.array(list(groups), pa.string()), "group_id": pa.array(list(groups.values()), pa.string())}
    )
    shown = images.select(["sha256", "image_key", "retailer", "product_id"])
    shown = shown.filter(
        pc.and_(
            pc.is_in(shown["sha256"], value_set=ok["sha256"]),
            pc.is_in(shown["sha256"], value_set=group_table["sha256"]),
        )
    )
    # one row per grouped image: its smallest key, group, and what the canonical choice needs
    members = shown.group_by("sha256", use_threads=False).aggregate([("image_key", "min")])
    members = members.rename_columns(["sha256", "image_key"])
    at = pc.index_in(members["sha256"], value_set=ok["sha256"])
    members = members.append_column(
        "group_id", group_table["group_id"].take(pc.index_in(members["sha256"], value_set=group_table["sha256"]))
    )
    for c in ("phash", "tphash", "width", "height", "seen_seq"):
        members = members.append_column(c, ok[c].take(at))
    pixels = pc.multiply(members["width"].cast(pa.int64()), members["height"].cast(pa.int64()))
    members = members.append_column("pixels", pixels)

    # canonical image per group: largest resolution, then earliest seen, then smallest sha256
    by_rank = members.sort_by(
        [("group_id", "ascending"), ("pixels", "descending"), ("seen_seq", "ascending"), ("sha256", "ascending")]
    )
    starts = _starts(by_rank["group_id"])
    canon = by_rank.take(pa.array(starts))  # one row per group, in group_id order
    n_groups = canon.num_rows

    by_sha = members.sort_by([("group_id", "ascending"), ("sha256", "ascending")])
    group_no = _group_numbers(by_sha["group_id"], len(starts))
    c_code = canon["phash"].to_numpy()[group_no]
    c_tcode = canon["tphash"].to_numpy()[group_no]
    dist = np.minimum(
        np.bitwise_count(by_sha["phash"].to_numpy() ^ c_code), np.bitwise_count(by_sha["tphash"].to_numpy() ^ c_tcode)
    ).astype(np.int16)
    duplicates = pa.table(
        {
            "sha256": by_sha["sha256"],
            "group_id": by_sha["group_id"],
            "canonical_sha256": canon["sha256"].take(pa.array(group_no)),
            "distance": pa.array(dist),
        }
    )
    n_images = np.bincount(group_no, minlength=n_groups).astype(np.int32)

    # offers: the available products showing any image of the group, once per (retailer, product_id)
    offers_of = _offers(products)
    gid_of_shown = pc.index_in(shown["sha256"], value_set=by_sha["sha256"])
    pairs = pa.table(
        {
            "g": pa.array(group_no).take(gid_of_shown),
            "retailer": shown["retailer"].cast(pa.string()),
            "product_id": shown["product_id"].cast(pa.string()),
            "canon": pc.equal(shown["sha256"], canon["sha256"].take(pa.array(group_no).take(gid_of_shown))),
        }
    )
    pairs = pairs.group_by(["g", "retailer", "product_id"], use_threads=False).aggregate([("canon", "any")])
    pairs = pairs.rename_columns(["g", "retailer", "product_id", "canon"])
    offer_row = _lookup(pairs, offers_of)
    pairs = pairs.append_column("_offer", offer_row).filter(pc.is_valid(offer_row))
    pairs = pairs.sort_by([("g", "ascending"), ("retailer", "ascending"), ("product_id", "ascending")])
    offers = offers_of.take(pairs["_offer"])
    g = pairs["g"].to_numpy()
    has_offer = np.unique(g)  # groups with no available product are no item
    # title: the canonical image's product (the first by retailer, product_id), else the first offer's
    canon_first = _first_where(g, pairs["canon"].to_numpy(zero_copy_only=False), n_groups)
    any_first = _first_where(g, np.ones(len(g), dtype=bool), n_groups)
    title_at = np.where(canon_first[has_offer] >= 0, canon_first[has_offer], any_first[has_offer])
    items = pa.table(
        {
            "item_id": canon["group_id"].take(pa.array(has_offer)),
            "group_id": canon["group_id"].take(pa.array(has_offer)),
            "canonical_sha256": canon["sha256"].take(pa.array(has_offer)),
            "image_key": canon["image_key"].take(pa.array(has_offer)),
            "title": offers["title"].take(pa.array(title_at)),
            "n_images": pa.array(n_images[has_offer]),
        }
    )
    item_of_offer = np.searchsorted(has_offer, g)
    items = _join_by_gtin(items, offers.drop_columns(["title"]), item_of_offer)
    return schemas.DUPLICATES.arrow(duplicates), schemas.ITEMS.arrow(items)


def _components(n: int, item: np.ndarray, key: np.ndarray) -> np.ndarray:
    """For items 0..n-1 linked through shared keys (edges ``item[e]`` - ``key[e]``), the smallest
    item of each one's connected component: min-label propagation with pointer jumping."""
    label = np.arange(n, dtype=np.int64)
    if len(item) == 0:
        return label
    n_keys = int(key.max()) + 1
    while True:
        key_label = np.full(n_keys, n, dtype=np.int64)
        np.minimum.at(key_label, key, label[item])
        new = label.copy()
        np.minimum.at(new, item, key_label[key])
        new = new[new]  # labels are items of the same component, never larger: jump
        if np.array_equal(new, label):
            return label
        label = new


def _starts(sorted_keys: pa.ChunkedArray) -> np.ndarray:
    """Row numbers where a new key begins in a sorted column."""
    n = len(sorted_keys)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    keys = sorted_keys.combine_chunks() if isinstance(sorted_keys, pa.ChunkedArray) else sorted_keys
    change = pc.not_equal(keys.slice(1), keys.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    return np.concatenate([[0], np.flatnonzero(change) + 1]).astype(np.int64)


def _group_numbers(sorted_keys: pa.ChunkedArray, n_groups: int) -> np.ndarray:
    """0-based number of each row's key in a sorted column."""
    number = np.zeros(len(sorted_keys), dtype=np.int64)
    starts = _starts(sorted_keys)
    number[starts[1:]] = 1
    return np.cumsum(number)


def _first_where(g: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Per group 0..n-1, the first row of ``g`` (sorted) where ``mask`` holds, or -1."""
    out = np.full(n, -1, dtype=np.int64)
    rows = np.flatnonzero(mask)[::-1]  # reversed: the first row is written last
    out[g[rows]] = rows
    return out


def _offers(products: pa.Table) -> pa.Table:
    """Offer fields + title of the available products, one row per (retailer, product_id) (the
    last, if a product is listed twice)."""
    n = products.num_rows
    cols = {}
    for c in OFFER_FIELDS:
        kind = schemas.MONEY if c == "price" else pa.string()
        if c not in products.column_names:
            cols[c] = pa.nulls(n, kind)
        elif c == "price" and not pa.types.is_decimal(products[c].type):
            cols[c] = pa.array([schemas.money(v) for v in products[c].to_pylist()], kind)
        else:
            cols[c] = products[c].cast(kind)
    table = pa.table({**cols, "_row": pa.array(np.arange(n, dtype=np.int64))})
    if "available" in products.column_names and pa.types.is_boolean(products["available"].type):
        table = table.filter(pc.fill_null(products["available"], True))  # unavailable: False, not null
    last = table.group_by(["retailer", "product_id"], use_threads=False).aggregate([("_row", "max")])
    return table.filter(pc.is_in(table["_row"], value_set=last["_row_max"])).drop_columns(["_row"])


def _lookup(pairs: pa.Table, offers: pa.Table) -> pa.Array:
    """Row of ``offers`` for each (retailer, product_id) of ``pairs``, null where none."""
    sep = "\x1f"

    def key(t: pa.Table) -> pa.ChunkedArray:
        return pc.binary_join_element_wise(
            pc.fill_null(t["retailer"], ""), pc.fill_null(t["product_id"], ""), sep, null_handling="replace"
        )

    return pc.index_in(key(pairs), value_set=key(offers))


def _join_by_gtin(items: pa.Table, offers: pa.Table, item_of_offer: np.ndarray) -> pa.Table:
    """Merge items whose offers share a GTIN (``items`` in item_id order, ``offers`` grouped by
    item in that order): a connected component keeps its first item's fields, the offers of
    its items in item order (each (retailer, product_id) once) and the sum of their images.
    A UPC-12 and its EAN-13 are the same GTIN (keys zero-padded to 14 digits)."""
    n = items.num_rows
    gtin = offers["gtin"]
    with_gtin = np.flatnonzero(
        pc.fill_null(pc.and_(pc.is_valid(gtin), pc.not_equal(gtin, "")), False).to_numpy(zero_copy_only=False)
    )
    keys = pc.utf8_lpad(gtin.take(pa.array(with_gtin)), 14, "0")
    key_no = pc.index_in(keys, value_set=pc.unique(keys)).to_numpy(zero_copy_only=False).astype(np.int64)
    root = _components(n, item_of_offer[with_gtin], key_no)  # each item's component, named by its first item
    roots = np.flatnonzero(root == np.arange(n))

    # offers in component order, then item order (stable), each (retailer, product_id) once
    order = np.argsort(root[item_of_offer], kind="stable")
    merged = offers.take(pa.array(order)).append_column("_root", pa.array(root[item_of_offer][order]))
    merged = merged.append_column("_pos", pa.array(np.arange(len(order), dtype=np.int64)))
    once = merged.group_by(["_root", "retailer", "product_id"], use_threads=False).aggregate([("_pos", "min")])
    keep = np.sort(once["_pos_min"].to_numpy())
    merged = merged.take(pa.array(keep))
    per_root = np.searchsorted(roots, merged["_root"].to_numpy())
    offsets = np.concatenate([[0], np.cumsum(np.bincount(per_root, minlength=len(roots)))]).astype(np.int32)
    struct = pa.StructArray.from_arrays(
        [merged[f.name].combine_chunks().cast(f.type) for f in schemas.OFFER], fields=list(schemas.OFFER)
    )
    n_images = np.bincount(root, weights=items["n_images"].to_numpy(), minlength=n)[roots].astype(np.int32)
    out = items.take(pa.array(roots)).drop_columns(["n_images"])
    return out.append_column("offers", pa.ListArray.from_arrays(pa.array(offsets), struct)).append_column(
        "n_images", pa.array(n_images)
    )
