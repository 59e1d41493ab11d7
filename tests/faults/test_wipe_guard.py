"""One bad response must not wipe a retailer (issue 18 §2, issue 11's crawl completeness): a
real Scrapy crawl of a demo shop whose listing turns hostile for one run; the retailer's
products stay available and its images stay in the tables."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hostile import EMPTY_LISTING, HTML_ERROR, Hostile, deep_json, gzip_bomb, page

from pipeline import schemas
from pipeline.demo_shop import DemoShop
from pipeline.demo_shop.storefronts.base import Reply
from pipeline.scrape import CrawlRefused, scrape_retailer

HOSTILE_PAGE_1 = {
    "html error page": HTML_ERROR,
    "empty listing": EMPTY_LISTING,
    "gzip bomb": gzip_bomb(),
    "100k-deep JSON": deep_json(),
}


def rows(lake, table, name):
    return schemas.table(table).read(lake, retailer=name).to_pylist()


def last_stats(lake, name, run_id):
    return next(r for r in schemas.CRAWL_STATS.read(lake, retailer=name).to_pylist() if r["run_id"] == run_id)


@pytest.fixture
def shop():
    with DemoShop(n_products=9, mess=False, page_size=4) as running:  # 6 Shopify products, 2 pages
        yield running


def shopify(shop, tmp_path):
    entry = next(r for r in shop.retailers() if r.platform == "shopify")
    return replace(entry, settings={**entry.settings, "HTTPCACHE_DIR": str(tmp_path / "httpcache"), "RETRY_TIMES": 0})


@pytest.mark.parametrize("kind", HOSTILE_PAGE_1)
def test_one_bad_listing_response_keeps_every_product(lake, shop, tmp_path, kind):
    retailer = shopify(shop, tmp_path)
    scrape_retailer(lake, retailer, "run-1")
    before = rows(lake, "products", retailer.name), rows(lake, "images", retailer.name)
    assert len(before[0]) == 6 and all(p["available"] for p in before[0])

    Hostile(shop.storefronts["shopify"]).serve(page(1), HOSTILE_PAGE_1[kind], times=1)
    try:
        scrape_retailer(lake, retailer, "run-2")
        refused = False
    except CrawlRefused:  # failing loudly is fine; losing products is not
        refused = True
    products, images = rows(lake, "products", retailer.name), rows(lake, "images", retailer.name)
    assert sorted(p["product_id"] for p in products) == sorted(p["product_id"] for p in before[0])
    assert all(p["available"] for p in products)
    assert sorted(i["sha256"] for i in images) == sorted(i["sha256"] for i in before[1])
    assert refused or last_stats(lake, retailer.name, "run-2")["complete"] is False


def test_an_empty_catalog_fails_loudly_and_keeps_the_products(lake, tmp_path):
    with DemoShop(n_products=6, mess=False) as shop:  # one page holds the whole catalog
        retailer = shopify(shop, tmp_path)
        scrape_retailer(lake, retailer, "run-1")
        Hostile(shop.storefronts["shopify"]).serve(page(1), EMPTY_LISTING)  # every time
        with pytest.raises(CrawlRefused, match="no products found"):
            scrape_retailer(lake, retailer, "run-2")
    products = rows(lake, "products", retailer.name)
    assert len(products) == 4 and all(p["available"] for p in products)


def test_unreachable_retailer_fails_and_keeps_its_products(lake, tmp_path):
    with DemoShop(n_products=6, mess=False) as shop:
        retailer = shopify(shop, tmp_path)
        scrape_retailer(lake, retailer, "run-1")
    # the shop is gone: connections are refused
    with pytest.raises(CrawlRefused, match="no successful response"):
        scrape_retailer(lake, retailer, "run-2")
    products = rows(lake, "products", retailer.name)
    assert len(products) == 4 and all(p["available"] for p in products)
    assert last_stats(lake, retailer.name, "run-2")["complete"] is False  # at best stale cached pages


def test_a_large_drop_is_confirmed_by_a_second_crawl(lake, shop, tmp_path):
    retailer = shopify(shop, tmp_path)
    scrape_retailer(lake, retailer, "run-1")
    store = shop.storefronts["shopify"]
    # a one-off short listing (one product) is not believed: the second crawl sees them all
    one = store.route("/products.json", {"page": ["1"], "limit": ["1"]})
    Hostile(store).serve(lambda path, query: path == "/products.json", one, times=4)
    scrape_retailer(lake, retailer, "run-2")
    assert all(p["available"] for p in rows(lake, "products", retailer.name))
    # a real delisting of most of the catalog is confirmed and applied
    shop.remove(store.products[:5])
    scrape_retailer(lake, retailer, "run-3")
    products = rows(lake, "products", retailer.name)
    assert sum(p["available"] for p in products) == 1 and len(products) == 6


def test_hostile_text_is_cleaned_and_bounded():
    from scrapers.items import MAX_TEXT, InvalidProduct, validate

    good = {
        "product_id": "acme:1",
        "title": "Dress\r\nSet-Cookie: x=1\x00\x1b[31m red" + "a" * 2_000_000,
        "url": "https://s.example/p/1",
        "image_urls": ["https://s.example/a.jpg", "https://s.example/\r\nb.jpg"],
        "tags": ["ok\x07", "x" * 5000] + [f"t{i}" for i in range(1000)],
        "price": "10",
    }
    out = validate(good)
    assert out["title"].startswith("Dress Set-Cookie: x=1 [31m red") and len(out["title"]) == MAX_TEXT
    assert out["title"].isprintable() and out["image_urls"] == ["https://s.example/a.jpg"]
    assert out["tags"][0] == "ok" and len(out["tags"][1]) == 100 and len(out["tags"]) == 100
    with pytest.raises(InvalidProduct, match="bad url"):
        validate({**good, "url": "https://s.example/" + "a" * 5000})
    with pytest.raises(InvalidProduct, match="bad url"):
        validate({**good, "url": "https://s.example/p\r\nX-Injected: 1"})


def test_an_image_deleted_from_the_lake_is_fetched_again(lake, shop, tmp_path):
    retailer = shopify(shop, tmp_path)
    scrape_retailer(lake, retailer, "run-1")
    image = rows(lake, "images", retailer.name)[0]
    lake.delete(image["image_key"])
    scrape_retailer(lake, retailer, "run-2")
    assert lake.exists(image["image_key"])
    assert lake.read_bytes(image["image_key"]) and len(lake.list("images/")) == len(rows(lake, "images", retailer.name))


def _jsonld(shop, tmp_path, **settings):
    entry = next(r for r in shop.retailers() if r.platform == "jsonld")
    return replace(entry, settings={**entry.settings, "HTTPCACHE_DIR": str(tmp_path / "httpcache-ld"), **settings})


def _endless_listing(path, query):
    n = int(query.get("page", ["1"])[0])
    body = f'<html><head><link rel="next" href="/collections/all?page={n + 1}"></head><body>page {n}</body></html>'
    return Reply(200, body.encode())


def _endless_sitemaps(path, query):
    n = int(path.rsplit("-", 1)[1].split(".")[0]) if "chain-" in path else 0
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>/chain-{n + 1}.xml</loc></sitemap></sitemapindex>"
    )
    return Reply(200, xml.encode(), "application/xml")


@pytest.mark.parametrize("trap", ["endless pagination", "endless sitemap indexes"])
def test_endless_crawls_stop_at_a_cap_as_incomplete(lake, shop, tmp_path, trap):
    # sitemaps stop at the default depth cap; pages at a page cap (the default is 1,000,000)
    retailer = _jsonld(shop, tmp_path, **({"CLOSESPIDER_PAGECOUNT": 60} if trap == "endless pagination" else {}))
    scrape_retailer(lake, retailer, "run-1")
    before = rows(lake, "products", retailer.name)
    hostile = Hostile(shop.storefronts["jsonld"])
    if trap == "endless pagination":
        hostile.serve(
            lambda path, query: path == "/collections/all" and query.get("page", ["1"]) != ["1"], _endless_listing
        )
    else:
        hostile.serve(lambda path, query: path == "/sitemap.xml" or path.startswith("/chain-"), _endless_sitemaps)
    shop.clear_log()
    scrape_retailer(lake, retailer, "run-2")
    stats = last_stats(lake, retailer.name, "run-2")
    assert stats["complete"] is False and stats["requests"] <= 100
    assert len(shop.requests("jsonld")) <= 100
    products = rows(lake, "products", retailer.name)
    assert len(products) == len(before) and all(p["available"] for p in products)
