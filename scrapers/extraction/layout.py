"""Where things sit on a page without product markup: the title's block, boxes of other
items, and the add-to-cart controls (read by :mod:`scrapers.extraction.prices` and
:mod:`scrapers.extraction.dom`).

A box of another item is a block of its own, below the one it shares with the title, that
has a heading before the element: a card of a listing or a carousel, another seller's offer,
a bundle. A hidden heading, a label ("Quantity:") or one repeating the title heads no box,
and the buy box (the blocks holding the title's first cart control of its own) belongs to the
title. Like cards (siblings of one tag and class, each with its own cart control and link)
are a listing's, whether or not they have headings. Cart controls are buttons, submit and
image inputs, links styled as buttons and links that are only an add-to-cart image, in the
languages of the shops seen so far and of the larger European and Asian markets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

CART = re.compile(
    r"add[\s_-]*(to[\s_-]*)?(cart|bag|basket|trolley)|(cart|basket)[_-]?add|action=add_product|buy[\s_-]*now|in\s+den\s+(warenkorb|einkaufswagen)"
    r"|ajouter\s+au\s+panier|a[ñn]adir\s+al\s+carrito|aggiungi\s+al\s+carrello|in\s+winkelwagen"
    r"|adicionar\s+ao\s+carrinho|(do|v)\s+ko[šs][ií]k|ko[šs]aric|do\s+koszyka|în\s+co[șs]|[вк]\s+корзин|sepete\s+ekle"
    r"|l[äa]gg\s+i\s+varukorg|ostoskori|加入購物車|加入购物车|カートに入れる|장바구니|הוסף\s+לסל|أضف\s+إلى\s+السلة"
    r"|agregar\s+al\s+carr|adicionar\s+[àa]\s+sacola|ostukorvi|grozam|krep[šs]el|kos[áa]rba|l[æa]g\s+i\s+kurv"
    r"|handlekurv|στο\s+καλάθι|в\s+количката|в\s+кошик|до\s+кошика|th[êe]m\s+v[àa]o\s+gi[ỏo]|ใส่ตะกร้า"
    r"|ke\s+keranjang|放入購物車|加入購物袋|加入购物袋",
    re.I,
)
BUY = re.compile(  # a button that says only "Buy", in the shops' languages
    r"\W*(buy|koupit|kúpiť|kupić|kup|kaufen|acheter|comprar|compra|acquista|köp|kjøp|køb|osta|купить|купити|купи|satın al"
    r"|pirkt|pirkti|kupiti|beli|vásárlás|αγορά|購買|购买|購入する|구매하기)\W*",
    re.I,
)
MAX_CARTS = 4  # add to cart, buy now, a sticky copy, another offer's; a listing has one per product
LINK_BUTTONS = (  # links styled as buttons: class or id naming a button
    "//a[contains(translate(@class, 'BTNU', 'btnu'), 'btn') or contains(translate(@class, 'BUTON', 'buton'), 'button')"
    " or contains(translate(@id, 'BTNU', 'btnu'), 'btn') or contains(translate(@id, 'BUTON', 'buton'), 'button')]"
)
HIDDEN = re.compile(r"visually-?hidden|sr-only|screen-?reader|offscreen|\bhidden\b", re.I)
SUBMITS = ".//button | .//input[@type='submit' or @type='image' or @type='button'] | .//a[@role='button']"
HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
CARD_TITLES = HEADINGS[:4]  # near a price, h5/h6 are labels ("Buy new:") more often than card titles
H1S = "//h1[normalize-space()]"  # headings with words (a logo's <h1> has none)


def meta_content(tree: Any, *names: str) -> str | None:
    """The first non-empty ``content`` of a ``<meta>`` with one of these property/name/itemprop names."""
    for name in names:
        for value in tree.xpath(f'//meta[@property="{name}" or @name="{name}" or @itemprop="{name}"]/@content'):
            if value.strip():
                return value.strip()
    return None


def text_of(el: Any) -> str:
    """An element's visible text (no scripts or styles), whitespace collapsed."""
    return " ".join(" ".join(el.xpath(".//text()[not(ancestor::script) and not(ancestor::style)]")).split())


