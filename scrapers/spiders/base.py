"""What every platform spider shares: the retailer from the registry, its settings, the
per-retailer HTTP cache, the item feed, and the ``max_products`` cap."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import scrapy
from scrapy.exceptions import CloseSpider, IgnoreRequest
from scrapy.settings import SETTINGS_PRIORITIES

from pipeline import layout
from pipeline.retailers import Retailer
from scrapers.items import ProductItem


def retailer_from_settings(settings: Any) -> Retailer:
    """The retailer to crawl: ``VITRINE_RETAILER_FILE`` (a JSON file, so that its settings and
    headers stay out of ``ps``) or ``VITRINE_RETAILER`` (the JSON itself)."""
    path = settings.get("VITRINE_RETAILER_FILE")
    raw = Path(path).read_text() if path else settings.get("VITRINE_RETAILER")
    if not raw:
        raise ValueError("VITRINE_RETAILER_FILE or VITRINE_RETAILER (the registry entry as JSON) is required")
    return Retailer.from_json(raw)


class RetailerSpider(scrapy.Spider):
    """Base spider: ``-s VITRINE_RETAILER_FILE=<path>`` selects the retailer to crawl."""

    retailer: Retailer
    allowed_domains: list[str]
    base_url: str
    n_products: int

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        retailer = retailer_from_settings(settings)
        settings.setdict(retailer.settings, priority="spider")
        # the HTTP cache (ETag/Last-Modified revalidation) lives per retailer under VITRINE_HTTPCACHE_DIR,
        # passed by pipeline.scrape (a retailer's own HTTPCACHE_DIR wins)
        cache_root = settings.get("VITRINE_HTTPCACHE_DIR")
        if cache_root and settings.getpriority("HTTPCACHE_DIR") <= SETTINGS_PRIORITIES["project"]:
            settings.set("HTTPCACHE_DIR", str(Path(cache_root) / retailer.name), priority="spider")
        out = settings.get("VITRINE_OUTPUT")
        if out:
            feed = {"format": "jsonlines", "encoding": "utf-8", "overwrite": True}
            settings.set("FEEDS", {str(Path(out) / layout.CRAWL_ITEMS): feed}, priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.retailer = retailer_from_settings(crawler.settings)
        spider.allowed_domains = spider.retailer.domains
        spider.base_url = spider.retailer.base_url.rstrip("/")
        spider.n_products = 0
        return spider

    def listing_failed(self, failure: Any) -> None:
        """A page that lists products failed for good: the crawl did not see the whole catalog,
        so products missing from it must not be marked unavailable."""
        if isinstance(failure.value, IgnoreRequest) and "robots.txt" in str(failure.value):
            return  # the site asks us not to: not a failure
        response = getattr(failure.value, "response", None)
        reason = (
            f"http {response.status}" if response is not None else f"{type(failure.value).__name__}: {failure.value}"
        )
        self.incomplete(f"listing page failed: {reason}", failure.request.url)

    def incomplete(self, reason: str, url: str) -> None:
        """The crawl cannot have seen the whole catalog (products it missed stay as they were)."""
        self.logger.warning("crawl incomplete (%s): %s", reason, url)
        self.crawler.stats.inc_value("vitrine/incomplete_listings")

    def product(self, **fields: Any) -> ProductItem:
        """A product item for this retailer; closes the crawl after ``max_products``."""
        if self.n_products >= self.retailer.max_products:
            raise CloseSpider("max_products")
        self.n_products += 1
        fields["product_id"] = f"{self.retailer.name}:{fields['product_id']}" if fields.get("product_id") else None
        return ProductItem(retailer=self.retailer.name, scraped_at=datetime.now(UTC).isoformat(), **fields)
