"""The one product schema both spiders produce, with its normalisers and its validation."""
from __future__ import annotations

import functools
import math
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import scrapy

PRODUCT_FIELDS = (
    "product_id", "retailer", "title", "brand", "price", "currency", "availability", "category_path",
    "product_type", "tags", "color", "pattern", "material", "description", "image_urls", "url", "scraped_at",
)
AVAILABILITY = ("in_stock", "out_of_stock", "preorder", "backorder", "discontinued", "limited", "unknown")
# CDN query parameters that select a rendition of the same image, not a different image
RENDITION_PARAMS = frozenset({"v", "width", "height", "w", "h", "crop", "quality"})
CURRENCY_CODE = re.compile(r"[A-Z]{3}")


class ProductItem(scrapy.Item):
    """A product as scraped; ``images`` is filled by the image pipeline (one dict per URL)."""

    product_id = scrapy.Field()
    retailer = scrapy.Field()
    title = scrapy.Field()
    brand = scrapy.Field()
    price = scrapy.Field()
    currency = scrapy.Field()
    availability = scrapy.Field()
    category_path = scrapy.Field()
    product_type = scrapy.Field()
    tags = scrapy.Field()
    color = scrapy.Field()
    pattern = scrapy.Field()
    material = scrapy.Field()
    description = scrapy.Field()
    image_urls = scrapy.Field()
    url = scrapy.Field()
    scraped_at = scrapy.Field()
    images = scrapy.Field()
    noimageindex = scrapy.Field()  # the product page said X-Robots-Tag: noimageindex


class InvalidProduct(ValueError):
    """The item breaks the product schema; the message is the reason recorded for it."""


def clean_text(value: Any) -> str | None:
    """Collapse whitespace; empty → None."""
    if value is None:
        return None
    text = " ".join(str(value).split())  # the same as re.sub(r"\s+", " ", ...).strip(), faster
    return text or None


def to_price(value: Any) -> float | None:
    """``29.9``, ``"29.90"``, ``"€ 1.299,00"``, ``"1,299.00 EUR"`` → float; ``None``/``""`` → None.

    Raises :class:`InvalidProduct` for text that is not a price.
    """
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and value.isascii() and value.replace(".", "", 1).isdigit():
        number = float(value)  # "29.90", the usual form: what the general path below gives
    else:
        text = re.sub(r"[^\d.,\-]", "", str(value))
        if not re.search(r"\d", text):
            raise InvalidProduct(f"bad price {value!r}")
        if "," in text and "." in text:  # the later separator is the decimal one
            comma_decimal = text.rfind(",") > text.rfind(".")
            text = text.replace(".", "").replace(",", ".") if comma_decimal else text.replace(",", "")
        elif "," in text:
            head, _, tail = text.rpartition(",")
            text = f"{head.replace(',', '')}.{tail}" if len(tail) != 3 else text.replace(",", "")
        try:
            number = float(text)
        except ValueError as exc:
            raise InvalidProduct(f"bad price {value!r}") from exc
    if not math.isfinite(number) or number < 0:
        raise InvalidProduct(f"bad price {value!r}")
    return number


def to_availability(value: Any) -> str:
    """schema.org URLs or words (``https://schema.org/InStock``, ``in stock``) → ``in_stock``…"""
    if value is None or value == "":
        return "unknown"
    if isinstance(value, bool):
        return "in_stock" if value else "out_of_stock"
    word = re.sub(r"[^a-z]", "", str(value).rsplit("/", 1)[-1].lower())
    mapping = {
        "instock": "in_stock", "available": "in_stock", "onlineonly": "in_stock", "instoreonly": "in_stock",
        "outofstock": "out_of_stock", "soldout": "out_of_stock", "unavailable": "out_of_stock",
        "preorder": "preorder", "presale": "preorder", "backorder": "backorder",
        "discontinued": "discontinued", "limitedavailability": "limited",
    }
    return mapping.get(word, "unknown")


def normalize_image_url(url: str, base_url: str) -> str | None:
    """Absolute http(s) URL of an image; rendition parameters (``?v=``, ``&width=``) removed."""
    url = (url or "").strip()
    if not url or url.startswith("data:"):
        return None
    scheme = _scheme(base_url)
    # protocol-relative (Shopify's CDN form): what urljoin does for it, without its general path
    absolute = f"{scheme}:{url}" if url.startswith("//") and scheme else urljoin(base_url, url)
    parts = urlsplit(absolute)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path, _strip_renditions(parts.query), ""))


@functools.lru_cache(maxsize=64)
def _scheme(base_url: str) -> str:
    return urlsplit(base_url).scheme


def _strip_renditions(query: str) -> str:
    """The query without rendition parameters (``v=3&width=800`` → ``""``)."""
    if not query:
        return ""
    if not any(c in query for c in "%+;") and all(
            part.partition("=")[0].lower() in RENDITION_PARAMS for part in query.split("&") if part):
        return ""  # only renditions, nothing encoded: what the general path gives, without it
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() not in RENDITION_PARAMS]
    return urlencode(kept)


def clean_image_urls(urls: list[str], base_url: str) -> list[str]:
    """Normalised, de-duplicated image URLs in their original order."""
    seen: list[str] = []
    for url in urls:
        normal = normalize_image_url(url, base_url)
        if normal and normal not in seen:
            seen.append(normal)
    return seen


def validate(item: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise one product; raises :class:`InvalidProduct` with the reason."""
    out = {name: item.get(name) for name in PRODUCT_FIELDS}
    for name in ("title", "brand", "currency", "product_type", "color", "pattern", "material", "description"):
        out[name] = clean_text(out[name])
    if not out["product_id"] or not str(out["product_id"]).split(":", 1)[-1]:
        raise InvalidProduct("missing product id")
    if not out["title"]:
        raise InvalidProduct("missing title")
    url = str(out["url"] or "")
    if not url.startswith(("http://", "https://")) and urlsplit(url).scheme not in ("http", "https"):
        raise InvalidProduct(f"bad url {url!r}")
    if not out["image_urls"]:
        raise InvalidProduct("no images")
    out["price"] = to_price(out["price"])
    if out["currency"] is not None:
        out["currency"] = out["currency"].upper()
        if not CURRENCY_CODE.fullmatch(out["currency"]):
            raise InvalidProduct(f"bad currency {item.get('currency')!r}")
    if out["availability"] not in AVAILABILITY:
        out["availability"] = to_availability(out["availability"])
    out["category_path"] = [c for c in (clean_text(v) for v in out["category_path"] or []) if c]
    out["tags"] = [t for t in (clean_text(v) for v in out["tags"] or []) if t]
    return out
