"""Image checks, safety and retry middlewares, and the table-building logic of the scrape stage."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

import pytest
from scrapy import Request, Spider
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.utils.test import get_crawler

from pipeline import schemas
from pipeline.demo_shop.catalog import synthetic_catalog, transcode
from pipeline.demo_shop.storefronts.base import png_header_bomb
from pipeline.imagegate import ImageRejected
from pipeline.retailers import Retailer
from pipeline.scrape import CrawlOutput, build_tables, known_images
from scrapers.images import Limits, inspect
from scrapers.middlewares import BackoffRetryMiddleware, PrivateNetworkMiddleware, retry_after_seconds


@pytest.fixture(scope="module")
def photo():
    catalog = synthetic_catalog(1, seed=5)
    return catalog.photo(catalog.products[0])


# -- image checks ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fmt, expected",
    [
        ("jpeg", ("JPEG", "jpg", "RGB")),
        ("cmyk", ("JPEG", "jpg", "CMYK")),
        ("rgba", ("PNG", "png", "RGBA")),
        ("webp", ("WEBP", "webp", "RGB")),
    ],
)
def test_accepts_real_images_in_their_own_format(photo, fmt, expected):
    meta = inspect(transcode(photo, fmt))
    assert (meta.format, meta.ext, meta.mode) == expected and (meta.width, meta.height) == (224, 224)


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda d: b"<!DOCTYPE html><html><body>404</body></html>", "not an image (html)"),
        (lambda d: b"GIF8", "not an image (unknown format)"),
        (lambda d: b"", "empty body"),
        (lambda d: d[:20] + bytes(range(256)) * 4, "corrupt JPEG"),
        (lambda d: d[: len(d) // 2], "truncated JPEG"),
        (lambda d: png_header_bomb(30000, 30000), "too many pixels"),
        (lambda d: png_header_bomb(8000, 8000), "too many pixels: 8000x8000"),  # under PIL's own limit
        (lambda d: transcode(d, "jpeg", scale=0.1), "too small: 22x22"),
        (lambda d: d + b"\0" * 2_000_000, "too large"),
    ],
)
def test_rejects_by_sniffing_and_header_before_decoding(photo, make, reason):
    with pytest.raises(ImageRejected) as err:
        inspect(make(photo), Limits(max_bytes=1_000_000))
    assert str(err.value).startswith(reason)
    assert " at 0x" not in str(err.value)  # reasons are grouped by analysts: no object addresses


def test_bomb_is_refused_without_decoding():
    # a 30000x30000 RGB PNG would need 2.7 GB decoded; the header alone is 100 bytes
    bomb = png_header_bomb(30000, 30000)
    assert len(bomb) < 200
    with pytest.raises(ImageRejected, match="too many pixels"):
        inspect(bomb)


# -- middlewares -------------------------------------------------------------------------------------
def crawler_for(base_url: str, **settings):
    retailer = Retailer("acme", "shopify", base_url)
    crawler = get_crawler(Spider, {"VITRINE_RETAILER": retailer.to_json(), **settings})
    crawler.spider = Spider.from_crawler(crawler, name="t")
    return crawler


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://10.0.0.7/img.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x",
        "http://192.168.1.20/x",
        "http://[::ffff:10.0.0.1]/x",
    ],
)
def test_private_addresses_are_refused_for_a_public_retailer(url):
    mw = PrivateNetworkMiddleware.from_crawler(crawler_for("http://93.184.216.34"))
    with pytest.raises(IgnoreRequest, match="private address|link-local"):
        asyncio.run(mw.process_request(Request(url)))
    assert asyncio.run(mw.process_request(Request("http://93.184.216.35/img.jpg"))) is None


def test_private_addresses_are_allowed_only_at_the_retailers_own_origin():
    mw = PrivateNetworkMiddleware.from_crawler(crawler_for("http://127.0.0.1:8601"))
    assert asyncio.run(mw.process_request(Request("http://127.0.0.1:8601/x"))) is None
    with pytest.raises(IgnoreRequest, match="offsite port"):
        asyncio.run(mw.process_request(Request("http://127.0.0.1:8602/x")))


def test_retry_after_header_forms():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds(b"120") == 120
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_retry_honours_retry_after_and_gives_up_beyond_the_maximum():
    crawler = crawler_for("http://93.184.216.34", RETRY_AFTER_MAX=60)
    mw = BackoffRetryMiddleware.from_crawler(crawler)
    request = Request("http://93.184.216.34/products.json?page=2")
    slow = Response(request.url, status=429, headers={"Retry-After": "3600"})
    assert asyncio.run(mw.process_response(request, slow)) is slow
    now = Response(request.url, status=503, headers={"Retry-After": "0"})
    retry = asyncio.run(mw.process_response(request, now))
    assert isinstance(retry, Request) and retry.meta["retry_times"] == 1 and retry.dont_filter
    assert asyncio.run(mw.process_response(request, Response(request.url, status=404))).status == 404


def test_retry_after_on_429_or_503_pauses_the_whole_domain_not_others():
    crawler = crawler_for("http://93.184.216.34", RETRY_BACKOFF_BASE=0)
    mw = BackoffRetryMiddleware.from_crawler(crawler)
    page2 = Request("http://shop.example/products.json?page=2")
    page3, image = Request("http://shop.example/products.json?page=3"), Request("http://cdn.example/a.jpg")

    async def scenario():
        loop = asyncio.get_running_loop()
        start = loop.time()
        busy = Response(page2.url, status=503, headers={"Retry-After": "1"})
        retry = asyncio.ensure_future(mw.process_response(page2, busy))
        await asyncio.sleep(0)  # the 503 is in: shop.example is paused
        assert await mw.process_request(image) is None
        other_domain = loop.time() - start
        assert await mw.process_request(page3) is None
        same_domain = loop.time() - start
        # without Retry-After, backoff delays only the retried request: no pause
        await mw.process_response(page3, Response(page3.url, status=500))
        after = loop.time()
        await mw.process_request(Request("http://shop.example/products.json?page=4"))
        return other_domain, same_domain, loop.time() - after, await retry

    other_domain, same_domain, unpaused, retry = asyncio.run(scenario())
    assert other_domain < 0.3 and 0.9 <= same_domain < 2 and unpaused < 0.3
    assert isinstance(retry, Request) and retry.meta["retry_times"] == 1
    assert crawler.stats.get_value("vitrine/slot_pauses") == 1
    assert crawler.stats.get_value("vitrine/slot_pause_waits") == 1


# -- tables ------------------------------------------------------------------------------------------
def item(pid, urls, stored=True):
    images = [
        {
            "url": u,
            "position": i,
            "status": "stored" if stored else "rejected",
            "reason": None if stored else "corrupt JPEG: x",
            "sha256": "ab" * 32 if stored else None,
            "image_key": f"images/ab/{'ab' * 32}.jpg" if stored else None,
            "width": 10,
            "height": 10,
            "format": "JPEG",
            "bytes": 100,
        }
        for i, u in enumerate(urls)
    ]
    return {
        "product_id": pid,
        "title": pid,
        "image_urls": urls,
        "url": f"https://s.example/{pid}",
        "scraped_at": "2026-01-02T00:00:00+00:00",
        "images": images,
    }


def test_unseen_products_become_unavailable_only_after_a_complete_crawl():
    first = CrawlOutput([item("r:a", ["u1"]), item("r:b", ["u2"])], [], {"finish_reason": "finished"})
    products, images = build_tables("r", first, [], [])
    assert [p["available"] for p in products] == [True, True] and len(images) == 2
    second = CrawlOutput([item("r:a", ["u1"]), item("r:a", ["u1"])], [], {"finish_reason": "finished"})
    products2, images2 = build_tables("r", second, products, images)
    assert [(p["product_id"], p["available"]) for p in products2] == [("r:a", True), ("r:b", False)]
    assert [i["url"] for i in images2] == ["u1", "u2"]  # duplicate item ignored, old image row kept
    for stats in ({"finish_reason": "shutdown"}, {"finish_reason": "finished", "vitrine/incomplete_listings": 1}):
        partial = CrawlOutput([item("r:a", ["u1"])], [], stats)
        assert [p["available"] for p in build_tables("r", partial, products, images)[0]] == [True, True]


def test_known_images_remember_stored_and_content_rejections_only():
    rows = [
        {
            "url": "u1",
            "status": "stored",
            "reason": None,
            "sha256": "s",
            "image_key": "k",
            "width": 1,
            "height": 1,
            "format": "PNG",
            "bytes": 3,
        },
        {"url": "u2", "status": "rejected", **schemas.rejection("too many pixels: 30000x30000")},
        {"url": "u3", "status": "rejected", **schemas.rejection("http 503")},
        {"url": "u4", "status": "rejected", **schemas.rejection("offsite: cdn.example")},
    ]
    known = known_images(rows)
    assert rows[1]["reason"] == "too_many_pixels"
    assert known["u1"]["sha256"] == "s" and known["u2"] == {"status": "rejected", "reason": rows[1]["detail"]}
    assert set(known) == {"u1", "u2"}
    json.dumps(known)  # passed to the crawl process as JSON


# -- image URLs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url, expected",
    [
        ("//Cdn.Example.com/a/b.jpg?v=1&width=800", "http://cdn.example.com/a/b.jpg"),
        ("//h/a.jpg?V=2&WIDTH=3&x=1", "http://h/a.jpg?x=1"),
        ("/rel/a.jpg?v=1", "http://127.0.0.1:3000/rel/a.jpg"),
        ("a.jpg", "http://127.0.0.1:3000/a.jpg"),
        ("//h/a.jpg?v=1#frag", "http://h/a.jpg"),
        ("//h/a%20b.jpg?x=%2F&v=1", "http://h/a%20b.jpg?x=%2F"),
        ("//h/a.jpg?&v=1&", "http://h/a.jpg"),
        ("//h:8080/p.jpg?crop=center&v=9", "http://h:8080/p.jpg"),
        ("//h/a.jpg?q=a+b", "http://h/a.jpg?q=a+b"),
        # a query that is not key=value pairs, or is signed, is kept byte for byte
        ("//h/a.jpg?$formatz$", "http://h/a.jpg?$formatz$"),
        ("//h/a.jpg?$Main768$&w=620", "http://h/a.jpg?$Main768$"),
        ("//h/a.jpg?sig=a%2Bb%3D&exp=1", "http://h/a.jpg?sig=a%2Bb%3D&exp=1"),
        # "&amp;" as JSON-LD writes it is one "&", not an "amp;" parameter
        ("https://h/a.jpg?x=1&amp;sig=Zm9v", "https://h/a.jpg?x=1&sig=Zm9v"),
        ("data:image/gif;base64,R0lG", None),
        ("ftp://h/a.jpg", "ftp://h/a.jpg"),  # kept, to be rejected with a reason (never requested)
        ("FILE:///etc/passwd", "FILE:///etc/passwd"),
        ("", None),
    ],
)
def test_image_url_normalization(url, expected):
    from scrapers.items import normalize_image_url

    assert normalize_image_url(url, "http://127.0.0.1:3000") == expected


def test_price_and_text_fast_paths():
    from scrapers.items import InvalidProduct, clean_text, to_price

    assert [to_price(v) for v in ("29.90", "007.50", "12", "€ 1.299,00", "1,299.00 EUR", "١٢")] == [
        Decimal("29.90"),
        Decimal("7.50"),
        12,
        1299,
        1299,
        12,
    ]
    with pytest.raises(InvalidProduct):
        to_price("n/a")
    for text in ("  a \t b\n", "\u00a0x\u2003y", "\x1c a \x1f", "", " "):
        assert clean_text(text) == (re.sub(r"\s+", " ", text).strip() or None)


def test_product_feed_exporter_writes_the_lines_scrapy_writes():
    import io

    from scrapy.exporters import JsonLinesItemExporter

    from scrapers.extensions import ProductLinesExporter
    from scrapers.items import ProductItem

    items = [
        ProductItem(
            product_id="a:1",
            title="Ünïcode “x”",
            price=1.5,
            tags=["a"],
            color=None,
            image_urls=["http://x/y.jpg"],
            images=[{"url": "u", "width": 3}],
        ),
        {"b": 1, "a": [1, {"x": None}]},
        ProductItem(),
    ]
    for item in items:
        generic, fast = io.BytesIO(), io.BytesIO()
        JsonLinesItemExporter(generic, encoding="utf-8").export_item(item)
        ProductLinesExporter(fast, encoding="utf-8").export_item(item)
        assert fast.getvalue() == generic.getvalue()


def test_one_file_cache_storage_round_trip_and_misses(tmp_path, caplog):
    """The HTTP cache keeps a response as one file and gives back the same response; a missing,
    torn or expired entry is a miss (the page is fetched again)."""
    import pickle
    import zlib

    from scrapy.http import HtmlResponse

    from scrapers.extensions import OneFileCacheStorage

    settings = {"HTTPCACHE_DIR": str(tmp_path / "cache"), "HTTPCACHE_EXPIRATION_SECS": 0}
    crawler = get_crawler(Spider, settings)
    spider = Spider.from_crawler(crawler, name="shop")
    storage = OneFileCacheStorage(crawler.settings)
    storage.open_spider(spider)
    request = Request("http://shop.test/p/1")
    assert storage.retrieve_response(spider, Request("http://shop.test/p/1")) is None
    body = "<html><body>Jacke €</body></html>".encode()
    headers = {"ETag": '"v1"', "Last-Modified": "Tue, 01 Dec 2026 10:00:00 GMT", "Content-Type": "text/html"}
    storage.store_response(spider, request, HtmlResponse(request.url, status=200, headers=headers, body=body))
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert len(files) == 1, files
    again = Request("http://shop.test/p/1")
    cached = storage.retrieve_response(spider, again)
    assert isinstance(cached, HtmlResponse) and cached.body == body and cached.status == 200
    assert cached.url == request.url and cached.headers[b"ETag"] == b'"v1"' and cached.text == body.decode()
    assert "cache_timestamp" in again.meta
    storage.expiration_secs = 1
    assert storage.retrieve_response(spider, Request(request.url)) is not None
    stored = pickle.loads(zlib.decompress(files[0].read_bytes()))
    stored["timestamp"] -= 10
    files[0].write_bytes(zlib.compress(pickle.dumps(stored)))
    assert storage.retrieve_response(spider, Request(request.url)) is None, "expired"
    files[0].write_bytes(files[0].read_bytes()[:10])
    with caplog.at_level(logging.WARNING, logger="scrapers.extensions"):
        assert storage.retrieve_response(spider, Request(request.url)) is None, "torn"
    assert "unreadable entry" in caplog.text and request.url in caplog.text
    assert crawler.stats.get_value("httpcache/unreadable") == 1
