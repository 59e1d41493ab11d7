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

from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline import schemas


def build_tables(
    images: pa.Table, products: pa.Table, index: pa.Table, groups: dict[str, str]
) -> tuple[pa.Table, pa.Table]:
    """(duplicates, items) for the stored ``images`` (sha256, image_key, retailer,
    product_id), ``products`` (product_id, retailer, title, url, price, currency, available)
    and the hash ``index`` (sha256, phash, tphash, width, height, seen_seq; rejected rows
    ignored)."""
    info = {
        sha: ((code, tcode), w, h, seq)
        for sha, code, tcode, w, h, seq, reason in zip(
            *(index[c].to_pylist() for c in ("sha256", "phash", "tphash", "width", "height", "seen_seq", "reason"))
        )
        if reason is None
    }
    key_of: dict[str, str] = {}
    shown_by: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for sha, key, retailer, pid in zip(
        *(images[c].to_pylist() for c in ("sha256", "image_key", "retailer", "product_id"))
    ):
        if sha in info and sha in groups:
            key_of[sha] = min(key, key_of.get(sha, key))
            shown_by[sha].add((retailer, pid))

    members: dict[str, list[str]] = defaultdict(list)
    for sha in key_of:
        members[groups[sha]].append(sha)

    offers_of = _offers(products)
    dup_rows: list[tuple[str, str, str, int]] = []
    item_rows: list[dict] = []
    for gid in sorted(members):
        shas = sorted(members[gid], key=lambda s: (-info[s][1] * info[s][2], info[s][3], s))
        canon = shas[0]
        for sha in sorted(shas):
            dist = min(int(np.bitwise_count(np.uint64(a) ^ np.uint64(b))) for a, b in zip(info[sha][0], info[canon][0]))
            dup_rows.append((sha, gid, canon, dist))
        products_in = sorted(set().union(*(shown_by[s] for s in shas)))
        offers = [offers_of[p] for p in products_in if p in offers_of]
        if not offers:
            continue  # no available product shows this group any more
        titled = [p for p in sorted(shown_by[canon]) if p in offers_of] or [
            (offers[0]["retailer"], offers[0]["product_id"])
        ]
        item_rows.append(
            {
                "item_id": gid,
                "group_id": gid,
                "canonical_sha256": canon,
                "image_key": key_of[canon],
                "title": offers_of[titled[0]]["title"],
                "offers": [{k: o[k] for k in schemas.OFFER.names} for o in offers],
                "n_images": len(shas),
            }
        )
    names = schemas.DUPLICATES.schema.names
    duplicates = schemas.DUPLICATES.arrow(pa.table({name: [r[k] for r in dup_rows] for k, name in enumerate(names)}))
    items = schemas.ITEMS.arrow(_join_by_gtin(item_rows))
    return duplicates, items


def _offers(products: pa.Table) -> dict[tuple[str, str], dict]:
    """(retailer, product_id) → offer fields + title, for available products."""
    names = ("retailer", "product_id", "title", "url", "price", "currency", "gtin")
    cols = {c: products[c].to_pylist() if c in products.column_names else [None] * products.num_rows for c in names}
    available = (
        products["available"].to_pylist() if "available" in products.column_names else [True] * products.num_rows
    )
    out: dict[tuple[Any, Any], dict] = {}
    for n, ok in enumerate(available):
        if ok is False:
            continue
        row = {c: cols[c][n] for c in cols}
        out[(row["retailer"], row["product_id"])] = row
    return out


def _join_by_gtin(rows: list[dict]) -> list[dict]:
    """Merge items whose offers share a GTIN (rows come in item_id order; the first one stays)."""
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with: dict[str, int] = {}
    for i, row in enumerate(rows):
        for offer in row["offers"]:
            if offer.get("gtin"):
                key = offer["gtin"].zfill(14)  # a UPC-12 and its EAN-13 are the same GTIN
                if key in first_with:
                    a, b = root(first_with[key]), root(i)
                    parent[max(a, b)] = min(a, b)
                else:
                    first_with[key] = i
    merged: dict[int, dict] = {}
    for i, row in enumerate(rows):
        into = merged.get(root(i))
        if into is None:
            merged[root(i)] = {**row, "offers": list(row["offers"])}
            continue
        have = {(o["retailer"], o["product_id"]) for o in into["offers"]}
        into["offers"] += [o for o in row["offers"] if (o["retailer"], o["product_id"]) not in have]
        into["n_images"] += row["n_images"]
    return list(merged.values())
