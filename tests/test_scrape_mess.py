"""Issue 3 acceptance: crawl the messy demo shop for real (Scrapy subprocess, loopback) and
assert exact counts, politeness and safety from the shop's own request log, then the
incremental behaviour: an unchanged shop is only revalidated (304s, no image downloads), and
after 5% of products change only those are fetched again; delisted products turn unavailable."""

from __future__ import annotations

import collections
import json
from dataclasses import replace

import pytest

from pipeline import schemas
from pipeline.demo_shop import DemoShop
from pipeline.scrape import scrape_retailer

N_PRODUCTS = 20  # catalog size; 5% change = 1 product
EXPECTED = {
    # products, invalid reasons, images stored, rejected reasons
    "shopify": (17, {"missing_title": 1, "no_images": 1}, 17, {"http_404": 1, "offsite": 1}),
    "jsonld": (
        23,
        {"missing_title": 1},
        15,
        {
            "corrupt_jpeg": 1,
            "truncated_jpeg": 1,
            "not_an_image": 1,
            "too_many_pixels": 1,
            "too_small": 1,
            "noimageindex": 2,
            "offsite": 1,
        },
    ),
}
DISALLOWED = ("/admin", "/cart", "/checkouts", "/search", "/account", "/products/secret-")
IMAGE_PATHS = ("/cdn/", "/media/")


def crawl(lake, shop, platform, tmp_path, run_id):
    entry = next(r for r in shop.retailers() if r.platform == platform)
    retailer = replace(entry, settings={**entry.settings, "HTTPCACHE_DIR": str(tmp_path / "httpcache")})
    shop.clear_log()
    scrape_retailer(lake, retailer, run_id)
    products = schemas.PRODUCTS.read(lake, retailer=retailer.name).to_pylist()
    images = schemas.IMAGES.read(lake, retailer=retailer.name).to_pylist()
    stats = [r for r in schemas.CRAWL_STATS.read(lake, retailer=retailer.name).to_pylist() if r["run_id"] == run_id][0]
    for key in ("invalid_reasons", "rejected_reasons", "responses_by_status"):
        stats[key] = dict(stats[key])  # Parquet maps read back as (key, value) pairs
    return products, images, stats, shop.requests(platform)


def reasons(rows):
    """Rejection codes counted; each row's detail is the full message."""
    assert all(r["detail"] and schemas.reason_code(r["detail"]) == r["reason"] for r in rows)
    return dict(collections.Counter(r["reason"] for r in rows))


