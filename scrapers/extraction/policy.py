"""The extraction policy: which schema.org node is the page's product, and which offer or
variant applies. Pure functions over JSON-LD-shaped nodes (:mod:`scrapers.extraction.markup`).

- **Main product.** Candidates are ``Product`` nodes and its subtypes (``ProductGroup``,
  ``Car``, ...) at the top level, in ``@graph``, or reached through ``mainEntity``,
  ``itemReviewed``, ``itemOffered`` or ``about``; never one inside a listing
  (``itemListElement``), a related-product card (``isRelatedTo``, ``isSimilarTo``, ...)
  or a review. A ``ProductGroup`` is the product (variants published beside it are its
  variants); else the one whose ``url``/``@id`` is the page wins, else the one with offers
  and no ``url`` among cards that link elsewhere, else the richest one with offers, else the
  first. Candidates sharing a name or ``inProductGroupWithID`` are variants
  of one product. An item with nothing but its type (an empty ``itemscope``) is no candidate.
  Several different products with offers (or, when none has offers, several without) and no
  clear main one make a listing page: no product.
- **Variants** (``hasVariant`` or same-named nodes): the one whose ``url`` is the page URL
  (``?variant=`` included), or whose ``sku``/``@id`` is the ``?variant=`` value, gives
  price, availability and identity. Without a match the offers of all variants are combined
  and identity comes from the product, else its first variant.
- **Offers.** The page's currency is that of its first priced offer; the current price is
  the lowest in-stock offer in that currency (the lowest of all when none is in stock);
  availability is in stock when any offer is. A ``priceSpecification`` with
  ``priceType`` ``ListPrice``/``StrikethroughPrice`` is the list price beside it.
  A price of 0, an empty object or an unparseable value is no price (the product stays).
  A microdata ``Offer`` without properties is priced by its element's short text. Without
  ``priceCurrency``, the currency is the one the price text names (``"19.99 USD"``, ``"27,63£"``).
  A product without offers takes those published outside any product: an ``Offer`` whose
  ``itemOffered`` it is, or microdata ``Offer`` items left outside a ``Product`` item that
  closes too early.
- **Disqualified:** no name, in the markup or on the page (the item is produced, and
  validation quarantines it as "missing title"); a product on a page whose own subject is an
  article, recipe or other creative work, unless the product is the page itself; an offer-less,
  price-less, identifier-less OpenGraph-only page (see :mod:`scrapers.extraction`).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from scrapers.items import (
    InvalidProduct,
    bare_id,
    clean_text,
    price_currency,
    to_availability,
    to_currency,
    to_gtin,
    to_price,
)

PRODUCT_TYPES = frozenset(
    {
        "product",
        "productgroup",
        "productmodel",
        "individualproduct",
        "someproducts",
        "vehicle",
        "car",
        "motorcycle",
        "busorcoach",
        "motorizedbicycle",
        "dietarysupplement",
        "drug",
    }
)
# a page about one of these is not a product page, whatever product cards it carries
CONTENT_TYPES = frozenset(
    {
        "recipe",
        "article",
        "newsarticle",
        "blogposting",
        "howto",
        "techarticle",
        "report",
        "course",
    }
)
NESTED_SUBJECT = ("mainEntity", "itemReviewed", "itemOffered", "about")
OFFER_TYPES = frozenset({"offer", "aggregateoffer"})
LIST_PRICE_TYPES = ("listprice", "strikethroughprice", "msrp", "srp")
IN_STOCK = frozenset({"in_stock", "limited", "preorder", "backorder"})
BARE_KEYS = frozenset({"@type", "@id", "@value"})  # an item that says nothing else (an empty ``itemscope``)
OFFER_TEXT = 40  # the longest text of a property-less microdata Offer read as its price ("$41.30")
LISTING_MARGIN = 2  # the page's own product says at least this many things more than a card
GTIN_KEYS = ("gtin", "gtin14", "gtin13", "gtin12", "gtin8", "isbn")


def types(node: dict) -> set[str]:
    raw = node.get("@type") or node.get("type") or []
    raw = raw if isinstance(raw, list) else [raw]
    return {str(t).rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower() for t in raw}


def is_product(node: Any) -> bool:
    return isinstance(node, dict) and bool(types(node) & PRODUCT_TYPES)


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else ([] if value is None else [value])


def text(value: Any) -> str | None:
    """A clean string from a value, a list (first) or an object (its ``name``/``@value``)."""
    for item in as_list(value):
        if isinstance(item, dict):
            item = item.get("name") or item.get("@value")
        if isinstance(item, (str, int, float)) and not isinstance(item, bool):
            cleaned = clean_text(item)
            if cleaned:
                return cleaned
    return None


def _brand(value: Any) -> str | None:
    """A brand's or manufacturer's name; not a URL (microdata reads ``<a itemprop="brand">`` as its link)."""
    name = text(value)
    return None if name is None or re.match(r"(?:https?:)?//", name) else name


def url_of(value: Any) -> str | None:
    for item in as_list(value):
        if isinstance(item, dict):
            item = item.get("url") or item.get("contentUrl") or item.get("@id")
            item = item[0] if isinstance(item, list) and item else item
        if isinstance(item, str) and item.strip():
            return item.strip()
    return None


def images(value: Any) -> list[str]:
    """``image`` as string, list, ``ImageObject`` (url/contentUrl) or a list of those."""
    return [u for u in (url_of(v) for v in as_list(value)) if u]


# -- finding the product ----------------------------------------------------------------------------
def _flatten(nodes: list[Any]) -> list[dict]:
    """Top-level nodes with ``@graph`` members lifted up, in document order."""
    out: list[dict] = []
    for node in nodes:
        if isinstance(node, list):
            out.extend(_flatten(node))
        elif isinstance(node, dict):
            out.append(node)
            if "@graph" in node:
                out.extend(_flatten(as_list(node["@graph"])))
    return out


def _subjects(nodes: list[Any]) -> list[dict]:
    """The page's nodes at the top level (``@graph`` lifted) and those they are about
    (``mainEntity``...), in document order; never an item of a listing or a product's offers."""
    found: list[dict] = []
    stack = list(reversed(_flatten(nodes)))
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        found.append(node)
        for key in NESTED_SUBJECT:
            stack.extend(v for v in reversed(as_list(node.get(key))) if isinstance(v, dict))
    return found


