"""The incremental night's request accounting, crawled for real against the demo shop: a JSON-LD
page whose sitemap ``<lastmod>`` is older than our last fetch of it is not requested at all
(not even revalidated), changed and new pages are, and delisted products still turn
unavailable."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from pipeline import schemas
from pipeline.demo_shop import DemoShop
from pipeline.demo_shop.catalog import synthetic_catalog
from pipeline.scrape import scrape_retailer
from scrapers.spiders.jsonld import lastmod_bound


def rows(lake, table, name):
    return schemas.table(table).read(lake, retailer=name).to_pylist()


def test_unchanged_pages_are_not_fetched_and_delisted_products_turn_unavailable(lake, tmp_path):
    with DemoShop(n_products=30, mess=False, page_size=8) as shop:
        entry = next(r for r in shop.retailers() if r.platform == "jsonld")
        retailer = replace(entry, settings={**entry.settings, "HTTPCACHE_DIR": str(tmp_path / "httpcache")})
        store = shop.storefronts["jsonld"]
        scrape_retailer(lake, retailer, "night-1")
        first = {p["title"]: p for p in rows(lake, "products", retailer.name)}
        assert len(first) == len(store.products) == 20 and all(p["available"] for p in first.values())

        changed = shop.change(store.products[2:4])
        gone = store.products[5]
        shop.remove([gone])
        new = synthetic_catalog(1, seed=9, prefix="new-").products[0]
        shop.add([new])
        assert new in store.products
        shop.clear_log()
        scrape_retailer(lake, retailer, "night-2")
        log = shop.requests("jsonld")

        pages = [e["path"] for e in log if e["path"].startswith("/products/")]
        assert sorted(pages) == sorted(f"/products/{p.handle}" for p in [*changed, new])
        images = [e["path"] for e in log if e["path"].startswith("/media/")]
        assert sorted(images) == sorted(store.media(p) for p in [*changed, new])

        second = {p["title"]: p for p in rows(lake, "products", retailer.name)}
        assert not second[gone.title]["available"]
        assert [t for t, p in second.items() if not p["available"]] == [gone.title]
        assert second[new.title]["available"] and float(second[new.title]["price"]) == new.price
        for product in changed:
            assert float(second[product.title]["price"]) == product.price < float(first[product.title]["price"])
        unchanged = set(first) - {p.title for p in [*changed, gone]}
        assert len(unchanged) == 17
        for title in unchanged:  # carried over as they were, images included
            assert second[title] == first[title]
        image_rows = {i["product_id"]: i for i in rows(lake, "images", retailer.name)}
        assert all(image_rows[second[t]["product_id"]]["status"] == "stored" for t in unchanged)
        stats = [
            r for r in schemas.CRAWL_STATS.read(lake, retailer=retailer.name).to_pylist() if r["run_id"] == "night-2"
        ][0]
        assert stats["products_unavailable"] == 1 and stats["images_new"] == 3
        assert stats["complete"]


def test_lastmod_bound_covers_the_precision_given():
    utc = UTC
    assert lastmod_bound("2026-03-04") == datetime(2026, 3, 5, tzinfo=utc)
    assert lastmod_bound("2026-03-04T10:00:00Z") == datetime(2026, 3, 4, 10, 0, 1, tzinfo=utc)
    assert lastmod_bound("2026-03-04T10:00:00+01:00") == datetime(2026, 3, 4, 9, 0, 1, tzinfo=utc)
    assert lastmod_bound("2026-03-04T10:00:00.250000") == datetime(2026, 3, 4, 10, 0, 0, 250000, tzinfo=utc)
    assert lastmod_bound("2026-03-04T10:00:00") - lastmod_bound("2026-03-04T10:00:00Z") == timedelta(0)
    assert lastmod_bound("last tuesday") is None and lastmod_bound(None) is None