@pytest.mark.parametrize("platform", ["shopify", "jsonld"])
def test_messy_shop_exact_counts_then_incremental(lake, tmp_path, platform):
    n_products, invalid, n_stored, rejected = EXPECTED[platform]
    with DemoShop(n_products=N_PRODUCTS, mess=True, page_size=4) as shop:
        # -- first crawl: everything is new -------------------------------------------------------
        products, images, stats, log = crawl(lake, shop, platform, tmp_path, "run-1")
        assert len(products) == stats["products"] == n_products
        assert stats["invalid_items"] == sum(invalid.values()) and stats["invalid_reasons"] == invalid
        invalid_rows = lake.read_table("tables/invalid_products").to_pylist()
        assert reasons(invalid_rows) == invalid and all(r["url"] for r in invalid_rows)
        stored = [i for i in images if i["status"] == "stored"]
        assert len(stored) == stats["images_stored"] == stats["images_new"] == n_stored
        assert reasons([i for i in images if i["status"] == "rejected"]) == rejected == stats["rejected_reasons"]
        assert {i["format"] for i in stored} == ({"JPEG", "PNG", "WEBP"} if platform == "shopify" else {"JPEG"})
        assert len(lake.list("images/")) == len({i["sha256"] for i in stored})

        # politeness and safety, from the shop's own log
        assert not [e for e in log if not e["host"].startswith("127.0.0.1:")], "off-domain request"
        assert not [e for e in log if e["path"].startswith(DISALLOWED)], "robots.txt-disallowed request"
        assert log[0]["path"] == "/robots.txt" and {e["user_agent"] for e in log} == {log[0]["user_agent"]}
        assert log[0]["user_agent"].startswith("VitrineBot/") and "+http" in log[0]["user_agent"]
        assert not [e for e in log if e["path"].endswith(("-bomb.jpg",)) and e["status"] != 200]
        if platform == "shopify":  # 503 with Retry-After: 1, then the retry succeeds
            page2 = [e for e in log if e["path"].startswith("/products.json?page=2")]
            assert [e["status"] for e in page2] == [503, 200]
            assert page2[1]["time"] - page2[0]["time"] >= 1.0
            assert stats["retries"] == 1
            # the Retry-After paused the whole storefront: apart from the pages requested together
            # with page 2 (in flight), nothing (no image, no retry) was asked for until it was over
            paused = page2[0]["time"]
            early = [e["path"] for e in log if paused < e["time"] < paused + 0.95]
            assert all(path.startswith("/products.json?page=") for path in early), early
            assert json.loads(stats["stats_json"])["vitrine/slot_pauses"] == 1
        else:
            assert stats["robots_forbidden"] == 1 and stats["responses_by_status"]["404"] == 1
            assert {"/sitemap-products-2.xml.gz", "/collections/all?page=2"} <= {e["path"] for e in log}
        assert stats["offsite_filtered"] == 1

        # -- second crawl of the unchanged shop: 304s, no image downloaded again ------------------
        products2, images2, stats2, log2 = crawl(lake, shop, platform, tmp_path, "run-2")
        assert products2 == [dict(p, scraped_at=p2["scraped_at"]) for p, p2 in zip(products, products2, strict=True)]
        assert images2 == images
        pages = [e for e in log2 if not e["path"].startswith(IMAGE_PATHS)]
        fetched = [e for e in pages if e["status"] not in (304, 404)]
        assert not fetched, fetched
        assert all(e["conditional"] for e in pages if e["status"] == 304)
        assert stats2["revalidated_304"] == len([e for e in pages if e["status"] == 304]) > 0
        image_requests = [e for e in log2 if e["path"].startswith(IMAGE_PATHS)]
        # only images that failed for a transient reason are asked for again (never one that was stored)
        assert [e["status"] for e in image_requests] == ([404] if platform == "shopify" else [302])
        assert stats2["images_new"] == 0
        if platform == "shopify":
            assert stats2["images_known"] == n_stored
        else:  # pages whose sitemap lastmod predates the last crawl are not fetched (nor their images)
            unchanged = json.loads(stats2["stats_json"])["vitrine/pages_unchanged"]
            assert unchanged > 0 and stats2["images_known"] < n_stored

        # -- 5% of the catalog changes, one product is delisted -----------------------------------
        store = shop.storefronts[platform]
        changed = shop.change_fraction(0.05)
        assert len(changed) == 1 and changed[0] in store.products
        gone = next(p for p in store.products if p not in changed)
        shop.remove([gone])
        products3, images3, stats3, log3 = crawl(lake, shop, platform, tmp_path, "run-3")
        downloaded = [e["path"] for e in log3 if e["path"].startswith(IMAGE_PATHS) and e["status"] == 200]
        assert downloaded == [p for p in downloaded if f"{changed[0].handle}-v2" in p] and len(downloaded) == 1
        assert stats3["images_new"] == 1
        if platform == "jsonld":
            fetched = [e["path"] for e in log3 if e["path"].startswith("/products/") and e["status"] == 200]
            assert fetched == [f"/products/{changed[0].handle}"]
        by_id = {p["product_id"]: p for p in products3}
        assert len(products3) == n_products and stats3["products_unavailable"] == 1
        assert [p["title"] for p in products3 if not p["available"]] == [gone.title]
        assert [p["price"] for p in products3 if p["title"] == changed[0].title] == [schemas.money(changed[0].price)]
        assert len(by_id) == n_products
