"""The one product schema both spiders produce, with its normalizers and its validation."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import scrapy
from price_parser import Price
from price_parser._currencies import CURRENCIES  # the pinned library's table of codes and signs
from w3lib.html import replace_entities

from pipeline.schemas import MONEY
from scrapers.images import UNSUPPORTED_SCHEME

PRODUCT_FIELDS = (
    "product_id",
    "retailer",
    "title",
    "brand",
    "price",
    "list_price",
    "currency",
    "availability",
    "price_valid_until",
    "sku",
    "gtin",
    "mpn",
    "category_path",
    "product_type",
    "tags",
    "color",
    "pattern",
    "material",
    "description",
    "image_urls",
    "url",
    "scraped_at",
)
AVAILABILITY = ("in_stock", "out_of_stock", "preorder", "backorder", "discontinued", "limited", "unknown")
# CDN query parameters that select a rendition of the same image, not a different image
RENDITION_PARAMS = frozenset({"v", "width", "height", "w", "h", "crop", "quality"})
CURRENCY_CODE = re.compile(r"[A-Z]{3}")
CURRENCY_SIGNS = {  # signs only one currency uses (None: several do), read before price-parser's table
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "₩": "KRW",
    "₽": "RUB",
    "zł": "PLN",
    "kr": None,
    "US$": "USD",
    "C$": "CAD",
    "CA$": "CAD",
    "A$": "AUD",
    "AU$": "AUD",
    "R$": "BRL",
    "Kč": "CZK",
    "Ft": "HUF",
    "lei": "RON",
    "kn": "HRK",
    "грн": "UAH",
    "₴": "UAH",
    "руб": "RUB",
    "руб.": "RUB",
    "р.": "RUB",
    "лв": "BGN",
    "лв.": "BGN",
    "₺": "TRY",
    "TL": "TRY",
    "₪": "ILS",
    "฿": "THB",
    "₱": "PHP",
    "₫": "VND",
    "Rs": None,  # rupees of India, Pakistan, Sri Lanka, Nepal
    "RMB": "CNY",
    "NTD": "TWD",
    "Euro": "EUR",
    "EURO": "EUR",
    "euro": "EUR",
    "元": "CNY",
    "円": "JPY",
    "원": "KRW",
    "NT$": "TWD",
    "₸": "KZT",
    "тг": "KZT",
    "тг.": "KZT",
}


def _table_signs() -> dict[str, str]:
    """price-parser's currency table as sign (folded: trimmed, case-folded, without trailing
    dots or direction marks) → ISO code, for the signs of two characters or more that name one
    currency there."""
    codes: dict[str, set[str]] = {}
    for code, info in CURRENCIES.items():
        for sign in (info.get("s"), info.get("sn"), *(info.get("sn2") or [])):
            if sign:
                codes.setdefault(_fold(sign), set()).add(code)
    return {sign: found.pop() for sign, found in codes.items() if len(found) == 1 and len(sign) > 1}


def _fold(sign: str) -> str:
    return sign.strip().strip(".\u200e\u200f ").casefold()


ISO_CODES = frozenset(code for code in CURRENCIES if CURRENCY_CODE.fullmatch(code))
TABLE_SIGNS = _table_signs()
MAX_PRICE = Decimal("1e12")  # above this a "price" is a misread (an id, a phone number, 1e308)
PRICE_PLACES = Decimal(1).scaleb(-MONEY.scale)  # what the lake's money columns keep
PLAIN_NUMBER = re.compile(r"\d+(?:\.\d+)?")  # schema.org's form: "." is always the decimal point
EXPONENT = re.compile(r"\d\s*[eE]\s*[+-]?\d")
GTIN_LENGTHS = (8, 12, 13, 14)
MAX_TEXT = 1_000  # titles, brands, ... (a megabyte "title" is not one)
MAX_DESCRIPTION = 20_000
MAX_URL = 2_048
MAX_TAGS = 100
MAX_TAG = 100
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")


class ProductItem(scrapy.Item):
    """A product as scraped; ``images`` is filled by the image pipeline (one dict per URL)."""

    product_id = scrapy.Field()
    retailer = scrapy.Field()
    title = scrapy.Field()
    brand = scrapy.Field()
    price = scrapy.Field()
    list_price = scrapy.Field()  # the regular price beside a sale ``price`` (compare-at, ListPrice)
    currency = scrapy.Field()
    availability = scrapy.Field()
    price_valid_until = scrapy.Field()
    sku = scrapy.Field()
    gtin = scrapy.Field()
    mpn = scrapy.Field()
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


def clean_text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """HTML entities decoded (``&amp;``, ``&iacute;``), control characters dropped, whitespace
    (CR/LF too) collapsed, at most ``limit`` characters; empty → None."""
    if value is None:
        return None
    text = str(value)
    if len(text) > 4 * limit:  # do not walk megabytes that are cut anyway
        text = text[: 4 * limit]
    if "&" in text:
        text = replace_entities(text)
    if not text.isprintable():
        text = CONTROL.sub(" ", text)
    text = " ".join(text.split())  # the same as re.sub(r"\s+", " ", ...).strip(), faster
    return text[:limit].rstrip() or None


def to_price(value: Any) -> Decimal | None:
    """A price as :class:`~decimal.Decimal`: ``29.9``, ``"29.90"``, ``"€ 1.299,00"``, ``"1,299.00 EUR"``.

    A plain ``"34.000"`` is read the schema.org way (34). Text with several amounts
    (``"71,91 € 79,90 €"``) gives the first one, never the digits of both glued together.
    ``None``/``""`` → None. Raises :class:`InvalidProduct` for what is not a price: no amount,
    an exponent (``"1e308"``), negative, not finite or absurdly large.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidProduct(f"bad price {value!r}")
    if isinstance(value, (int, float, Decimal)):
        number = Decimal(str(value))
    elif isinstance(value, str):
        text = value.strip()
        if PLAIN_NUMBER.fullmatch(text):
            number = Decimal(text)
        elif EXPONENT.search(text):
            raise InvalidProduct(f"bad price {value!r}")
        else:
            amount = Price.fromstring(text).amount
            if amount is None:
                raise InvalidProduct(f"bad price {value!r}")
            number = amount
    else:
        raise InvalidProduct(f"bad price {value!r}")
    if not number.is_finite() or number < 0 or number >= MAX_PRICE:
        raise InvalidProduct(f"bad price {value!r}")
    return number.quantize(PRICE_PLACES) if number.as_tuple().exponent < -MONEY.scale else number


