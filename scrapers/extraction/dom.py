"""The product of a page that carries no structured product data, read from its HTML.

Only used where JSON-LD and microdata found no product, and only to fill fields the markup
left empty; it never overrides structured data, and never runs on a page about an article.
A page counts as a product page when it has a title (``<h1>``, else ``og:title`` /
``twitter:title``), a price, and at most three add-to-cart controls (a listing has one per
product), OpenGraph product meta or a Twitter card that labels a price.

The price comes from, in order: ``product:price:amount`` / ``og:price:amount``, microdata
``itemprop="price"`` outside any item, a ``twitter:data`` labelled as a price, then the first
element named like a price (class/id words) after the ``<h1>`` and before the next heading
that is not struck through or named or worded as a former/list price and shows one amount.
Availability comes from OpenGraph or an availability/stock block; the SKU from
``itemprop="sku"``, ``data-sku``, a value printed next to an "SKU:"-style label, or an
identifier that the URL path and a hidden form value share.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from price_parser import Price

from scrapers.items import clean_text, to_availability

CART = re.compile(
    r"add[\s_-]*to[\s_-]*(cart|bag|basket|trolley)|buy[\s_-]*now|in\s+den\s+(warenkorb|einkaufswagen)"
    r"|ajouter\s+au\s+panier|a[ñn]adir\s+al\s+carrito|aggiungi\s+al\s+carrello|in\s+winkelwagen",
    re.I,
)
PRICE_NAME = re.compile(r"price|preis|prix|precio|prezzo|prijs|amount", re.I)
NOT_CURRENT = frozenset(
    {  # words of a class/id naming a price that is not the one to pay now
        "old",
        "was",
        "before",
        "list",
        "regular",
        "strike",
        "strikethrough",
        "crossed",
        "compare",
        "original",
        "rrp",
        "msrp",
        "uvp",
        "saving",
        "savings",
        "save",
        "discount",
        "per",
        "unit",
        "range",
        "label",
        "title",
        "filter",
        "slider",
        "shipping",
        "tax",
        "install",
        "installment",
        "monthly",
        "rating",
        "review",
        "reviews",
        "count",
        "min",
        "max",
    }
)
OUT_OF_STOCK = re.compile(
    r"\b(out\s+of\s+stock|sold\s+out|currently\s+unavailable|not\s+available|no\s+longer\s+available|ausverkauft"
    r"|nicht\s+verf[üu]gbar|[ée]puis[ée]|agotado|esaurito|uitverkocht)\b",
    re.I,
)
IN_STOCK = re.compile(
    r"\b(in\s+stock|available|auf\s+lager|lieferbar|en\s+stock|disponible|disponibile|op\s+voorraad)\b", re.I
)
SKU_LABEL = re.compile(
    r"^\s*(?:sku|item\s*(?:#|no\.?|number|code)|article\s*(?:no\.?|number)|art(?:ikel)?\.?\s*-?\s*nr\.?"
    r"|product\s*(?:code|no\.?|number|id)|style\s*(?:#|no\.?|number)|réf(?:érence)?\.?|ref\.?)"
    r"\s*[:#]?\s*([A-Za-z0-9][A-Za-z0-9._/-]{2,39})?\s*$",
    re.I,
)
MARKS = re.compile("[\u200e\u200f\u200b\u00a0]")  # direction marks, zero-width and hard spaces
SKU_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{2,39}")
CURRENCY_SIGNS = {
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
}
AMOUNTS = re.compile(r"\d+(?:[.,\s]\d+)*")
WAS_TEXT = re.compile(
    r"\s*(?:(?:was|before|statt|avant|antes|prima|rrp|msrp|uvp|list\s*price|regular|orig(?:inal)?"
    r"|compare\s*at)\b|reg\.)",
    re.I,
)
MAX_CARTS = 3  # add to cart, buy now, a sticky copy; a listing has one per product
URL_TOKEN = re.compile(r"[A-Za-z0-9]{5,40}")
STRUCK = "ancestor-or-self::*[self::del or self::s or self::strike]"


def _meta(tree: Any, *names: str) -> str | None:
    for name in names:
        for value in tree.xpath(f'//meta[@property="{name}" or @name="{name}" or @itemprop="{name}"]/@content'):
            if value.strip():
                return value.strip()
    return None


def _text(el: Any) -> str:
    return " ".join(" ".join(el.xpath(".//text()[not(ancestor::script) and not(ancestor::style)]")).split())


def _amount(text: str) -> tuple[Decimal | None, str | None]:
    """The one amount in a short price text and its currency sign as written (``$``, ``EUR``);
    none for a text that says it is a former or list price ("Was $20", "RRP 20 €")."""
    if not text or len(text) > 40 or len(AMOUNTS.findall(text)) != 1 or WAS_TEXT.match(text):
        return None, None
    parsed = Price.fromstring(text)
    if parsed.amount is None or parsed.amount <= 0:
        return None, None
    return parsed.amount, (parsed.currency or "").strip() or None


def currency_code(sign: str | None) -> str | None:
    """ISO 4217 code of a currency sign; None when absent or ambiguous (``$``, ``kr``)."""
    if not sign:
        return None
    return sign.upper() if re.fullmatch(r"[A-Za-z]{3}", sign) else CURRENCY_SIGNS.get(sign)


def cart_controls(tree: Any) -> int:
    """How many add-to-cart controls the page has (by text, value, name, id or class); a cart
    form counts once, with or without its buttons."""
    counted: list[Any] = []
    for el in tree.xpath(
        "//form | //button | //input[@type='submit' or @type='button' or @type='image'] | //a[@role='button']"
    ):
        words = " ".join(
            [
                _text(el) if el.tag != "form" else "",
                *(el.get(a) or "" for a in ("value", "name", "id", "class", "aria-label", "action", "data-action")),
            ]
        )
        if CART.search(words) and not any(el in c.iterdescendants() for c in counted if c.tag == "form"):
            counted.append(el)
    return len(counted)


def _words(names: str) -> set[str]:
    """The words of class/id names: ``price--old oldPrice was_price`` → {price, old, was}."""
    return {w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+", names)}


def _not_current(el: Any) -> bool:
    """Struck through, or named as a was/list/unit/... price."""
    return el.tag in ("del", "s", "strike") or bool(
        _words(" ".join(el.get(a) or "" for a in ("class", "id"))) & NOT_CURRENT or el.xpath(STRUCK)
    )


def _shown_price(el: Any) -> tuple[Decimal | None, str | None]:
    """The amount an element shows: its ``content``, its text, else (a container holding the
    amount twice, or split into whole/fraction parts) its first descendant showing one amount
    with a currency that is not struck through or named as a "was" price."""
    content = el.get("content")
    amount, sign = _amount(content or _text(el))
    if amount is not None and (sign or content):
        return amount, currency_code(sign)
    for child in el.iterdescendants():
        if not isinstance(child.tag, str) or child.tag in ("script", "style") or _not_current(child):
            continue
        if any(_not_current(d) for d in child.iterdescendants() if isinstance(d.tag, str)):
            continue  # a cell holding the struck-through "was" price
        amount, sign = _amount(_text(child))
        if amount is not None and sign:
            return amount, currency_code(sign)
    return None, None


def dom_price(tree: Any) -> tuple[Decimal | None, str | None]:
    """(price, currency) shown near the product title (see module doc)."""
    value = _meta(tree, "product:price:amount", "og:price:amount")
    amount = _amount(value)[0] if value else None
    if amount is not None:
        return amount, _meta(tree, "product:price:currency", "og:price:currency")
    for el in tree.xpath('//*[@itemprop="price"]'):  # microdata outside any Product item
        if not el.xpath(STRUCK):
            amount, currency = _shown_price(el)
            if amount is not None:
                return amount, currency or _meta(tree, "priceCurrency")
    for n in ("1", "2"):
        label = (_meta(tree, f"twitter:label{n}") or "").lower()
        if "price" in label or "preis" in label or "prix" in label:
            amount, sign = _amount(_meta(tree, f"twitter:data{n}") or "")
            if amount is not None:
                return amount, currency_code(sign)
    h1 = tree.xpath("(//h1)[1]")
    after = "following::*" if h1 else "//body//*"
    scope = h1[0] if h1 else tree
    for el in scope.xpath(after)[:3000]:
        if el.tag in ("h1", "h2", "h3"):
            break  # past the title's own block: a listing's cards each have their heading
        if el.tag in ("script", "style", "option", "select", "input") or not isinstance(el.tag, str):
            continue
        names = " ".join(el.get(a) or "" for a in ("class", "id", "data-testid", "data-test"))
        if not PRICE_NAME.search(names) or _words(names) & NOT_CURRENT or el.xpath(STRUCK):
            continue
        amount, currency = _shown_price(el)
        if amount is not None:
            return amount, currency
    return None, None


def dom_sku(tree: Any) -> str | None:
    """An identifier from orphan ``itemprop="sku"`` markup, ``data-sku``, or printed next to a
    label such as "SKU:" or "Item #"."""
    for el in tree.xpath('//*[@itemprop="sku" or @itemprop="productID"]'):
        value = (el.get("content") or _text(el)).strip()
        if SKU_VALUE.fullmatch(value):
            return value
    for el in tree.xpath("//*[@data-sku or @data-product-sku]"):
        value = (el.get("data-sku") or el.get("data-product-sku") or "").strip()
        if SKU_VALUE.fullmatch(value):
            return value
    for node in tree.xpath("//body//text()[not(ancestor::script) and not(ancestor::style)]")[:20000]:
        match = SKU_LABEL.match(MARKS.sub("", str(node)))
        if not match:
            continue
        if match.group(1) and re.search(r"\d", match.group(1)):
            return match.group(1)
        parent = node.getparent()
        following = parent.xpath("following::text()[normalize-space()][1]") if parent is not None else []
        value = MARKS.sub("", following[0]).strip().lstrip(":# ").strip() if following else ""
        if SKU_VALUE.fullmatch(value) and re.search(r"\d", value):
            return value
    return None


def url_sku(tree: Any, page_url: str) -> str | None:
    """An identifier in the page URL's path that the page's forms also carry as a hidden value
    (the add-to-cart form posting the product's id): ``/p/AB12345`` with ``value="AB12345"``."""
    tokens = [t for t in URL_TOKEN.findall(urlsplit(page_url).path) if re.search(r"\d", t)]
    if not tokens:
        return None
    hidden = {v.strip() for v in tree.xpath("//input[@type='hidden']/@value")}
    return next((t for t in reversed(tokens) if t in hidden), None)


def dom_availability(tree: Any, h1: Any, carts: int) -> str:
    """OpenGraph availability, else an element named for availability/stock that says sold out
    or in stock, else sold out when the title's block says so and there is nothing to buy."""
    stated = to_availability(_meta(tree, "product:availability", "og:availability", "availability"))
    if stated != "unknown":
        return stated
    for el in tree.xpath(
        '//*[contains(translate(@id, "AVILBTYS", "avilbtys"), "availab") or '
        'contains(translate(@class, "AVILBTYS", "avilbtys"), "availab") or '
        'contains(translate(@id, "STOCK", "stock"), "stock")]'
    )[:20]:
        words = _text(el)[:200]
        if OUT_OF_STOCK.search(words):
            return "out_of_stock"
        if IN_STOCK.search(words):
            return "in_stock"
    if not carts and h1 is not None and OUT_OF_STOCK.search(_text(_around(h1))):
        return "out_of_stock"
    return "in_stock" if carts else "unknown"


def _around(el: Any) -> Any:
    parent = el.getparent()
    return parent if parent is not None else el


def from_dom(tree: Any, page_url: str) -> dict[str, Any] | None:
    """The product of a page without product markup, or None when it is not a product page."""
    h1 = tree.xpath("(//h1)[1]")
    title = clean_text(_text(h1[0])) if h1 else None
    og_product = (_meta(tree, "og:type") or "").lower().startswith("product")
    price_card = any("price" in (_meta(tree, f"twitter:label{n}") or "").lower() for n in ("1", "2"))
    carts = cart_controls(tree)
    title = title or (clean_text(_meta(tree, "og:title", "twitter:title")) if og_product or price_card else None)
    if not title or not (og_product or price_card or carts) or carts > MAX_CARTS:
        return None
    price, currency = dom_price(tree)
    if price is None:
        return None
    availability = dom_availability(tree, h1[0] if h1 else None, carts)
    images = [u for u in (_meta(tree, "og:image", "twitter:image"),) if u]
    return {
        "title": title,
        "price": price,
        "currency": currency,
        "availability": availability,
        "sku": dom_sku(tree) or url_sku(tree, page_url),
        "brand": _meta(tree, "product:brand", "og:brand"),
        "image_urls": images,
    }
