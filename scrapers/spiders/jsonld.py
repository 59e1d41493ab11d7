"""Storefronts with schema.org product data: product pages found from sitemaps (indexes and
gzip too) and by following listing pages and their pagination.

A page requested as a listing (a start URL, a pagination link) is read as a listing only: its
product links and next pages are followed, and no product is taken from it (a listing of one to
three cards, each with a price and an add-to-cart button, looks like a product page). A page
requested as a product page (a sitemap entry, a product link) gives its product, or, when it has
none, is read as a listing.

Incremental: a sitemap entry whose ``<lastmod>`` is older than our last fetch of that page
(``VITRINE_KNOWN_PAGES``: page URL → when it was scraped) is not fetched at all; the crawl
reports it as unchanged (``unchanged.json``) so its product stays current. Listing pages are
crawled once the sitemaps are read, so their links to unchanged pages are skipped too; every
other page is revalidated through the HTTP cache (ETag / Last-Modified)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from scrapy import Request
from scrapy.http import Response, TextResponse
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap

from pipeline import layout
from scrapers.extraction import FIELDS, extract_product
from scrapers.items import ProductItem
from scrapers.spiders.base import RetailerSpider

DEFAULT_PRODUCT_LINK = r"/products?/|/p/|/dp/|/item/|-p-\d+"
EXTRACTED = tuple(f for f in FIELDS if f != "image_urls") + ("product_type",)
NEXT_TEXT = re.compile(r"^(next|weiter|suivant|siguiente|volgende|›|»|→|>)\b|^(›|»|→)$", re.I)


def _page_number(url: str) -> int:
    values = parse_qs(urlsplit(url).query).get("page") or ["1"]
    return int(values[0]) if values[0].isdigit() else 1


def lastmod_bound(text: str | None) -> datetime | None:
    """The latest moment a sitemap ``<lastmod>`` (W3C datetime) can mean: a date is the whole
    day, a time without fractions the whole second; no timezone is UTC. None if unreadable."""
    text = (text or "").strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if "T" not in text:
        return value + timedelta(days=1)
    return value if value.microsecond else value + timedelta(seconds=1)


def load_known_pages(path: str | None) -> dict[str, datetime]:
    """``VITRINE_KNOWN_PAGES``: page URL → when its product was last scraped (ISO 8601)."""
    if not path or not Path(path).is_file():
        return {}
    return {url: datetime.fromisoformat(at) for url, at in json.loads(Path(path).read_text()).items()}


NEXT_CLASS = re.compile(r"(?:^|[\s_-])next(?:$|[\s_-])")  # "pagination__next", not "IconExternalLink"


def _crawlable(url: str) -> bool:
    """http(s) only: ``javascript:``, ``mailto:``, ``tel:`` links are not pages."""
    return urlsplit(url).scheme in ("http", "https")


def product_links(response: TextResponse, pattern: re.Pattern) -> list[str]:
    """Links of a listing page whose path looks like a product page."""
    urls = (response.urljoin(href) for href in response.xpath("//a/@href").getall())
    return [url for url in urls if _crawlable(url) and pattern.search(urlsplit(url).path)]


def next_pages(response: TextResponse) -> list[str]:
    """Pagination links of a listing page: rel=next, "next" anchors, or ``?page=N+1``."""
    found = response.xpath('//link[@rel="next"]/@href | //a[contains(concat(" ", @rel, " "), " next ")]/@href').getall()
    current, path = _page_number(response.url), urlsplit(response.url).path
    for a in response.xpath("//a[@href]"):
        href = a.attrib["href"]
        label = " ".join(t.strip() for t in a.xpath(".//text()").getall()).strip()
        classes = (a.attrib.get("class", "") + " " + a.attrib.get("aria-label", "")).lower()
        url = response.urljoin(href)
        numbered = urlsplit(url).path == path and _page_number(url) == current + 1
        if NEXT_CLASS.search(classes) or NEXT_TEXT.search(label) or numbered:
            found.append(href)
    return [url for url in dict.fromkeys(response.urljoin(h) for h in found) if _crawlable(url)]


class JsonLdSpider(RetailerSpider):
    name = "jsonld"
    product_link: re.Pattern[str]
    max_sitemap_bytes: int
    max_sitemaps: int
    max_sitemap_depth: int
    known_pages: dict[str, datetime]
    max_page_age: timedelta
    unchanged: set[str]
    sitemaps_seen: set[str]
    sitemaps_pending: int

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        pattern = crawler.settings.get("VITRINE_PRODUCT_LINK_PATTERN") or DEFAULT_PRODUCT_LINK
        spider.product_link = re.compile(pattern)
        spider.max_sitemap_bytes = crawler.settings.getint("DOWNLOAD_MAXSIZE")
        spider.known_pages = load_known_pages(crawler.settings.get("VITRINE_KNOWN_PAGES"))
        # a page is revalidated anyway once our copy is this old, whatever its lastmod says
        spider.max_page_age = timedelta(days=crawler.settings.getfloat("VITRINE_MAX_PAGE_AGE_DAYS", 30))
        spider.unchanged, spider.sitemaps_seen, spider.sitemaps_pending = set(), set(), 0
        spider.max_sitemaps = crawler.settings.getint("VITRINE_MAX_SITEMAPS", 2000)
        spider.max_sitemap_depth = crawler.settings.getint("VITRINE_MAX_SITEMAP_DEPTH", 3)
        return spider

    async def start(self) -> AsyncIterator[Request]:
        for url in self.retailer.sitemap_urls:
            request = self.sitemap_request(url)
            if request:
                yield request
        if not self.sitemaps_pending:
            for request in self.listing_requests():
                yield request

    def sitemap_request(self, url: str, depth: int = 0) -> Request | None:
        """Each sitemap once; never dropped by the duplicate filter, so its callback or errback
        always runs and the listings start after the last one. Past ``VITRINE_MAX_SITEMAPS``
        sitemaps or ``VITRINE_MAX_SITEMAP_DEPTH`` nested indexes the crawl is incomplete."""
        if url in self.sitemaps_seen:
            return None
        if len(self.sitemaps_seen) >= self.max_sitemaps or depth > self.max_sitemap_depth:
            self.incomplete(f"sitemap cap ({self.max_sitemaps} sitemaps, depth {self.max_sitemap_depth})", url)
            return None
        self.sitemaps_seen.add(url)
        self.sitemaps_pending += 1
        return Request(
            url,
            callback=self.parse_sitemap,
            errback=self.sitemap_failed,
            dont_filter=True,
            meta={"sitemap_depth": depth},
        )

    def listing_requests(self) -> list[Request]:
        return [self.listing_request(url) for url in self.retailer.start_urls or [f"{self.base_url}/"]]

    def listing_request(self, url: str) -> Request:
        return Request(url, callback=self.parse_listing, errback=self.page_failed)

    def sitemap_done(self) -> Iterator[Request]:
        self.sitemaps_pending -= 1
        if not self.sitemaps_pending:
            yield from self.listing_requests()

    def sitemap_failed(self, failure: Any) -> Iterator[Request]:
        self.listing_failed(failure)
        yield from self.sitemap_done()

    def is_unchanged(self, url: str, lastmod: str | None) -> bool:
        """The sitemap says the page has not changed since we last scraped it."""
        scraped_at, bound = self.known_pages.get(url), lastmod_bound(lastmod)
        if scraped_at is None or bound is None:
            return False
        return bound <= scraped_at and datetime.now(UTC) - scraped_at < self.max_page_age

    def parse_sitemap(self, response: Response) -> Iterator[Request]:
        yield from self._sitemap_entries(response)
        yield from self.sitemap_done()

    def _sitemap_entries(self, response: Response) -> Iterator[Request]:
        body = response.body
        if body[:2] == b"\x1f\x8b":
            body = gunzip(body, max_size=self.max_sitemap_bytes)
        try:
            sitemap = Sitemap(body)
        except Exception as exc:  # not XML at all
            self.logger.warning("not a sitemap: %s (%s)", response.url, exc)
            self.crawler.stats.inc_value("vitrine/bad_sitemaps")
            return
        for entry in sitemap:
            loc = entry.get("loc")
            if not loc:
                continue
            url = response.urljoin(loc)
            if sitemap.type == "sitemapindex":
                request = self.sitemap_request(url, response.meta.get("sitemap_depth", 0) + 1)
                if request:
                    yield request
            elif sitemap.type == "urlset":
                if self.is_unchanged(url, entry.get("lastmod")):
                    self.unchanged.add(url)
                    self.crawler.stats.inc_value("vitrine/pages_unchanged")
                    continue
                yield Request(url, callback=self.parse_page, errback=self.page_failed)

    def closed(self, reason: str) -> None:
        out = self.crawler.settings.get("VITRINE_OUTPUT")
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            (Path(out) / layout.CRAWL_UNCHANGED).write_text(json.dumps(sorted(self.unchanged)))

    def parse_page(self, response: Response) -> Iterator[ProductItem | Request]:
        """A page expected to be a product page (see the module doc)."""
        if not isinstance(response, TextResponse):
            return
        found = extract_product(response.text, response.url)
        if found is not None:
            robots = (response.headers.get("X-Robots-Tag") or b"").decode("latin-1").lower()
            yield self.product(
                product_id=found["id"],
                **{k: found[k] for k in EXTRACTED},
                tags=[],
                image_urls=found["image_urls"],
                url=found["url"],
                noimageindex="noimageindex" in robots or "none" in robots.split(","),
            )
            return
        yield from self.parse_listing(response)

    def parse_listing(self, response: Response) -> Iterator[Request]:
        """A listing page: its product links and its next pages (see the module doc)."""
        if not isinstance(response, TextResponse):
            return
        for url in product_links(response, self.product_link):
            if url not in self.unchanged:
                yield Request(url, callback=self.parse_page, errback=self.page_failed)
        for url in next_pages(response):
            yield self.listing_request(url)

    def page_failed(self, failure: Any) -> None:
        """A page that is gone (404/410) is just gone; any other failure leaves the crawl incomplete."""
        response = getattr(failure.value, "response", None)
        if response is not None and response.status in (404, 410):
            self.crawler.stats.inc_value("vitrine/pages_gone")
            return
        self.listing_failed(failure)