def to_currency(sign: str | None) -> str | None:
    """ISO 4217 code of a currency code or sign as written (``eur``, ``€``, ``Kč``, ``lei``,
    ``KD``): :data:`CURRENCY_SIGNS`, then a known code, then price-parser's table; None when
    absent, unknown or ambiguous (``$``, ``kr``, ``Rs``)."""
    if not sign:
        return None
    sign = sign.strip()
    if sign in CURRENCY_SIGNS:
        return CURRENCY_SIGNS[sign]
    if sign.upper() in ISO_CODES:
        return sign.upper()
    return TABLE_SIGNS.get(_fold(sign))


def price_currency(value: Any) -> str | None:
    """The currency a price text names (``"19.99 USD"``, ``"27,63£"``), else None."""
    return to_currency(Price.fromstring(value).currency) if isinstance(value, str) else None


ID_SCHEME = re.compile(r"^(sku|id|isbn|ean|upc|gtin\d*|mpn|asin)\s*:\s*", re.I)


def bare_id(value: str) -> str:
    """A product identifier without its scheme prefix: ``sku:856802`` → ``856802``."""
    return ID_SCHEME.sub("", value)


def to_gtin(value: Any) -> str | None:
    """A GTIN-8/12/13/14 whose check digit is right (spaces and dashes dropped), else None."""
    if value is None or isinstance(value, bool):
        return None
    digits = re.sub(r"[\s-]", "", str(value))
    if not digits.isdigit() or len(digits) not in GTIN_LENGTHS or not digits.strip("0"):
        return None
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return digits if (10 - total % 10) % 10 == check else None


def to_date(value: Any) -> date | None:
    """``2026-12-31`` or an ISO timestamp → date; anything else → None."""
    if isinstance(value, date):
        return value
    match = re.match(r"\s*(\d{4}-\d{2}-\d{2})", str(value or ""))
    if not match:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


def to_availability(value: Any) -> str:
    """schema.org URLs or words (``https://schema.org/InStock``, ``in stock``) → ``in_stock``…"""
    if value is None or value == "":
        return "unknown"
    if isinstance(value, bool):
        return "in_stock" if value else "out_of_stock"
    word = re.sub(r"[^a-z]", "", str(value).rsplit("/", 1)[-1].lower())
    mapping = {
        "instock": "in_stock",
        "available": "in_stock",
        "onlineonly": "in_stock",
        "instoreonly": "in_stock",
        "outofstock": "out_of_stock",
        "soldout": "out_of_stock",
        "unavailable": "out_of_stock",
        "preorder": "preorder",
        "presale": "preorder",
        "backorder": "backorder",
        "discontinued": "discontinued",
        "limitedavailability": "limited",
    }
    return mapping.get(word, "unknown")


