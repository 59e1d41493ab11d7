"""Product data from HTML: schema.org JSON-LD first, then microdata, then OpenGraph.

Pure functions over a parsel ``Selector`` and the page URL, so they are tested on strings.
Each source yields a partial product dict; earlier sources win field by field.
"""
from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urljoin

from parsel import Selector

from scrapers.items import clean_image_urls

PRODUCT_TYPES = {"product", "productgroup", "productmodel", "individualproduct", "vehicle"}


def _types(node: dict) -> set[str]:
    raw = node.get("@type") or []
    raw = raw if isinstance(raw, list) else [raw]
    return {str(t).rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower() for t in raw}


def _walk(value: Any) -> list[dict]:
    """Every dict in a JSON-LD document, flattening ``@graph`` and lists (top level first)."""
    out: list[dict] = []
    stack = [value]
    while stack:
        node = stack.pop(0)
        if isinstance(node, list):
            stack[:0] = node
        elif isinstance(node, dict):
            out.append(node)
            if "@graph" in node:
                stack.extend(node["@graph"] if isinstance(node["@graph"], list) else [node["@graph"]])
    return out


def jsonld_nodes(sel: Selector) -> list[dict]:
    """All JSON-LD nodes of a page; unparseable blocks are skipped (counted by the caller)."""
    nodes: list[dict] = []
    for text in sel.css('script[type="application/ld+json"]::text').getall():
        text = re.sub(r"^\s*<!--|-->\s*$", "", text.strip())
        try:
            data = json.loads(text, strict=False)
        except ValueError:
            continue
        nodes.extend(_walk(data))
    return nodes


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else (None if isinstance(value, list) else value)


def _name(value: Any) -> str | None:
    """A string, or the ``name`` of an object (brand as string or ``Brand``)."""
    value = _first(value)
    if isinstance(value, dict):
        value = value.get("name")
    return str(value) if value not in (None, "") else None


def _images(value: Any) -> list[str]:
    """``image`` as string, list, ``ImageObject`` (url/contentUrl) or a list of those."""
    items = value if isinstance(value, list) else [value]
    urls = []
    for item in items:
        if isinstance(item, str):
            urls.append(item)
        elif isinstance(item, dict):
            url = item.get("url") or item.get("contentUrl") or item.get("@id")
            if isinstance(url, str):
                urls.append(url)
    return urls


def _offer(value: Any) -> dict[str, Any]:
    """Price, currency and availability from ``offers``: Offer, list, AggregateOffer."""
    offers = [o for o in (value if isinstance(value, list) else [value]) if isinstance(o, dict)]
    for offer in offers:
        if "offers" in offer and not any(k in offer for k in ("price", "lowPrice")):
            offer = {**offer, **_offer(offer["offers"])}
        spec = _first(offer.get("priceSpecification")) or {}
        price = offer.get("price", offer.get("lowPrice", spec.get("price") if isinstance(spec, dict) else None))
        if price is None and not offer.get("availability"):
            continue
        currency = offer.get("priceCurrency") or (spec.get("priceCurrency") if isinstance(spec, dict) else None)
        return {"price": price, "currency": currency, "availability": offer.get("availability")}
    return {}


def _category(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(_name(v)) for v in value if _name(v)]
    if isinstance(value, dict):
        value = _name(value)
    return [p.strip() for p in re.split(r"\s*(?:>|/|›|»)\s*", str(value)) if p.strip()] if value else []


def from_jsonld(nodes: list[dict]) -> dict[str, Any] | None:
    product = next((n for n in nodes if _types(n) & PRODUCT_TYPES), None)
    if product is None:
        return None
    variants = [v for v in product.get("hasVariant") or [] if isinstance(v, dict)]
    offer = _offer(product.get("offers")) or next((o for o in (_offer(v.get("offers")) for v in variants) if o), {})
    images = _images(product.get("image")) or [u for v in variants for u in _images(v.get("image"))]
    crumbs = next((n for n in nodes if "breadcrumblist" in _types(n)), None)
    path = _breadcrumbs(crumbs) if crumbs else _category(product.get("category"))
    ident = product.get("productGroupID") or product.get("sku") or product.get("productID") or product.get("mpn")
    return {
        "id": str(ident) if ident else None, "title": _name(product.get("name")),
        "brand": _name(product.get("brand")), **offer, "category_path": path,
        "product_type": path[-1] if path else None, "color": _name(product.get("color")),
        "pattern": _name(product.get("pattern")), "material": _name(product.get("material")),
        "description": _name(product.get("description")), "image_urls": images,
        "url": product.get("url") if isinstance(product.get("url"), str) else None,
    }


