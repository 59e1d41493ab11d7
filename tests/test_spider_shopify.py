"""Shopify product mapping on real field names (no network)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from scrapers.items import InvalidProduct, clean_image_urls, validate
from scrapers.spiders.shopify import option_values, parse_product

BASE = "https://shop.acme.example"
PRODUCT = {
    "id": 632910392,
    "title": "Striped Linen Shirt",
    "handle": "striped-linen-shirt",
    "body_html": "<p>Light &amp; <b>airy</b>.</p>",
    "vendor": "Acme",
    "product_type": "Shirts",
    "tags": "Men, pattern:Striped, material_Linen, Summer",
    "options": [
        {"name": "Size", "position": 1, "values": ["S", "M"]},
        {"name": "Colour", "position": 2, "values": ["Navy", "White"]},
    ],
    "variants": [
        {"id": 1, "option1": "S", "option2": "Navy", "price": "49.90", "available": False},
        {"id": 2, "option1": "M", "option2": "Navy", "price": "39.90", "available": True},
        {"id": 3, "option1": "M", "option2": "White", "price": "44.00", "available": False},
    ],
    "images": [
        {"position": 2, "src": "//cdn.acme.example/files/shirt-b.jpg?v=1699&width=400"},
        {"position": 1, "src": "https://cdn.acme.example/files/shirt-a.jpg?v=1699"},
        {"position": 3, "src": "//cdn.acme.example/files/shirt-b.jpg?width=1200&v=1700"},
    ],
}


def test_maps_shopify_fields_onto_the_product_schema():
    p = parse_product(PRODUCT, BASE, "EUR")
    assert p["product_id"] == "632910392" and p["title"] == "Striped Linen Shirt" and p["brand"] == "Acme"
    assert p["price"] == Decimal("39.90") and p["currency"] == "EUR" and p["availability"] == "in_stock"
    assert p["color"] == "Navy/White"  # the option named Colour, in variant order
    assert p["pattern"] == "Striped" and p["material"] == "Linen"  # from name:value tags
    assert p["category_path"] == ["Shirts"] and p["product_type"] == "Shirts"
    assert p["tags"] == ["Men", "pattern:Striped", "material_Linen", "Summer"]  # comma string → list
    assert p["description"] == "Light & airy."
    assert p["url"] == f"{BASE}/products/striped-linen-shirt"
    # sorted by position, protocol-relative resolved, ?v= and &width= renditions collapsed
    assert p["image_urls"] == [
        "https://cdn.acme.example/files/shirt-a.jpg",
        "https://cdn.acme.example/files/shirt-b.jpg",
    ]


def test_variant_compare_at_price_sku_and_barcode():
    variants = [
        {
            "id": 1,
            "price": "29.00",
            "compare_at_price": "49.00",
            "sku": "LS-S",
            "barcode": "4006381333931",
            "available": False,
        },
        {
            "id": 2,
            "price": "35.00",
            "compare_at_price": "59.00",
            "sku": " LS-M ",
            "barcode": "036000291452",
            "available": True,
        },
        {"id": 3, "price": "39.00", "compare_at_price": None, "sku": "LS-L", "barcode": "12345", "available": True},
    ]
    fields = parse_product(dict(PRODUCT, variants=variants), BASE, "EUR")
    item = validate({**fields, "product_id": "acme:1"})
    # the cheapest variant that can be bought gives price, compare-at price and identity
    assert (item["price"], item["list_price"], item["sku"], item["gtin"]) == (
        Decimal("35.00"),
        Decimal("59.00"),
        "LS-M",
        "036000291452",
    )
    bad_barcode = validate({**parse_product(dict(PRODUCT, variants=variants[2:]), BASE, "EUR"), "product_id": "a:2"})
    assert (bad_barcode["gtin"], bad_barcode["list_price"], bad_barcode["sku"]) == (None, None, "LS-L")


def test_option_values_fall_back_to_the_option_list_and_color_spelling():
    product = {"options": [{"name": "Color", "values": ["Red"]}], "variants": [{"id": 1}]}
    assert option_values(product, "color", "colour") == ["Red"]
    assert option_values({"options": []}, "color") == []


def test_sold_out_unknown_and_garbage_prices():
    sold_out = dict(PRODUCT, variants=[dict(v, available=False) for v in PRODUCT["variants"]])
    assert parse_product(sold_out, BASE, None)["availability"] == "out_of_stock"
    no_flag = dict(PRODUCT, variants=[{"id": 1, "price": "10"}])
    assert parse_product(no_flag, BASE, None)["availability"] == "unknown"
    garbage = dict(PRODUCT, variants=[{"id": 1, "price": "call us"}])
    fields = parse_product(garbage, BASE, "EUR")
    with pytest.raises(InvalidProduct, match="bad price 'call us'"):
        validate({**fields, "product_id": "acme:1"})


@pytest.mark.parametrize(
    "raw, price",
    [("29.90", Decimal("29.90")), ("1.299,00 €", 1299.0), ("1,299.00", 1299.0), ("12,5", 12.5), (15, 15.0), ("", None)],
)
def test_price_formats(raw, price):
    fields = parse_product(dict(PRODUCT, variants=[{"id": 1, "price": raw}]), BASE, "EUR")
    assert validate({**fields, "product_id": "acme:1"})["price"] == price


def test_validation_reasons():
    good = {**parse_product(PRODUCT, BASE, "EUR"), "product_id": "acme:1"}
    for change, reason in [
        ({"title": "  "}, "missing title"),
        ({"image_urls": []}, "no images"),
        ({"product_id": "acme:"}, "missing product id"),
        ({"url": "/x"}, "bad url"),
        ({"currency": "euro"}, "bad currency"),
        ({"price": -3}, "bad price"),
    ]:
        with pytest.raises(InvalidProduct, match=reason):
            validate({**good, **change})
    assert validate(good)["availability"] == "in_stock"


def test_image_url_normalisation_keeps_real_query_parameters():
    urls = ["/img/a.jpg?v=2", "data:image/gif;base64,xx", "img/b.png?id=7&width=30", "javascript:void(0)"]
    assert clean_image_urls(urls, "https://s.example/p/") == [
        "https://s.example/img/a.jpg",
        "https://s.example/p/img/b.png?id=7",
        "javascript:void(0)",  # kept, to be rejected as "unsupported scheme: javascript"
    ]