def normalize_image_url(url: str, base_url: str) -> str | None:
    """Absolute http(s) URL of an image; rendition parameters (``?v=``, ``&width=``) removed.

    A URL of another scheme (``file:``, ``gopher:``) is kept as written, so that it is recorded
    as a rejected image (:func:`unsupported_reason`) and never requested; ``data:`` URIs and
    URLs without a host → None."""
    url = (url or "").strip()
    if "&" in url:
        url = replace_entities(url)  # "&amp;" as written in JSON-LD or a double-escaped attribute
    if not url or url.startswith("data:"):
        return None
    scheme = _scheme(base_url)
    # protocol-relative (Shopify's CDN form): what urljoin does for it, without its general path
    absolute = f"{scheme}:{url}" if url.startswith("//") and scheme else urljoin(base_url, url)
    parts = urlsplit(absolute)
    if parts.scheme and parts.scheme not in ("http", "https"):
        return absolute
    if not parts.hostname:
        return None
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path, _strip_renditions(parts.query), ""))


@functools.lru_cache(maxsize=64)
def _scheme(base_url: str) -> str:
    return urlsplit(base_url).scheme


def _strip_renditions(query: str) -> str:
    """The query without ``key=value`` rendition parameters (``v=3&width=800`` → ``""``); every
    other part is kept byte for byte, so signed CDN queries and ``?$Main768$`` survive."""
    if not query:
        return ""
    kept = [
        part
        for part in query.split("&")
        if part and not ("=" in part and part.partition("=")[0].lower() in RENDITION_PARAMS)
    ]
    return "&".join(kept)


def unsupported_reason(url: str) -> str | None:
    """Why an image URL must not be requested (``"unsupported scheme: file"``), None for http(s)."""
    scheme = urlsplit(url).scheme.lower()
    return None if scheme in ("http", "https") else f"{UNSUPPORTED_SCHEME}: {scheme or 'none'}"


def clean_image_urls(urls: list[str], base_url: str) -> list[str]:
    """Normalized, de-duplicated image URLs in their original order (other schemes included:
    :func:`unsupported_reason`)."""
    seen: list[str] = []
    for url in urls:
        normal = normalize_image_url(url, base_url)
        if normal and normal not in seen:
            seen.append(normal)
    return seen


def validate(item: Mapping[str, Any]) -> dict[str, Any]:
    """Check and normalize one product; raises :class:`InvalidProduct` with the reason."""
    out = {name: item.get(name) for name in PRODUCT_FIELDS}
    for name in ("title", "brand", "currency", "product_type", "color", "pattern", "material"):
        out[name] = clean_text(out[name])
    out["description"] = clean_text(out["description"], MAX_DESCRIPTION)
    if not out["product_id"] or not str(out["product_id"]).split(":", 1)[-1]:
        raise InvalidProduct("missing product id")
    if not out["title"]:
        raise InvalidProduct("missing title")
    url = str(out["url"] or "")
    if not url.startswith(("http://", "https://")) and urlsplit(url).scheme not in ("http", "https"):
        raise InvalidProduct(f"bad url {url[:200]!r}")
    if len(url) > MAX_URL or not url.isprintable() or " " in url:
        raise InvalidProduct(f"bad url: {len(url)} characters, control characters or spaces")
    out["image_urls"] = [u for u in out["image_urls"] or [] if len(u) <= MAX_URL and u.isprintable() and " " not in u]
    if not out["image_urls"]:
        raise InvalidProduct("no images")
    if all(unsupported_reason(u) for u in out["image_urls"]):
        schemes = sorted({urlsplit(u).scheme.lower() for u in out["image_urls"]})
        raise InvalidProduct(f"no images: {UNSUPPORTED_SCHEME} {', '.join(schemes)}")
    out["price"] = to_price(out["price"])
    out["list_price"] = to_price(out["list_price"])
    if out["list_price"] is not None and (out["price"] is None or out["list_price"] <= out["price"]):
        out["list_price"] = None  # a "regular price" is only worth keeping above the price paid
    out["price_valid_until"] = to_date(out["price_valid_until"])
    out["gtin"] = to_gtin(out["gtin"])
    for name in ("sku", "mpn"):
        out[name] = clean_text(out[name])
    if out["currency"] is not None:
        out["currency"] = out["currency"].upper()
        if not CURRENCY_CODE.fullmatch(out["currency"]):
            raise InvalidProduct(f"bad currency {item.get('currency')!r}")
    if out["availability"] not in AVAILABILITY:
        out["availability"] = to_availability(out["availability"])
    out["category_path"] = [c for c in (clean_text(v) for v in out["category_path"] or []) if c]
    out["tags"] = [t for t in (clean_text(v, MAX_TAG) for v in (out["tags"] or [])[:MAX_TAGS]) if t]
    return out
