"""The demo shop on loopback: both storefronts, ETags, shared re-encoded photos, catalogs, CLI."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from PIL import Image

from pipeline.demo_shop import DemoShop, folder_catalog, synthetic_catalog
from pipeline.retailers import load_registry


def get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture(scope="module")
def shop():
    with DemoShop(n_products=9, mess=False, page_size=4) as running:
        yield running


def test_shopify_storefront_pages_products_json_until_empty(shop):
    base = shop.storefronts["shopify"].base_url
    status, headers, body = get(f"{base}/products.json?page=1&limit=250")
    products = json.loads(body)["products"]
    assert status == 200 and len(products) == 6  # catalog items i % 3 != 2
    first = products[0]
    assert set(first) >= {
        "id",
        "handle",
        "title",
        "body_html",
        "vendor",
        "product_type",
        "tags",
        "options",
        "variants",
        "images",
    }
    assert first["options"][0]["name"] == "Color" and first["images"][0]["src"].startswith("//127.0.0.1:")
    assert json.loads(get(f"{base}/products.json?page=2&limit=250")[2]) == {"products": []}
    assert json.loads(get(f"{base}/products.json?page=1&limit=4")[2])["products"][3]["id"] == products[3]["id"]
    single = json.loads(get(f"{base}/products/{first['handle']}.json")[2])["product"]
    assert single["id"] == first["id"] and isinstance(single["tags"], str)  # a string there, as on Shopify
    assert get(f"{base}/products/nope.json")[0] == 404
    assert json.loads(get(f"{base}/meta.json")[2])["currency"] == "EUR"


def test_jsonld_storefront_listing_sitemap_and_product_pages(shop):
    store = shop.storefronts["jsonld"]
    status, _, body = get(f"{store.base_url}/collections/all")
    assert status == 200 and b'rel="next"' in body and body.count(b'class="product-card"') == 4
    index = get(f"{store.base_url}/sitemap.xml")[2]
    assert b"<sitemapindex" in index and b"sitemap-products-2.xml.gz" in index
    product = store.products[0]
    page = get(f"{store.base_url}/products/{product.handle}")[2].decode()
    assert '"@type": "Product"' in page and product.title in page


def test_etag_revalidation_and_request_log(shop):
    url = f"{shop.storefronts['jsonld'].base_url}/collections/all?page=2"
    shop.clear_log()
    status, headers, _ = get(url)
    assert status == 200 and headers["ETag"]
    assert get(url, {"If-None-Match": headers["ETag"]})[0] == 304
    log = shop.requests("jsonld")
    assert [(e["status"], e["conditional"]) for e in log] == [(200, False), (304, True)]
    assert log[0]["path"] == "/collections/all?page=2" and log[0]["host"].startswith("127.0.0.1:")


def test_shared_products_are_reencoded_copies(shop):
    shopify, jsonld = shop.storefronts["shopify"], shop.storefronts["jsonld"]
    shared = [p for p in shopify.products if p in jsonld.products]
    assert len(shared) == 3
    product = shared[0]
    original = get(f"{shopify.base_url}/cdn/shop/files/{product.handle}-v1.jpg")[2]
    copy = get(f"{jsonld.base_url}{jsonld.media(product)}")[2]
    assert original != copy
    assert Image.open(io.BytesIO(copy)).size == (202, 202) and Image.open(io.BytesIO(original)).size == (224, 224)


def test_synthetic_catalog_is_deterministic_and_labelled():
    a, b = synthetic_catalog(5, seed=3), synthetic_catalog(5, seed=3)
    assert [a.photo(p) for p in a.products] == [b.photo(p) for p in b.products]
    for p in a.products:
        assert p.labels["color"] in p.title.lower() and p.product_type in p.tags
        assert p.pattern in ("solid", "striped", "checked", "dotted")


def test_folder_catalog_serves_real_photos(tmp_path):
    (tmp_path / "images").mkdir()
    rows = []
    for i, color in enumerate(["Blue", "Red", "Black"]):
        Image.new("RGB", (60, 80), color.lower()).save(tmp_path / "images" / f"{100 + i}.jpg")
        rows.append(
            {
                "id": 100 + i,
                "gender": "Men",
                "masterCategory": "Apparel",
                "subCategory": "Topwear",
                "articleType": "Tshirts" if i else "",
                "baseColour": color,
                "season": "Summer",
                "usage": "Casual",
                "productDisplayName": f"Acme Men {color} Striped T-shirt",
            }
        )
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    catalog = folder_catalog(tmp_path, limit=2)
    assert [p.pid for p in catalog.products] == [100, 101]
    assert catalog.products[0].product_type == "Topwear" and catalog.products[1].product_type == "Tshirts"
    with DemoShop(catalog, mess=False) as shop:
        store = shop.storefronts["shopify"]
        products = json.loads(get(f"{store.base_url}/products.json?page=1&limit=250")[2])["products"]
        assert [p["title"] for p in products] == ["Acme Men Blue Striped T-shirt", "Acme Men Red Striped T-shirt"]
        photo = get("http:" + products[0]["images"][0]["src"])[2]
        assert photo == (tmp_path / "images" / "100.jpg").read_bytes()
    with pytest.raises(FileNotFoundError, match="labels.csv"):
        folder_catalog(tmp_path / "images")


def test_cli_serves_and_writes_its_registry(tmp_path):
    registry = tmp_path / "retailers.yaml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.demo_shop", "--products", "4", "--no-mess", "--registry-out", str(registry)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not registry.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        shopify, jsonld = load_registry(registry)
        assert (shopify.name, shopify.platform, jsonld.platform) == ("demo-shopify", "shopify", "jsonld")
        assert json.loads(get(f"{shopify.base_url}/products.json?page=1&limit=250")[2])["products"]
        assert get(jsonld.sitemap_urls[0])[0] == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_add_cli_registers_demo_shop_subcommand():
    import argparse

    from pipeline.demo_shop import add_cli

    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers())
    args = parser.parse_args(["demo-shop", "--catalog", "x", "--limit", "5", "--port", "8601"])
    assert (str(args.catalog), args.limit, args.port, args.func.__name__) == ("x", 5, 8601, "cmd_demo_shop")