def _breadcrumbs(node: dict) -> list[str]:
    items = [i for i in node.get("itemListElement") or [] if isinstance(i, dict)]
    items.sort(key=lambda i: int(i.get("position") or 0))
    names = [_name(i.get("name") or i.get("item")) for i in items]
    return [n for n in names if n and n.lower() not in ("home", "start")]


def _lazy_src(img: Selector) -> str | None:
    """The real image of an ``<img>``: data-src / data-srcset / srcset (largest) / src."""
    for attr in ("data-src", "data-original", "data-lazy-src", "data-zoom-image"):
        if img.attrib.get(attr):
            return img.attrib[attr]
    for attr in ("data-srcset", "srcset"):
        if img.attrib.get(attr):
            return _largest(img.attrib[attr])
    src = img.attrib.get("src") or img.attrib.get("content") or img.attrib.get("href")
    return None if not src or src.startswith("data:") else src


def _largest(srcset: str) -> str | None:
    best, best_size = None, -1.0
    for part in srcset.split(","):
        bits = part.strip().split()
        if not bits:
            continue
        size = float(re.sub(r"[^\d.]", "", bits[1]) or 0) if len(bits) > 1 else 1.0
        if size > best_size:
            best, best_size = bits[0], size
    return best


def from_microdata(sel: Selector) -> dict[str, Any] | None:
    scope = sel.xpath('//*[@itemscope][contains(@itemtype, "schema.org/Product")]')
    if not scope:
        return None
    scope = scope[0]

    def prop(name: str) -> str | None:
        for node in scope.xpath(f'.//*[@itemprop="{name}"]'):
            value = node.attrib.get("content") or node.attrib.get("href")
            value = value or " ".join(" ".join(node.xpath(".//text()").getall()).split())
            if value:
                return value
        return None

    images = [src for src in (_lazy_src(img) for img in scope.xpath('.//*[@itemprop="image"]')) if src]
    ident = prop("productID") or prop("sku") or prop("mpn")
    return {
        "id": ident, "title": prop("name"), "brand": prop("brand"), "price": prop("price") or prop("lowPrice"),
        "currency": prop("priceCurrency"), "availability": prop("availability"), "color": prop("color"),
        "pattern": prop("pattern"), "material": prop("material"), "description": prop("description"),
        "category_path": _category(prop("category")), "image_urls": images,
    }


def from_opengraph(sel: Selector) -> dict[str, Any] | None:
    def meta(name: str) -> str | None:
        return sel.xpath(f'//meta[@property="{name}" or @name="{name}"]/@content').get()

    is_product = (meta("og:type") or "").lower().startswith("product") or meta("product:price:amount")
    if not is_product:
        return None
    return {
        "id": meta("product:retailer_item_id"), "title": meta("og:title"), "brand": meta("product:brand"),
        "price": meta("product:price:amount") or meta("og:price:amount"),
        "currency": meta("product:price:currency") or meta("og:price:currency"),
        "availability": meta("product:availability") or meta("og:availability"),
        "color": meta("product:color"), "description": meta("og:description"),
        "image_urls": sel.xpath('//meta[@property="og:image" or @property="og:image:url"]/@content').getall(),
        "url": meta("og:url"),
    }


def extract_product(html: str, page_url: str) -> dict[str, Any] | None:
    """The product on a page (None if the page is not a product page), merged over sources."""
    sel = Selector(text=html)
    sources = [s for s in (from_jsonld(jsonld_nodes(sel)), from_microdata(sel), from_opengraph(sel)) if s]
    if not sources:
        return None
    merged: dict[str, Any] = {}
    for source in sources:
        for key, value in source.items():
            if merged.get(key) in (None, "", []) and value not in (None, "", []):
                merged[key] = value
    canonical = sel.xpath('//link[@rel="canonical"]/@href').get()
    url = urljoin(page_url, canonical or merged.get("url") or page_url)
    merged["url"] = url
    merged["id"] = merged.get("id") or url
    merged["image_urls"] = clean_image_urls(merged.get("image_urls") or [], page_url)
    merged.setdefault("category_path", [])
    return merged