def candidates(nodes: list[Any]) -> list[dict]:
    """Product nodes of the page: top level, or its subject (``mainEntity``...), not in listings."""
    return [n for n in _subjects(nodes) if is_product(n) and set(n) - BARE_KEYS]


def loose_offers(nodes: list[Any]) -> list[dict]:
    """Offers published outside any product: an ``Offer`` whose ``itemOffered`` is the product,
    or microdata whose ``Product`` item closes before its ``itemprop="offers"`` items."""
    return [n for n in _subjects(nodes) if types(n) & OFFER_TYPES]


def content_subject(nodes: list[Any]) -> bool:
    """The page is about a creative work (article, recipe, ...) rather than a product."""
    return any(types(n) & CONTENT_TYPES and not is_product(n) for n in _flatten(nodes))


def _same_page(url: Any, page_url: str, *, with_query: bool = False) -> bool:
    if not isinstance(url, str) or not url.strip():
        return False
    a, b = urlsplit(url.strip()), urlsplit(page_url)
    if a.netloc and a.netloc.lower().removeprefix("www.") != b.netloc.lower().removeprefix("www."):
        return False
    if not a.path and not a.netloc:
        return False  # "#product" style ids say nothing about the page
    same = a.path.rstrip("/") == b.path.rstrip("/")
    return same and (not with_query or a.query == b.query)


def _richness(node: dict) -> int:
    return len([k for k, v in node.items() if v not in (None, "", [], {})])