def cart_controls(tree: Any) -> list[Any]:
    """The page's add-to-cart controls (buttons, submit and image inputs, links styled as
    buttons, links that are only an image; by text, value, alt text, title, name, id, class,
    or such a link's image: alt text, title or file name); a cart form counts once, with or
    without cart words on its buttons, and not at all without a button."""
    counted: list[Any] = []
    for el in tree.xpath(
        "//form | //button | //input[@type='submit' or @type='button' or @type='image'] | //a[@role='button'] | "
        "//a[.//img and not(normalize-space())] | " + LINK_BUTTONS
    ):
        text = text_of(el) if el.tag != "form" else ""
        words = " ".join(
            [
                text,
                *(
                    el.get(a) or ""
                    for a in ("value", "alt", "title", "name", "id", "class", "aria-label", "action", "data-action")
                ),
                *(_image_words(img) for img in (el.iter("img") if el.tag == "a" and not text else ())),
            ]
        )
        if el.tag == "form" and not el.xpath(SUBMITS):
            continue  # a cart form with nothing to press (a sold-out page keeps its form)
        label = text or el.get("value") or el.get("alt") or "" if el.tag != "form" else ""
        if (CART.search(words) or BUY.fullmatch(label.strip())) and not any(
            el in c.iterdescendants() for c in counted if c.tag == "form"
        ):
            counted.append(el)
    return counted


def _image_words(img: Any) -> str:
    """What an image says: its alt text, title and file name (``AddToCart.png`` → ``AddToCart``)."""
    name = urlsplit(img.get("src") or "").path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return " ".join((img.get("alt") or "", img.get("title") or "", unquote(name)))


@dataclass(frozen=True)
class TitleBlock:
    """Where the title sits: the elements that hold it (``line``), every element's position in
    the document (``order``) and the cart controls that are the title's own (``own_carts``:
    outside boxes with a heading of their own, such as another seller's offer, a bundle
    "frequently bought together" or a carousel)."""

    line: set
    order: dict
    own_carts: list


def title_block(tree: Any, h1: Any, controls: list[Any]) -> TitleBlock:
    """The :class:`TitleBlock` of the title ``h1`` (its ancestors and those of any heading that
    repeats it; without a title, ``<html>``/``<body>``); ``controls``: :func:`cart_controls`."""
    root = (h1 if h1 is not None else tree).getroottree().getroot()
    order = {el: i for i, el in enumerate(root.iter())}
    if h1 is None:
        line = set(root.xpath("/html | /html/body"))
    else:
        title = text_of(h1)
        repeats = [h for h in root.iter(*HEADINGS) if h is not h1 and text_of(h) == title]
        line = set(h1.iterancestors()).union(*(h.iterancestors() for h in repeats))
    return TitleBlock(line, order, [c for c in controls if not in_a_box(c, line, order, HEADINGS)])


def buy_box(block: TitleBlock) -> set:
    """The title's first own cart control and the blocks holding it (a form's, its buttons'):
    the product's buy box, whose headings ("Sold by ...", "More views") head no other item."""
    if not block.own_carts:
        return set()
    own = block.own_carts[0]
    buttons = own.xpath(SUBMITS) if own.tag == "form" else []
    return {own, *own.iterancestors()}.union(*({b, *b.iterancestors()} for b in buttons))


def listing_cards(block: TitleBlock) -> bool:
    """The title's first own cart control sits in one of several like cards (siblings of one
    tag and class below the title's block, each holding an own cart control and a link to a
    page of its own): a category page of a few products whose cards have no heading."""
    carts = block.own_carts
    if len(carts) < 2:
        return False
    holders = [{c, *c.iterancestors()} for c in carts]
    for card in [carts[0], *carts[0].iterancestors()]:
        parent = card.getparent()
        if parent is None or card in block.line:
            return False
        like = [s for s in parent if s.tag == card.tag and s.get("class") == card.get("class")]
        cards = [s for s in like if any(s in h for h in holders)]
        if len(cards) >= 2:
            links = [_own_link(s) for s in cards]
            return all(links) and len(set(links)) == len(links)
    return False


def _own_link(card: Any) -> str | None:
    """The first link of a card that leads to a page (not an anchor, script or mail link)."""
    hrefs = (h.strip() for h in card.xpath(".//a/@href"))
    return next((h for h in hrefs if h and not h.startswith(("#", "javascript:", "mailto:"))), None)


def in_a_box(el: Any, title_line: set, order: dict, headings: tuple[str, ...]) -> bool:
    """``el`` sits in a block of its own, below the one it shares with the title, that has a
    heading before it: a card of a listing or a carousel, another seller's box, a bundle."""
    for block in el.iterancestors():
        if block in title_line:
            return False
        if any(order[h] < order[el] and _heads_a_box(h) for h in block.iter(*headings)):
            return True
    return False


def _heads_a_box(heading: Any) -> bool:
    """A heading that can head another item's box: shown (no ``hidden`` attribute, no
    ``display: none``, no class for screen readers only) and no label ("Quantity:", or
    "<span>Size:</span> M": its first or whole text ends with a colon)."""
    style = (heading.get("style") or "").replace(" ", "").lower()
    if heading.get("hidden") is not None or "display:none" in style or HIDDEN.search(heading.get("class") or ""):
        return False
    first = heading.xpath("string(.//text()[normalize-space()][1])").strip()
    return not (first.endswith(":") or text_of(heading).endswith(":"))
