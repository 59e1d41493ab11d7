"""Scrape stage end to end: Scrapy in a subprocess crawls a clean demo shop on loopback into
a file:// or s3:// lake; exact counts, content-addressed images, idempotent re-runs."""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import replace

import pytest
from PIL import Image

from pipeline import layout, schemas
from pipeline.config import load_settings
from pipeline.demo_shop import DemoShop
from pipeline.scrape import CrawlConfig, CrawlRefused, scrape_retailer


@pytest.fixture(scope="module")
def shop():
    with DemoShop(n_products=9, mess=False, page_size=4) as running:
        yield running


def retailer(shop, platform, tmp_path):
    """The shop's registry entry, with its own HTTP cache so tests do not share revalidations."""
    entry = next(r for r in shop.retailers() if r.platform == platform)
    return replace(entry, settings={**entry.settings, "HTTPCACHE_DIR": str(tmp_path / "httpcache")})


def rows(lake, table, name):
    return schemas.table(table).read(lake, retailer=name).to_pylist()


@pytest.mark.parametrize("platform", ["shopify", "jsonld"])
def test_crawls_a_storefront_into_the_lake(lake, shop, platform, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pipeline")
    r = retailer(shop, platform, tmp_path)
    store = shop.storefronts[platform]
    uri = scrape_retailer(lake, r, "run-1")
    assert uri == lake.uri(f"tables/products/retailer={r.name}")
    assert f"scrape {r.name} (finished): 6 products, 0 invalid" in caplog.text

    products = rows(lake, "products", r.name)
    assert len(products) == 6
    assert {p["title"] for p in products} == {p.title for p in store.products}
    for row in products:
        source = next(p for p in store.products if p.title == row["title"])
        assert row["price"] == schemas.money(source.price) and row["currency"] == "EUR"
        assert row["color"].lower() == source.color and row["available"] is True
        assert row["product_id"].startswith(f"{r.name}:") and row["url"].endswith(source.handle)
        assert row["scraped_at"].tzinfo is not None

    images = rows(lake, "images", r.name)
    assert len(images) == 6 and {i["status"] for i in images} == {"stored"}
    for image in images:
        data = lake.read_bytes(image["image_key"])
        assert hashlib.sha256(data).hexdigest() == image["sha256"]
        assert image["image_key"] == layout.image_key(image["sha256"], "jpg")
        assert (image["width"], image["height"]) == Image.open(io.BytesIO(data)).size
        assert image["bytes"] == len(data) and image["position"] == 0
    assert len(lake.list("images/")) == 6

    stats = lake.read_table("tables/crawl_stats", partitions={"retailer": r.name}).to_pylist()
    assert [(s["run_id"], s["products"], s["images_new"], s["invalid_items"]) for s in stats] == [("run-1", 6, 6, 0)]


def test_rerun_is_idempotent(lake, shop, tmp_path):
    r = retailer(shop, "shopify", tmp_path)
    scrape_retailer(lake, r, "run-1")
    first = (rows(lake, "products", r.name), rows(lake, "images", r.name), lake.list("images/"))
    scrape_retailer(lake, r, "run-1")
    again = (rows(lake, "products", r.name), rows(lake, "images", r.name), lake.list("images/"))
    strip = lambda ps: [{k: v for k, v in p.items() if k != "scraped_at"} for p in ps]  # noqa: E731
    assert strip(first[0]) == strip(again[0]) and first[1:] == again[1:]
    assert len(lake.list(layout.table("crawl_stats", retailer=r.name))) == 1  # one row per crawl day


def test_crawls_into_an_s3_lake(s3_lake, shop, tmp_path):
    r = retailer(shop, "jsonld", tmp_path)
    uri = scrape_retailer(s3_lake, r, "run-s3")
    assert uri.startswith("s3://")
    products = rows(s3_lake, "products", r.name)
    images = rows(s3_lake, "images", r.name)
    assert len(products) == 6 and len(images) == 6
    assert sorted(i["image_key"] for i in images) == s3_lake.list("images/")


def test_a_listing_that_keeps_failing_marks_nothing_unavailable(lake, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pipeline")
    with DemoShop(n_products=6, mess=False) as shop:
        r = retailer(shop, "shopify", tmp_path)
        scrape_retailer(lake, r, "run-1")
        shop.storefronts["shopify"].outage.add("/products.json?page=1")
        shop.clear_log()
        with pytest.raises(CrawlRefused, match="no products found"):  # the task fails, loudly
            scrape_retailer(lake, r, "run-2")
        retried = [e for e in shop.requests("shopify") if e["path"].startswith("/products.json?page=1")]
    assert [e["status"] for e in retried] == [503] * 4  # RETRY_TIMES = 3, with backoff between
    products = rows(lake, "products", r.name)
    assert len(products) == 4 and all(p["available"] for p in products)
    assert "scrape demo-shopify (finished, incomplete): 0 products" in caplog.text


def test_listing_pages_of_one_card_are_crawled_as_listings(lake, tmp_path):
    """Each listing page shows one card with a price and an add-to-cart form, which is what a
    product page without markup looks like: the crawl still follows every card and every page."""
    with DemoShop(n_products=9, mess=False, page_size=1) as shop:
        r = replace(retailer(shop, "jsonld", tmp_path), sitemap_urls=[])  # the listings are the only way in
        scrape_retailer(lake, r, "run-1")
        store = shop.storefronts["jsonld"]
        pages = [e["path"] for e in shop.requests("jsonld") if e["path"].startswith("/collections/all")]
    products = rows(lake, "products", r.name)
    assert sorted(p["title"] for p in products) == sorted(p.title for p in store.products)
    assert len(pages) == len(store.products)  # one listing page per card, each fetched once


def test_the_adapters_user_agent_and_http_cache_reach_the_crawl(lake, tmp_path):
    """What Settings say (through CrawlConfig.from_settings in the adapters) is what the crawl
    does: it identifies with the user agent and keeps its ETag cache under the cache folder."""
    settings = load_settings(
        {"VITRINE_HOME": str(tmp_path / "home"), "VITRINE_USER_AGENT": "TestBot/1 (+https://x.example)"}
    )
    with DemoShop(n_products=3, mess=False) as shop:
        entry = next(r for r in shop.retailers() if r.platform == "shopify")
        scrape_retailer(lake, entry, "run-1", CrawlConfig.from_settings(settings))
        agents = {e["user_agent"] for e in shop.requests("shopify")}
    assert agents == {"TestBot/1 (+https://x.example)"}
    assert any((settings.cache_dir / "scrapy" / entry.name).iterdir()), "the HTTP cache is kept per retailer"
