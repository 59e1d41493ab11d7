"""The price a page without product markup shows for its title, read from its HTML.

The price comes from, in order: ``product:price:amount`` / ``og:price:amount``, microdata
``itemprop="price"`` outside any item (not a card's), a ``twitter:data`` labelled as a price,
then the first element after the ``<h1>`` named like a price (class/id words) that shows one
amount (the lowest of a range "$9.49 - $12.49"; not one labelled "As low as", a quantity
tier's unit price, unless no other is shown), else the first element there whose whole text
is one amount with its currency ("22,50 €", a heading too). Neither may be struck through
(tag, ``style``, or an attribute such as ``data-strike="true"``), named or worded as a
former/list price (a "regular" one only beside a sale price), or sit in a box of another
item (:mod:`scrapers.extraction.layout`). Currency signs name their currency where only one
uses them (not ``$`` or ``kr``); a page whose markup names no currency takes the one its
``itemprop="priceCurrency"`` elements outside the product item name (:func:`markup_currency`).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from price_parser import Price

from scrapers.extraction.layout import CARD_TITLES, TitleBlock, buy_box, in_a_box, meta_content, text_of
from scrapers.items import to_currency

PRICE_NAME = re.compile(r"price|preis|prix|precio|prezzo|prijs|amount", re.I)
SALE = frozenset({"sale", "special", "promo", "now"})  # class words of a price that supersedes a "regular" one
NOT_CURRENT = frozenset(
    {  # words of a class/id naming a price that is not the one to pay now
        "old",
        "was",
        "before",
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
AMOUNTS = re.compile(r"\d+(?:[.,\s]\d+)*")
RANGE = re.compile(r"\s+[-–—]\s+|(?<=\d)[-–—](?=\D{0,4}\d)")  # the dash of "€ 9,49 - € 12,49"
WAS_TEXT = re.compile(
    r"\s*(?:(?:was|before|statt|avant|antes|prima|rrp|msrp|uvp|list\s*price|regular|orig(?:inal)?"
    r"|compare\s*at)\b|reg\.)",
    re.I,
)
LOW_TEXT = re.compile(r"\s*as\s+low\s+as\b", re.I)  # the label of a quantity tier's lowest unit price
STRUCK = "ancestor-or-self::*[self::del or self::s or self::strike]"
SCAN = 5000  # elements after the title looked at for its price


def _amount(text: str) -> tuple[Decimal | None, str | None]:
    """The one amount in a short price text and its currency sign as written (``$``, ``EUR``),
    the lower one of a range; none for a text that says it is a former or list price ("Was $20",
    "RRP 20 €")."""
    if not text or len(text) > 40 or WAS_TEXT.match(text):
        return None, None
    if len(AMOUNTS.findall(text)) == 2 and RANGE.search(text):  # "$9.49 - $12.49": from the lowest
        low, high = (_amount(part) for part in RANGE.split(text, maxsplit=1))
        return low if low[0] is not None and high[0] is not None and low[0] <= high[0] else (None, None)
    if len(AMOUNTS.findall(text)) != 1:
        return None, None
    parsed = Price.fromstring(text)
    if parsed.amount is None or parsed.amount <= 0:
        return None, None
    return parsed.amount, (parsed.currency or "").strip() or None


def _words(names: str) -> set[str]:
    """The words of class/id names: ``price--old oldPrice was_price`` → {price, old, was}."""
    return {w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+", names)}


def _struck(el: Any) -> bool:
    """Shown struck through: by tag, by style, or by an attribute saying so (``data-strike="true"``)."""
    return (
        el.tag in ("del", "s", "strike")
        or "line-through" in (el.get("style") or "")
        or any(re.search(r"strike|crossed", k, re.I) and v.lower() in ("true", "1", "yes") for k, v in el.items())
    )


def _names_not_current(names: str) -> bool:
    """Class/id names that say a price is not the one to pay now: a :data:`NOT_CURRENT` word,
    or "list" in the same name as "price" (``list-price``, ``listPrice``; not Bootstrap's
    ``list-unstyled``)."""
    for name in names.split():
        words = _words(name)
        if words & NOT_CURRENT or {"list", "price"} <= words:
            return True
    return False


def _not_current(el: Any) -> bool:
    """Struck through, or named as a was/list/unit/... price."""
    return _struck(el) or _names_not_current(_class_names(el)) or el.xpath(STRUCK)


def _class_names(el: Any) -> str:
    return " ".join(el.get(a) or "" for a in ("class", "id"))


def _class_words(el: Any) -> set[str]:
    return _words(_class_names(el))


def _superseded(el: Any, box: Any) -> bool:
    """A "regular" price (Magento's current price when there is no sale) in a box that also
    shows a sale or special price."""
    return "regular" in _class_words(el) and any(
        _class_words(d) & SALE for d in box.iter() if isinstance(d.tag, str) and d is not el
    )


def _disowned(el: Any, stop: Any) -> bool:
    """``el`` or an element between it and ``stop`` is not the current price (struck, named
    so, or a regular price beside a sale price in ``stop``)."""
    for node in (el, *el.iterancestors()):
        if node is stop:
            return False
        if isinstance(node.tag, str) and (_not_current(node) or _superseded(node, stop)):
            return True
    return False


def _shown_price(el: Any) -> tuple[Decimal | None, str | None]:
    """The amount an element shows: its ``content``, its text, else (a container holding the
    amount twice, or split into whole/fraction parts) its first descendant showing one amount
    with a currency that is not struck through or named as a "was" price."""
    content = el.get("content")
    amount, sign = _amount(content or text_of(el))
    if amount is not None and (sign or content):
        return amount, to_currency(sign)
    for child in el.iterdescendants():
        if not isinstance(child.tag, str) or child.tag in ("script", "style") or _disowned(child, el):
            continue
        if any(_not_current(d) for d in child.iterdescendants() if isinstance(d.tag, str)):
            continue  # a cell holding the struck-through "was" price
        amount, sign = _amount(text_of(child))
        if amount is not None and sign:
            return amount, to_currency(sign)
    return None, None


def dom_price(tree: Any, h1: Any, block: TitleBlock) -> tuple[Decimal | None, str | None]:
    """(price, currency) shown near the product title ``h1`` (see module doc); ``block``: its
    :class:`~scrapers.extraction.layout.TitleBlock`."""
    value = meta_content(tree, "product:price:amount", "og:price:amount")
    amount = _amount(value)[0] if value else None
    if amount is not None:
        return amount, meta_content(tree, "product:price:currency", "og:price:currency")
    title_line, order = block.line | buy_box(block), block.order
    for el in tree.xpath('//*[@itemprop="price"]'):  # microdata outside any Product item
        if _owned_by_title(el, title_line, order):
            amount, currency = _shown_price(el)
            if amount is not None:
                return amount, currency or to_currency(meta_content(tree, "priceCurrency"))
    for n in ("1", "2"):
        label = (meta_content(tree, f"twitter:label{n}") or "").lower()
        if "price" in label or "preis" in label or "prix" in label:
            amount, sign = _amount(meta_content(tree, f"twitter:data{n}") or "")
            if amount is not None:
                return amount, to_currency(sign)
    return _price_after(h1, tree, title_line, order)


def _bare_amount(el: Any) -> tuple[Decimal | None, str | None]:
    """The amount of an element whose whole text is one amount and its currency ("22,50 €")."""
    text = "" if len(el) else text_of(el)
    if not text or len(text) > 25:
        return None, None
    amount, sign = _amount(text)
    if amount is None or not sign or re.search(r"[^\W\d_]", AMOUNTS.sub("", text).replace(sign, "")):
        return None, None  # no currency, or words besides it: "Free delivery over 50 €"
    if _label(el, WAS_TEXT):
        return None, None  # "List Price: | $120.00"
    return amount, to_currency(sign)


def _label(el: Any, words: re.Pattern) -> bool:
    """The text just before ``el`` (its label) starts with ``words``."""
    label = el.xpath("preceding::text()[normalize-space()][1]")
    return bool(label and words.match(str(label[0])))


def _owned_by_title(el: Any, title_line: set, order: dict) -> bool:
    """``el`` is the title's: not in a card (:func:`in_a_box`), and nothing between it and the
    title's block is named or struck as not the current price."""
    for node in (el, *el.iterancestors()):
        if node in title_line:
            break
        if _not_current(node):
            return False
    return not in_a_box(el, title_line, order, CARD_TITLES)


def _price_after(h1: Any, tree: Any, title_line: set, order: dict) -> tuple[Decimal | None, str | None]:
    """The title's price: the first price-named element after it showing one amount (not
    labelled "As low as"), else the first bare amount there, else a price labelled "As low as"
    (see module doc); ``title_line``, ``order``: the title's block with its buy box, and the
    document order (:class:`~scrapers.extraction.layout.TitleBlock`)."""
    scope = h1.xpath("following::*") if h1 is not None else tree.xpath("//body//*")
    bare: tuple[Decimal | None, str | None] = (None, None)
    low: tuple[Decimal | None, str | None] = (None, None)
    for el in scope[:SCAN]:
        if not isinstance(el.tag, str) or el.tag in ("script", "style", "option", "select", "input"):
            continue
        names = " ".join(el.get(a) or "" for a in ("class", "id", "data-testid", "data-test"))
        named = bool(PRICE_NAME.search(names)) and not _names_not_current(names)
        if named and el.getparent() is not None and _superseded(el, el.getparent()):
            continue  # the regular price beside a sale price
        if not named and bare[0] is not None:
            continue
        amount, currency = _shown_price(el) if named else _bare_amount(el)
        if amount is None or not _owned_by_title(el, title_line, order):
            continue
        if named and _label(el, LOW_TEXT):
            low = low if low[0] is not None else (amount, currency)
        elif named:
            return amount, currency
        else:
            bare = (amount, currency)
    return bare if bare[0] is not None else low


def markup_currency(tree: Any) -> str | None:
    """The currency code of the page's ``itemprop="priceCurrency"`` elements, matched in any case
    (an orphan ``<meta>`` before the product's ``itemscope``, a miscased ``pricecurrency`` that
    microdata parsers do not read), when they all name the same one."""
    lower = "translate(@itemprop, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
    codes = {
        to_currency(el.get("content") or text_of(el)) for el in tree.xpath(f"//*[@itemprop][{lower}='pricecurrency']")
    }
    return codes.pop() if len(codes) == 1 and None not in codes else None
