"""Storefronts with schema.org product data: product pages found from sitemaps (indexes and
gzip too) and by following listing pages and their pagination."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from scrapy import Request
from scrapy.http import Response, TextResponse
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap

from scrapers.extract import extract_product
from scrapers.items import ProductItem
from scrapers.spiders.base import RetailerSpider

DEFAULT_PRODUCT_LINK = r"/products?/|/p/|/dp/|/item/|-p-\d+"
NEXT_TEXT = re.compile(r"^(next|weiter|suivant|siguiente|volgende|›|»|→|>)\b|^(›|»|→)$", re.I)


def _page_number(url: str) -> int:
    values = parse_qs(urlsplit(url).query).get("page") or ["1"]
    return int(values[0]) if values[0].isdigit() else 1


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
        if "next" in classes or NEXT_TEXT.search(label) or numbered:
            found.append(href)
    return list(dict.fromkeys(response.urljoin(h) for h in found))


class JsonLdSpider(RetailerSpider):
    name = "jsonld"

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> "JsonLdSpider":
        spider = super().from_crawler(crawler, *args, **kwargs)
        pattern = crawler.settings.get("VITRINE_PRODUCT_LINK_PATTERN") or DEFAULT_PRODUCT_LINK
        spider.product_link = re.compile(pattern)
        spider.max_sitemap_bytes = crawler.settings.getint("DOWNLOAD_MAXSIZE")
        return spider

    async def start(self) -> AsyncIterator[Request]:
        for url in self.retailer.sitemap_urls:
            yield Request(url, callback=self.parse_sitemap, errback=self.listing_failed)
        for url in self.retailer.start_urls or [f"{self.base_url}/"]:
            yield Request(url, callback=self.parse_page, errback=self.page_failed)

    def parse_sitemap(self, response: Response) -> Iterator[Request]:
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
            if sitemap.type == "sitemapindex":
                yield Request(response.urljoin(loc), callback=self.parse_sitemap, errback=self.listing_failed)
            elif sitemap.type == "urlset":
                yield Request(response.urljoin(loc), callback=self.parse_page, errback=self.page_failed)

    def parse_page(self, response: Response) -> Iterator[ProductItem | Request]:
        if not isinstance(response, TextResponse):
            return
        found = extract_product(response.text, response.url)
        if found is not None:
            robots = (response.headers.get("X-Robots-Tag") or b"").decode("latin-1").lower()
            yield self.product(
                product_id=found["id"], title=found.get("title"), brand=found.get("brand"),
                price=found.get("price"), currency=found.get("currency"), availability=found.get("availability"),
                category_path=found.get("category_path") or [], product_type=found.get("product_type"), tags=[],
                color=found.get("color"), pattern=found.get("pattern"), material=found.get("material"),
                description=found.get("description"), image_urls=found["image_urls"], url=found["url"],
                noimageindex="noimageindex" in robots or "none" in robots.split(","),
            )
            return
        for href in response.xpath("//a/@href").getall():
            url = response.urljoin(href)
            if self.product_link.search(urlsplit(url).path):
                yield Request(url, callback=self.parse_page, errback=self.page_failed)
        for url in next_pages(response):
            yield Request(url, callback=self.parse_page, errback=self.page_failed)

    def page_failed(self, failure: Any) -> None:
        """A page that is gone (404/410) is just gone; any other failure leaves the crawl incomplete."""
        response = getattr(failure.value, "response", None)
        if response is not None and response.status in (404, 410):
            self.crawler.stats.inc_value("vitrine/pages_gone")
            return
        self.listing_failed(failure)