def main_product(nodes: list[Any], page_url: str, *, about_content: bool = False) -> tuple[dict, list[dict]] | None:
    """(the page's product, its variants) from one source's nodes, or None (see module doc).
    ``about_content``: the page says (in any markup) that it is an article, recipe, ..."""
    found = candidates(nodes)
    if not found:
        return None
    matched = [c for c in found if _same_page(c.get("url"), page_url) or _same_page(c.get("@id"), page_url)]
    if about_content and not matched:
        return None  # an article or recipe with a product card
    groups = [c for c in found if "productgroup" in types(c)]
    if groups:  # a ProductGroup is the product, whatever variants are also published beside it
        group = next((g for g in groups if any(g is m for m in matched)), groups[0])
        beside = [c for c in found if c is not group and (c.get("isVariantOf") or c.get("inProductGroupWithID"))]
        variants = _variants(group)
        return group, variants + [c for c in beside if not any(c is v for v in variants)]
    names = {text(c.get("name")) for c in found}
    group_ids = {text(c.get("inProductGroupWithID")) for c in found}
    if len(found) > 1 and (len(names) == 1 or (len(group_ids) == 1 and None not in group_ids)):
        # one product published once per size/colour
        main = matched[0] if matched else found[0]
        return main, [c for c in found if c is not main] + _variants(main)
    if matched:
        return matched[0], _variants(matched[0])
    offered = sorted((c for c in found if c.get("offers")), key=_richness, reverse=True)
    here = [c for c in offered if not url_of(c.get("url"))]  # cards link elsewhere; the page's product need not
    if len(here) == 1:
        return here[0], _variants(here[0])
    alike = offered or sorted(found, key=_richness, reverse=True)
    if len(alike) >= 3 and _richness(alike[0]) < _richness(alike[1]) + LISTING_MARGIN:
        return None  # a listing: several products alike, none of them the page
    main = offered[0] if offered else found[0]
    return main, _variants(main)


def _variants(product: dict) -> list[dict]:
    return [v for v in as_list(product.get("hasVariant")) if isinstance(v, dict)]


def chosen_variant(variants: list[dict], page_url: str) -> dict | None:
    """The variant the page URL selects (its own URL, or ``?variant=`` = its sku/id)."""
    for variant in variants:
        if _same_page(variant.get("url"), page_url, with_query=True) and urlsplit(page_url).query:
            return variant
    wanted = next(iter(parse_qs(urlsplit(page_url).query).get("variant") or []), None)
    if wanted:
        for variant in variants:
            ids = [variant.get("sku"), variant.get("productID"), variant.get("@id"), variant.get("url")]
            if any(isinstance(i, (str, int)) and str(i).rstrip("/").endswith(str(wanted)) for i in ids):
                return variant
    return None


# -- offers -------------------------------------------------------------------------------------------
def _price(value: Any) -> Decimal | None:
    """A usable price, or None (0, ``{}``, text that is not a price)."""
    value = value[0] if isinstance(value, list) and value else value
    if isinstance(value, dict) or value is None:
        return None
    try:
        price = to_price(value)
    except InvalidProduct:
        return None
    return price if price else None


def _offer_text(offer: dict) -> str | None:
    """A property-less microdata Offer's text, where short enough to be its price
    (``<span itemprop="offers" itemscope ...>$41.30</span>``); a sentence says neither price nor currency."""
    value = offer.get("@value")
    return value if isinstance(value, str) and len(value.strip()) <= OFFER_TEXT else None


def offers(value: Any) -> list[dict[str, Any]]:
    """Flat offers: Offer, list, AggregateOffer (``lowPrice`` and its own ``offers``)."""
    out: list[dict[str, Any]] = []
    for offer in as_list(value):
        if not isinstance(offer, dict):
            continue
        nested = offers(offer.get("offers")) if offer.get("offers") else []
        own_text = _offer_text(offer)
        price, list_price = _price(offer.get("price")), None
        currency = to_currency(text(offer.get("priceCurrency"))) or price_currency(offer.get("price") or own_text)
        if price is None and offer.get("lowPrice") is not None:
            price = _price(offer.get("lowPrice"))
        if price is None and own_text:
            price = _price(own_text)
        for spec in as_list(offer.get("priceSpecification")):
            if not isinstance(spec, dict):
                continue
            kind = (text(spec.get("priceType")) or "").rsplit("/", 1)[-1].lower()
            amount = _price(spec.get("price"))
            if kind in LIST_PRICE_TYPES:
                list_price = list_price or amount
            elif price is None:
                price = amount
            currency = currency or to_currency(text(spec.get("priceCurrency")))
        availability = to_availability(text(offer.get("availability")) or url_of(offer.get("availability")))
        if price is None and availability == "unknown" and nested:
            out.extend(nested)
            continue
        if price is not None and availability == "out_of_stock" and price == 0:
            price = None
        out.append(
            {
                "price": price,
                "list_price": list_price,
                "currency": currency,
                "availability": availability,
                "price_valid_until": text(offer.get("priceValidUntil")),
                "sku": text(offer.get("sku")),
                "gtin": _gtin(offer),
                "mpn": text(offer.get("mpn")),
            }
        )
        out.extend(o for o in nested if o["price"] is not None)
    return out


