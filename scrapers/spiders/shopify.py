"""Shopify storefronts: ``/products.json?page=N&limit=250`` until a page comes back empty."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any, Self

from scrapy import Request
from scrapy.http import Response, TextResponse
from w3lib.html import remove_tags

from scrapers.items import InvalidProduct, ProductItem, clean_image_urls, to_price
from scrapers.spiders.base import RetailerSpider

PAGE_LIMIT = 250  # Shopify's maximum; SHOPIFY_PAGE_LIMIT lowers it for shops that cap lower


def _tags(value: Any) -> list[str]:
    """``tags`` is a list in ``products.json`` and a comma-separated string in ``<handle>.json``."""
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    return [str(t).strip() for t in value or [] if str(t).strip()]


def option_values(product: dict, *names: str) -> list[str]:
    """Distinct values of the option called one of ``names`` (e.g. Color/Colour), in variant order."""
    options = product.get("options") or []
    for index, option in enumerate(options):
        if isinstance(option, dict) and str(option.get("name", "")).strip().lower() in names:
            key = f"option{option.get('position') or index + 1}"
            values = [v.get(key) for v in product.get("variants") or [] if v.get(key)]
            values = values or list(option.get("values") or [])
            return list(dict.fromkeys(str(v).strip() for v in values if str(v).strip()))
    return []


def tagged(tags: list[str], name: str) -> str | None:
    """A ``name:value`` / ``name_value`` tag, e.g. ``pattern:striped`` → ``striped``."""
    pattern = _tag_pattern(name)
    for tag in tags:
        match = pattern.fullmatch(tag)
        if match:
            return match.group(1).strip()
    return None


@functools.lru_cache(maxsize=16)
def _tag_pattern(name: str) -> re.Pattern:
    return re.compile(rf"{name}\s*[:_=-]\s*(.+)", flags=re.I)


def chosen_variant(variants: list[dict]) -> dict | None:
    """The variant whose price is the product's: the cheapest available one, else the cheapest.
    A variant with an unparseable price is chosen, so validation rejects the product for it."""
    priced: list[tuple[Any, ...]] = []
    for variant in variants:
        try:
            value = to_price(variant.get("price"))
        except InvalidProduct:
            return variant
        if value is not None:
            priced.append((not variant.get("available", True), value, len(priced), variant))
    return min(priced, key=lambda t: t[:3])[3] if priced else None


def _money(value: Any) -> Any:
    """A parsed price; an unparseable one is passed on for validation to reject."""
    try:
        return to_price(value)
    except InvalidProduct:
        return value


def parse_product(product: dict, base_url: str, currency: str | None) -> dict[str, Any]:
    """Map one Shopify product (real field names) onto the product schema."""
    tags = _tags(product.get("tags"))
    variants = product.get("variants") or []
    available = [v.get("available") for v in variants if "available" in v]
    variant = chosen_variant(variants) or {}
    colors = option_values(product, "color", "colour")
    patterns = option_values(product, "pattern", "print")
    materials = option_values(product, "material", "fabric")
    images = sorted(product.get("images") or [], key=lambda i: i.get("position") or 0)
    product_type = (product.get("product_type") or "").strip()
    return {
        "product_id": str(product.get("id") or ""),
        "title": product.get("title"),
        "brand": product.get("vendor"),
        "price": _money(variant.get("price")),
        "list_price": _money(variant.get("compare_at_price")),
        "sku": (variant.get("sku") or "").strip() or None,
        "gtin": variant.get("barcode"),
        "currency": currency,
        "availability": ("in_stock" if any(available) else "out_of_stock") if available else "unknown",
        "category_path": [product_type] if product_type else [],
        "product_type": product_type or None,
        "tags": tags,
        "color": "/".join(colors) if colors else tagged(tags, "colou?r"),
        "pattern": "/".join(patterns) if patterns else tagged(tags, "pattern"),
        "material": "/".join(materials) if materials else tagged(tags, "material"),
        "description": html.unescape(remove_tags(product.get("body_html") or "")),
        "image_urls": clean_image_urls([i.get("src") or "" for i in images], base_url),
        "url": f"{base_url}/products/{product.get('handle')}",
    }


def _json(response: Response) -> Any:
    """The JSON body of a response (Scrapy makes one a TextResponse when it says it is JSON)."""
    assert isinstance(response, TextResponse), f"{response.url} is not a text response"
    return response.json()


class ShopifySpider(RetailerSpider):
    """Pages through ``/products.json`` with ``SHOPIFY_PAGES_IN_FLIGHT`` pages requested ahead
    (pages are independent); the first page with nothing new ends the paging."""

    name = "shopify"
    page_limit: int
    in_flight: int
    currency: str | None
    seen: set[str]
    requested: int
    exhausted: bool
    first_empty: int | None
    last_full: int

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.page_limit = min(PAGE_LIMIT, max(1, crawler.settings.getint("SHOPIFY_PAGE_LIMIT", PAGE_LIMIT)))
        spider.in_flight = max(1, crawler.settings.getint("SHOPIFY_PAGES_IN_FLIGHT", 4))
        spider.currency, spider.seen, spider.requested, spider.exhausted = None, set(), 0, False
        spider.first_empty, spider.last_full = None, 0  # page numbers, to spot a gap in the listing
        return spider

    async def start(self) -> AsyncIterator[Request]:
        # /meta.json carries the shop currency (products.json has prices, not currencies)
        yield Request(
            f"{self.base_url}/meta.json",
            callback=self.parse_meta,
            errback=self.meta_failed,
            meta={"handle_httpstatus_list": [403, 404]},
        )

    def next_page(self) -> Request:
        self.requested += 1
        return Request(
            f"{self.base_url}/products.json?page={self.requested}&limit={self.page_limit}",
            callback=self.parse_page,
            errback=self.listing_failed,
            meta={"page": self.requested},
        )

    def parse_meta(self, response: Response) -> Iterator[Request]:
        self.currency = _json(response).get("currency") if response.status == 200 else None
        yield from (self.next_page() for _ in range(self.in_flight))

    def meta_failed(self, failure: Any) -> Iterator[Request]:
        self.logger.warning("no /meta.json (%s); prices will have no currency", failure.value)
        yield from (self.next_page() for _ in range(self.in_flight))

    def parse_page(self, response: Response) -> Iterator[ProductItem | Request]:
        products = _json(response).get("products") or []
        self.check_gap(response.meta.get("page", 0), bool(products), response.url)
        new = [p for p in products if str(p.get("id")) not in self.seen]
        self.seen.update(str(p.get("id")) for p in products)
        for product in new:
            yield self.product(**parse_product(product, self.base_url, self.currency))
        if not new:  # the end, also on shops that ignore ?page= and repeat page 1
            self.exhausted = True
        elif not self.exhausted:
            yield self.next_page()

    def check_gap(self, page: int, has_products: bool, url: str) -> None:
        """An empty page before a page with products: the listing is not to be trusted."""
        before = self.first_empty is not None and self.first_empty < self.last_full
        if has_products:
            self.last_full = max(self.last_full, page)
        elif self.first_empty is None or page < self.first_empty:
            self.first_empty = page
        if not before and self.first_empty is not None and self.first_empty < self.last_full:
            self.incomplete(f"page {self.first_empty} is empty but page {self.last_full} is not", url)
