"""Product data from a product page's HTML, built on ``extruct`` (markup), ``price-parser``
(money) and ``w3lib`` (entities, URLs); Vitrine's own code is the policy of
:mod:`scrapers.extraction.policy` and the DOM fallback of :mod:`scrapers.extraction.dom`
(with :mod:`scrapers.extraction.layout` and :mod:`scrapers.extraction.prices`).

Sources, best first: JSON-LD, microdata, OpenGraph, then the DOM. The product comes from
the first source that has one; later sources only fill fields it left empty (the DOM is read
when the markup gives no price or no name; a product without an identifier takes the one the
page prints ("SKU: …", orphan ``itemprop="sku"``), else the one its URL shares with the page,
else the product id its cart forms post;
one silent on availability what the page says: a cart button is in stock, a "sold out"
availability block out of stock). A page whose only product evidence is OpenGraph needs a
price or an identifier besides ``og:type`` (a site-wide ``og:type=product`` is not a
product). A page is read as text or as the bytes it was saved as, at the URL it was fetched
from, or (a saved page read on its own) at the address it gives itself; a web archive's
replay URL stands for the URL it archived. Pure: tested on strings.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin

from scrapers.extraction import markup, policy
from scrapers.extraction.dom import from_dom, page_availability
from scrapers.extraction.identity import cart_sku, dom_brand, dom_sku, url_sku
from scrapers.extraction.layout import cart_controls
from scrapers.extraction.prices import markup_currency
from scrapers.items import PRODUCT_FIELDS, InvalidProduct, clean_image_urls, to_availability, to_currency, to_price

# What a page yields: every product field except those the spider knows itself (id, shop, page URL,
# crawl time) and those only platform feeds carry.
FIELDS = tuple(
    f for f in PRODUCT_FIELDS if f not in {"product_id", "retailer", "product_type", "tags", "url", "scraped_at"}
)


def _structured(nodes: list[dict], page_url: str, about_content: bool) -> dict[str, Any] | None:
    chosen = policy.main_product(nodes, page_url, about_content=about_content)
    if chosen is None:
        return None
    fields = policy.product_fields(*chosen, page_url, policy.loose_offers(nodes))
    fields["category_path"] = policy.breadcrumbs(nodes) or policy.category_path(fields.pop("category"))
    return fields


def _og_price(value: str | None) -> Any:
    try:
        return to_price(value) or None
    except InvalidProduct:
        return None


def from_opengraph(og: dict[str, list[str]]) -> dict[str, Any] | None:
    def first(*names: str) -> str | None:
        return next((og[n][0] for n in names if og.get(n)), None)

    if not (first("og:type") or "").lower().startswith("product") and not first("product:price:amount"):
        return None
    fields = {
        "title": first("og:title"),
        "brand": first("product:brand", "og:brand"),
        "price": _og_price(first("product:price:amount", "og:price:amount")),
        "list_price": _og_price(first("product:original_price:amount")),
        "currency": to_currency(first("product:price:currency", "og:price:currency")),
        "availability": to_availability(first("product:availability", "og:availability")),
        "sku": first("product:retailer_item_id", "product:sku", "og:sku"),
        "gtin": first("product:gtin", "product:ean", "product:upc"),
        "mpn": first("product:mfr_part_no"),
        "color": first("product:color"),
        "description": first("og:description"),
        "image_urls": og.get("og:image", []) + og.get("og:image:url", []) + og.get("og:image:secure_url", []),
        "url": first("og:url"),
    }
    return fields


def _merge(into: dict[str, Any], source: dict[str, Any] | None) -> None:
    for key, value in (source or {}).items():
        if into.get(key) in (None, "", [], "unknown") and value not in (None, "", [], "unknown"):
            into[key] = value


# a web archive's replay URL (Wayback Machine, pywb): …/<14-digit timestamp>[modifier_]/<the original URL>
REPLAY = re.compile(r"^(?:https?://[^/]+)?/(?:[^/?#]+/)*?\d{14}(?:[a-z]{2}_)?/+(https?:/+.+)$", re.I)


def archived(url: str) -> str:
    """The original URL of a web archive's replay URL (or of its path, as the archive rewrites
    a page's own links), else ``url`` itself."""
    match = REPLAY.match(url.strip())
    return re.sub(r"^(https?:)/+", r"\1//", match.group(1), flags=re.I) if match else url


def own_address(tree: Any, og: dict[str, list[str]]) -> str:
    """The address a page gives itself: its canonical link, else ``og:url`` (absolute only)."""
    named = [archived(u.strip()) for u in tree.xpath('//link[@rel="canonical"]/@href') + og.get("og:url", [])]
    return next((u for u in named if u.lower().startswith(("http://", "https://"))), "")


def extract_product(html: str | bytes, page_url: str) -> dict[str, Any] | None:
    """The product on a page (None if the page is not a product page), merged over sources.
    ``html``: text, or bytes as saved (decoded by their charset). ``page_url``: where the page
    was fetched; empty for a saved page read on its own, which then goes by the address it
    gives itself (:func:`own_address`); a web archive's replay URL stands for the URL it
    archived (:func:`archived`)."""
    tree = markup.parse(html)
    og = markup.opengraph(tree)
    page_url = archived(page_url or own_address(tree, og))
    jsonld, microdata = markup.jsonld(tree), markup.microdata(tree, page_url)
    about_content = policy.content_subject(jsonld + microdata) or any(
        t.lower().startswith("article") for t in og.get("og:type", [])
    )
    product = _structured(jsonld, page_url, about_content) or _structured(microdata, page_url, about_content)
    og_fields = from_opengraph(og)
    if product is None and og_fields is not None:
        if not og_fields["title"] or not (og_fields["price"] or og_fields["sku"] or og_fields["gtin"]):
            og_fields = None  # og:type=product alone, site-wide: not a product
    dom = None  # the DOM fallback's reading, made at most once (it scans the whole page)
    if product is None and og_fields is None:
        dom = None if about_content else from_dom(tree, page_url)
        if dom is None:
            return None
        product = dom
    merged: dict[str, Any] = dict(product or {})
    _merge(merged, og_fields)
    if (merged.get("price") is None or not merged.get("title")) and dom is None:
        dom = from_dom(tree, page_url)
        _merge(merged, dom)
    if dom is None:  # the fallback did not read the page; it takes these two from it when it does
        if not merged.get("sku"):  # markup without an identifier: the one the page prints or its URL shares
            merged["sku"] = dom_sku(tree) or url_sku(tree, page_url) or cart_sku(cart_controls(tree))
        if merged.get("availability") in (None, "unknown"):  # markup silent on it: what the page says
            merged["availability"] = page_availability(tree)
    if not merged.get("brand"):
        merged["brand"] = dom_brand(tree)
    if merged.get("price") is not None and not merged.get("currency"):
        merged["currency"] = markup_currency(tree)
    canonical = next(iter(tree.xpath('//link[@rel="canonical"]/@href')), None)
    url = archived(urljoin(page_url, canonical or merged.get("url") or page_url))
    merged["url"] = url
    merged["id"] = merged.get("group_id") or merged.get("sku") or merged.get("mpn") or merged.get("gtin") or url
    merged["image_urls"] = clean_image_urls(merged.get("image_urls") or [], page_url)
    merged.setdefault("category_path", [])
    merged["product_type"] = merged["category_path"][-1] if merged["category_path"] else None
    merged.setdefault("availability", "unknown")
    return {k: merged.get(k) for k in ("id", "url", "product_type", *FIELDS)}