def combine(all_offers: list[dict[str, Any]]) -> dict[str, Any]:
    """Price, list price, currency, availability and validity of a product's offers."""
    if not all_offers:
        return {}
    priced = [o for o in all_offers if o["price"] is not None]
    currency = next((o["currency"] for o in priced if o["currency"]), None) or next(
        (o["currency"] for o in all_offers if o["currency"]), None
    )
    same = [o for o in priced if o["currency"] in (currency, None)]
    available = [o for o in same if o["availability"] in IN_STOCK or o["availability"] == "unknown"]
    best = min(available or same, key=lambda o: o["price"]) if same else None
    states = [o["availability"] for o in all_offers]
    availability = next((s for s in states if s in IN_STOCK), None) or next(
        (s for s in states if s != "unknown"), "unknown"
    )
    if any(s == "in_stock" for s in states):
        availability = "in_stock"
    return {
        "price": best["price"] if best else None,
        "list_price": best["list_price"] if best else None,
        "currency": currency,
        "availability": availability,
        "price_valid_until": best["price_valid_until"] if best else None,
    }


def _gtin(node: dict) -> str | None:
    for key in GTIN_KEYS:
        for value in as_list(node.get(key)):
            gtin = to_gtin(value)
            if gtin:
                return gtin
    return None


def _sku(node: dict) -> str | None:
    value = text(node.get("sku")) or text(node.get("productID"))
    return bare_id(value) if value else None


# -- the product -------------------------------------------------------------------------------------
def product_fields(
    product: dict, variants: list[dict], page_url: str, loose: list[dict] | None = None
) -> dict[str, Any]:
    """The fields of the chosen product (see module doc); ``price`` etc. already parsed.
    ``loose``: the page's :func:`loose_offers`, the offers of a product that has none."""
    variant = chosen_variant(variants, page_url)
    own = offers(product.get("offers"))
    if not own and not any(v.get("offers") for v in variants):
        own = offers(loose)
    if variant is not None:
        deal = combine(offers(variant.get("offers"))) or combine(own)
    else:
        deal = combine(own + [o for v in variants for o in offers(v.get("offers"))])
    ident = variant or product
    first = variants[0] if variants and variant is None else None
    offer_ids = next((o for o in own if o["sku"] or o["gtin"] or o["mpn"]), {})

    def identity(name: str, read: Any) -> Any:
        return (
            read(ident)
            or offer_ids.get(name)
            or (read(product) if variant else None)
            or (read(first) if first else None)
        )

    group_id = text(product.get("productGroupID"))
    return {
        "title": text(product.get("name")) or (text(variant.get("name")) if variant else None),
        "brand": _brand(product.get("brand")) or _brand(ident.get("brand")) or _brand(product.get("manufacturer")),
        **deal,
        "sku": identity("sku", _sku),
        "gtin": identity("gtin", _gtin),
        "mpn": identity("mpn", lambda n: text(n.get("mpn"))),
        "group_id": group_id,
        "color": text(ident.get("color")) or text(product.get("color")),
        "pattern": text(product.get("pattern")),
        "material": text(product.get("material")),
        "description": text(product.get("description")),
        "image_urls": images(ident.get("image"))
        or images(product.get("image"))
        or [u for v in variants for u in images(v.get("image"))],
        "category": product.get("category"),
        "url": url_of(product.get("url")),
    }


def breadcrumbs(nodes: list[Any]) -> list[str]:
    """The page's BreadcrumbList as names, home/start dropped."""
    crumbs = next((n for n in _flatten(nodes) if "breadcrumblist" in types(n)), None)
    if crumbs is None:
        return []
    items = [i for i in as_list(crumbs.get("itemListElement")) if isinstance(i, dict)]
    items.sort(key=lambda i: int(i.get("position") or 0) if str(i.get("position") or 0).isdigit() else 0)
    names = [text(i.get("name")) or text(i.get("item")) for i in items]
    return [n for n in names if n and n.lower() not in ("home", "start")]


def category_path(value: Any) -> list[str]:
    if isinstance(value, list):
        return [t for t in (text(v) for v in value) if t]
    value = text(value)
    return [p.strip() for p in re.split(r"\s*(?:>|/|›|»)\s*", value) if p.strip()] if value else []
