"""The product of a page that carries no structured product data, read from its HTML.

Only used where JSON-LD and microdata found no product (or one without a price or a name),
and only to fill fields the markup left empty; it never overrides structured data, and never runs on a page about an article
or on a home page.
A page counts as a product page when it has a title (:func:`dom_title` over the ``<h1>``
headings, else :func:`titled_headings`; else :func:`meta_title`), a price, and an add-to-cart control (a button, an input, a link styled as
a button or one that is only an add-to-cart image; at most four outside boxes of their own,
blocks with a heading such as other sellers, a bundle or a carousel: a listing has one per
product; a hidden heading, a label such as "Quantity:" or one repeating the title heads no
box), OpenGraph product meta or a Twitter card that labels a price;
or, with no price and no cart, when it says it is sold out and carries an identifier (a
sold-out page shows neither).

The price comes from, in order: ``product:price:amount`` / ``og:price:amount``, microdata
``itemprop="price"`` outside any item (not a card's), a ``twitter:data`` labelled as a price,
then the first element after the ``<h1>`` named like a price (class/id words) that shows one
amount (the lowest of a range "$9.49 - $12.49"; not one labelled "As low as", a quantity
tier's unit price, unless no other is shown), else the first element there whose whole text
is one amount with its currency ("22,50 €", a heading too). Neither may be struck through
(tag, ``style``, or an attribute such as ``data-strike="true"``), named or worded as a
former/list price (a "regular" one only beside a sale price), or sit in a block of its own
that has a heading before it (a card of a listing or carousel; a subtitle beside the title is
no card, nor is the buy box: the blocks holding the title's first cart control).
Cart buttons and sold-out words are read in the languages of the shops seen so far.
Images come from ``og:image`` and the like, else the first photo (not a logo, icon, sprite or
tiny image; its high-resolution source) in the blocks around the title.
Availability comes from OpenGraph or an availability/stock block (not its lists of sizes,
where one may be sold out); the SKU from
``itemprop="sku"``, ``data-sku``, a value printed next to an "SKU:"-style label, or an
identifier of the URL (``?pid=``-style parameter, path token or its trailing digits) that
the page repeats whole (an attribute value, an element's text, a literal in a script); the
GTIN from a value next to an "EAN"/"GTIN"/"UPC"/"ISBN" label whose check digit is right.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from price_parser import Price

from scrapers.extraction.markup import largest
from scrapers.items import bare_id, clean_text, to_availability, to_gtin

CART = re.compile(
    r"add[\s_-]*(to[\s_-]*)?(cart|bag|basket|trolley)|(cart|basket)[_-]?add|action=add_product|buy[\s_-]*now|in\s+den\s+(warenkorb|einkaufswagen)"
    r"|ajouter\s+au\s+panier|a[ñn]adir\s+al\s+carrito|aggiungi\s+al\s+carrello|in\s+winkelwagen"
    r"|adicionar\s+ao\s+carrinho|(do|v)\s+ko[šs][ií]k|ko[šs]aric|do\s+koszyka|în\s+co[șs]|[вк]\s+корзин|sepete\s+ekle"
    r"|l[äa]gg\s+i\s+varukorg|ostoskori|加入購物車|加入购物车|カートに入れる|장바구니|הוסף\s+לסל|أضف\s+إلى\s+السلة",
    re.I,
)
BUY = re.compile(  # a button that says only "Buy", in the shops' languages
    r"\W*(buy|koupit|kúpiť|kupić|kup|kaufen|acheter|comprar|compra|acquista|köp|kjøp|køb|osta|купить|satın al)\W*",
    re.I,
)
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
OUT_OF_STOCK = re.compile(
    r"\b(out\s+of\s+stock|sold\s+out|currently\s+unavailable|not\s+available|no\s+longer\s+available|ausverkauft"
    r"|nicht\s+(?:verf[üu]gbar|lieferbar)|[ée]puis[ée]|indisponible|rupture\s+de\s+stock|agotado|no\s+disponible"
    r"|esaurito|non\s+disponibile|esgotado|uitverkocht|niet\s+(?:leverbaar|beschikbaar)|niedost[ęe]pn|нет\s+в\s+наличии"
    r"|распродан)",
    re.I,
)
IN_STOCK = re.compile(
    r"\b(in\s+stock|available|auf\s+lager|lieferbar|en\s+stock|disponible|disponibile|op\s+voorraad)\b", re.I
)
SKU_LABEL = re.compile(
    r"^\s*(?:sku|item\s*(?:#|no\.?|number|code)|article\s*(?:no\.?|number)|art(?:ikel)?\.?\s*-?\s*nr\.?"
    r"|product\s*(?:code|no\.?|number|id)|style\s*(?:#|no\.?|number)|réf(?:érence)?\.?|ref\.?|artikelnummer"
    r"|[šs]ifra|k[óo]d(?:\s+produktu)?|c[óo]digo|codice|cod\s+produs|numer\s+katalogowy|артикул|код(?:\s+товара)?)"
    r"\s*[:#]?\s*([A-Za-z0-9][A-Za-z0-9._/-]{2,39})?\s*$",
    re.I,
)
GTIN_LABEL = re.compile(
    r"^\s*(?:ean(?:[\s-]*1[34])?|gtin(?:[\s-]*(?:8|12|13|14))?|upc|isbn(?:[\s-]*13)?|barcode)"
    r"\s*[:#]?\s*(\d[\d\s-]{6,18}\d)?\s*$",
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
}
AMOUNTS = re.compile(r"\d+(?:[.,\s]\d+)*")
RANGE = re.compile(r"\s+[-–—]\s+|(?<=\d)[-–—](?=\D{0,4}\d)")  # the dash of "€ 9,49 - € 12,49"
WAS_TEXT = re.compile(
    r"\s*(?:(?:was|before|statt|avant|antes|prima|rrp|msrp|uvp|list\s*price|regular|orig(?:inal)?"
    r"|compare\s*at)\b|reg\.)",
    re.I,
)
LOW_TEXT = re.compile(r"\s*as\s+low\s+as\b", re.I)  # the label of a quantity tier's lowest unit price
MAX_CARTS = 4  # add to cart, buy now, a sticky copy, another offer's; a listing has one per product
URL_TOKEN = re.compile(r"[A-Za-z0-9]{5,40}")
ID_PARAM = re.compile(r"id|sku|item|product|code|variant", re.I)  # query parameters naming the product
NOT_ID_PARAM = re.compile(r"cat|store|shop|lang|session|sid|user|page|sort|ref|utm|campaign|aff|seo|nav", re.I)
STRUCK = "ancestor-or-self::*[self::del or self::s or self::strike]"
LINK_BUTTONS = (  # links styled as buttons: class or id naming a button
    "//a[contains(translate(@class, 'BTNU', 'btnu'), 'btn') or contains(translate(@class, 'BUTON', 'buton'), 'button')"
    " or contains(translate(@id, 'BTNU', 'btnu'), 'btn') or contains(translate(@id, 'BUTON', 'buton'), 'button')]"
)
HI_RES = ("data-zoom-image", "data-large-image", "data-src", "data-original", "data-lazy-src")
NOT_PHOTO = re.compile(r"logo|icon|sprite|badge|flag|avatar|rating|stars?\b|spinner|loader|pixel|placeholder", re.I)
IMAGE_LEVELS = 6  # blocks around the title searched for its photo
HIDDEN = re.compile(r"visually-?hidden|sr-only|screen-?reader|offscreen|\bhidden\b", re.I)
SUBMITS = ".//button | .//input[@type='submit' or @type='image' or @type='button'] | .//a[@role='button']"
HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
CARD_TITLES = HEADINGS[:4]  # near a price, h5/h6 are labels ("Buy new:") more often than card titles
OWN_STATE_TEXT = (  # an availability block's text, without its lists of variants ("38\" sold out")
    ".//text()[not(ancestor::script or ancestor::style or ancestor::option"
    " or ancestor::li[preceding-sibling::li or following-sibling::li])]"
)
BODY_TEXT = "//body//text()[normalize-space()][not(ancestor::script) and not(ancestor::style)]"
SCAN = 5000  # elements after the title looked at for its price
H1S = "//h1[normalize-space()]"  # headings with words (a logo's <h1> has none)
TITLE = f"({H1S})[1]"
HOME_PATH = re.compile(r"/?([a-z]{2}([_-][a-z]{2})?/?)?(index\.\w+)?", re.I)
WORD = re.compile(r"[^\W_]{3,}")  # a word for comparing titles and URLs
TITLE_SEPARATORS = re.compile(r"\s+[|\u2013\u2014-]\s+|\s*\|\s*")  # "Name | Shop", "Name - Shop"


def _meta(tree: Any, *names: str) -> str | None:
    for name in names:
        for value in tree.xpath(f'//meta[@property="{name}" or @name="{name}" or @itemprop="{name}"]/@content'):
            if value.strip():
                return value.strip()
    return None


def _text(el: Any) -> str:
    return " ".join(" ".join(el.xpath(".//text()[not(ancestor::script) and not(ancestor::style)]")).split())


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


def currency_code(sign: str | None) -> str | None:
    """ISO 4217 code of a currency sign; None when absent or ambiguous (``$``, ``kr``)."""
    if not sign:
        return None
    return sign.upper() if re.fullmatch(r"[A-Za-z]{3}", sign) else CURRENCY_SIGNS.get(sign)


def cart_controls(tree: Any) -> list[Any]:
    """The page's add-to-cart controls (buttons, submit and image inputs, links styled as
    buttons, links that are only an image; by text, value, alt text, title, name, id, class,
    or such a link's image: alt text, title or file name); a cart form counts once, with or without cart words on its
    buttons, and not at all without a button."""
    counted: list[Any] = []
    for el in tree.xpath(
        "//form | //button | //input[@type='submit' or @type='button' or @type='image'] | //a[@role='button'] | "
        "//a[.//img and not(normalize-space())] | " + LINK_BUTTONS
    ):
        text = _text(el) if el.tag != "form" else ""
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
    amount, sign = _amount(content or _text(el))
    if amount is not None and (sign or content):
        return amount, currency_code(sign)
    for child in el.iterdescendants():
        if not isinstance(child.tag, str) or child.tag in ("script", "style") or _disowned(child, el):
            continue
        if any(_not_current(d) for d in child.iterdescendants() if isinstance(d.tag, str)):
            continue  # a cell holding the struck-through "was" price
        amount, sign = _amount(_text(child))
        if amount is not None and sign:
            return amount, currency_code(sign)
    return None, None


def dom_price(tree: Any, h1: Any, controls: list[Any]) -> tuple[Decimal | None, str | None]:
    """(price, currency) shown near the product title ``h1`` (see module doc); ``controls``:
    the page's cart controls (:func:`cart_controls`)."""
    value = _meta(tree, "product:price:amount", "og:price:amount")
    amount = _amount(value)[0] if value else None
    if amount is not None:
        return amount, _meta(tree, "product:price:currency", "og:price:currency")
    title_line, order = title_block(tree, h1)
    title_line |= buy_box(controls, title_line, order)
    for el in tree.xpath('//*[@itemprop="price"]'):  # microdata outside any Product item
        if _owned_by_title(el, title_line, order):
            amount, currency = _shown_price(el)
            if amount is not None:
                return amount, currency or _meta(tree, "priceCurrency")
    for n in ("1", "2"):
        label = (_meta(tree, f"twitter:label{n}") or "").lower()
        if "price" in label or "preis" in label or "prix" in label:
            amount, sign = _amount(_meta(tree, f"twitter:data{n}") or "")
            if amount is not None:
                return amount, currency_code(sign)
    return _price_after(h1, tree, title_line, order)


def _bare_amount(el: Any) -> tuple[Decimal | None, str | None]:
    """The amount of an element whose whole text is one amount and its currency ("22,50 €")."""
    text = "" if len(el) else _text(el)
    if not text or len(text) > 25:
        return None, None
    amount, sign = _amount(text)
    if amount is None or not sign or re.search(r"[^\W\d_]", AMOUNTS.sub("", text).replace(sign, "")):
        return None, None  # no currency, or words besides it: "Free delivery over 50 €"
    if _label(el, WAS_TEXT):
        return None, None  # "List Price: | $120.00"
    return amount, currency_code(sign)


def _label(el: Any, words: re.Pattern) -> bool:
    """The text just before ``el`` (its label) starts with ``words``."""
    label = el.xpath("preceding::text()[normalize-space()][1]")
    return bool(label and words.match(str(label[0])))


def title_block(tree: Any, h1: Any) -> tuple[set, dict]:
    """The elements that hold the title (the ancestors of the ``<h1>`` and of any heading that
    repeats it, else ``<html>``/``<body>``) and every element's position in the document."""
    root = (h1 if h1 is not None else tree).getroottree().getroot()
    order = {el: i for i, el in enumerate(root.iter())}
    if h1 is None:
        return set(root.xpath("/html | /html/body")), order
    title = _text(h1)
    repeats = [h for h in root.iter(*HEADINGS) if h is not h1 and _text(h) == title]
    return set(h1.iterancestors()).union(*(h.iterancestors() for h in repeats)), order


def buy_box(controls: list[Any], title_line: set, order: dict) -> set:
    """The first cart control that is the title's own (not in a box) and the blocks holding it:
    the product's buy box, whose headings ("Sold by ...", "More views") head no other item."""
    own = next((c for c in controls if not _in_a_box(c, title_line, order, HEADINGS)), None)
    if own is None:
        return set()
    buttons = own.xpath(SUBMITS) if own.tag == "form" else []
    return {own, *own.iterancestors()}.union(*({b, *b.iterancestors()} for b in buttons))


def _in_a_box(el: Any, title_line: set, order: dict, headings: tuple[str, ...]) -> bool:
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
    return not (first.endswith(":") or _text(heading).endswith(":"))


def _owned_by_title(el: Any, title_line: set, order: dict) -> bool:
    """``el`` is the title's: not in a card (:func:`_in_a_box`), and nothing between it and the
    title's block is named or struck as not the current price."""
    for node in (el, *el.iterancestors()):
        if node in title_line:
            break
        if _not_current(node):
            return False
    return not _in_a_box(el, title_line, order, CARD_TITLES)


def _price_after(h1: Any, tree: Any, title_line: set, order: dict) -> tuple[Decimal | None, str | None]:
    """The title's price: the first price-named element after it showing one amount (not
    labelled "As low as"), else the first bare amount there, else a price labelled "As low as"
    (see module doc); ``title_line``, ``order``: :func:`title_block`."""
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


def _labelled(tree: Any, label: re.Pattern, accept: Callable[[str], str | None]) -> str | None:
    """A value printed with its label ("SKU: 123", "EAN13 : <b>978…</b>"), as ``accept`` takes it."""
    texts = [MARKS.sub("", str(t)) for t in tree.xpath(BODY_TEXT)[:20000]]
    for i, text in enumerate(texts):
        match = label.match(text)
        if not match:
            continue
        value = match.group(1) or (texts[i + 1].strip().lstrip(":# ").strip() if i + 1 < len(texts) else "")
        found = accept(value) if value else None
        if found:
            return found
    return None


def _sku_value(value: str) -> str | None:
    return value if SKU_VALUE.fullmatch(value) and re.search(r"\d", value) else None


def dom_sku(tree: Any) -> str | None:
    """An identifier from orphan ``itemprop="sku"`` markup, ``data-sku``, or printed next to a
    label such as "SKU:" or "Item #"."""
    for el in tree.xpath('//*[@itemprop="sku" or @itemprop="productID"]'):
        value = bare_id((el.get("content") or _text(el)).strip())
        if SKU_VALUE.fullmatch(value):
            return value
    for el in tree.xpath("//*[@data-sku or @data-product-sku]"):
        value = (el.get("data-sku") or el.get("data-product-sku") or "").strip()
        if SKU_VALUE.fullmatch(value):
            return value
    return _labelled(tree, SKU_LABEL, _sku_value)


def dom_gtin(tree: Any) -> str | None:
    """A GTIN printed next to an "EAN"/"GTIN"/"UPC"/"ISBN" label, check digit validated."""
    return _labelled(tree, GTIN_LABEL, to_gtin)


def url_ids(page_url: str) -> list[str]:
    """Identifiers the page URL may carry, most specific first: values of id-like query
    parameters (``?pid=``, ``?sku=``; not a category's, store's, session's or the like), then
    path tokens with a digit from the last one, each followed by its trailing digits (``p400105394`` → ``400105394``, ``c7200a278526196`` →
    ``278526196``)."""
    parts = urlsplit(page_url)
    ids = [
        v for k, vs in parse_qs(parts.query).items() if ID_PARAM.search(k) and not NOT_ID_PARAM.search(k) for v in vs
    ]
    for token in reversed(URL_TOKEN.findall(unquote(parts.path))):
        digits = re.search(r"\d{5,}$", token)
        ids += [token, digits.group()] if digits and digits.group() != token else [token]
    return [i for i in dict.fromkeys(ids) if SKU_VALUE.fullmatch(i) and re.search(r"\d", i)]


def url_sku(tree: Any, page_url: str) -> str | None:
    """An identifier of the page URL (:func:`url_ids`) that the page repeats whole: as an
    attribute value (a hidden form field posting the product's id), an element's text, or a
    literal in a script: ``/p/AB12345`` with ``value="AB12345"``."""
    ids = url_ids(page_url)
    if not ids:
        return None
    values = {v.strip() for v in tree.xpath("//@*[not(name()='href' or name()='src' or name()='action')]")}
    values |= {str(t).strip() for t in tree.xpath(BODY_TEXT)}
    scripts = " ".join(tree.xpath("//script[not(@type='application/ld+json')]/text()"))
    for candidate in ids:
        if candidate in values or re.search(rf"(?<![\w/.%-]){re.escape(candidate)}(?![\w/.%-])", scripts):
            return candidate
    return None


def dom_availability(tree: Any, h1: Any, carts: int) -> str:
    """OpenGraph availability, else an element named for availability/stock that says sold out
    or in stock (outside its lists of sizes or colours, where one may be sold out), else sold out when the title's block says so and there is nothing to buy;
    ``carts``: the title's own cart controls (:func:`own_carts`)."""
    stated = to_availability(_meta(tree, "product:availability", "og:availability", "availability"))
    if stated != "unknown":
        return stated
    for el in tree.xpath(
        '//*[contains(translate(@id, "AVILBTYS", "avilbtys"), "availab") or '
        'contains(translate(@class, "AVILBTYS", "avilbtys"), "availab") or '
        'contains(translate(@id, "STOCK", "stock"), "stock")]'
    )[:20]:
        words = " ".join(" ".join(el.xpath(OWN_STATE_TEXT)).split())[:200]
        if OUT_OF_STOCK.search(words):
            return "out_of_stock"
        if IN_STOCK.search(words):
            return "in_stock"
    if not carts and h1 is not None and OUT_OF_STOCK.search(_text(_around(h1))):
        return "out_of_stock"
    return "in_stock" if carts else "unknown"


def own_carts(tree: Any, h1: Any, controls: list[Any]) -> int:
    """How many cart controls are the title's own: outside boxes with a heading of their own
    (another seller's offer, a bundle "frequently bought together", a carousel)."""
    title_line, order = title_block(tree, h1)
    return sum(not _in_a_box(c, title_line, order, HEADINGS) for c in controls)


def page_availability(tree: Any) -> str:
    """What the page says of availability (:func:`dom_availability`), for markup that says nothing."""
    h1 = next(iter(tree.xpath(TITLE)), None)
    return dom_availability(tree, h1, own_carts(tree, h1, cart_controls(tree)))


def _photo(img: Any) -> str | None:
    """The URL of an ``<img>`` that may be a product photo (its high-resolution or lazy source,
    the widest of a srcset); none for logos, icons, sprites, tiny or vector images."""
    names = " ".join(img.get(a) or "" for a in ("class", "id", "alt"))
    srcset = img.get("data-srcset") or img.get("srcset") or ""
    src = next((img.get(a) for a in HI_RES if img.get(a)), None) or largest(srcset) or img.get("src")
    src = (src or "").strip()
    if not src or src.startswith("data:") or src.lower().split("?")[0].endswith((".svg", ".gif")):
        return None
    if NOT_PHOTO.search(f"{names} {src}"):
        return None
    if any((img.get(d) or "").isdigit() and int(img.get(d)) < 100 for d in ("width", "height")):
        return None
    return src


def dom_images(tree: Any, h1: Any) -> list[str]:
    """``og:image``/``twitter:image``/``link rel=image_src``, else the first photo in the blocks
    around the title (up to :data:`IMAGE_LEVELS` of its ancestors, never the whole page)."""
    meta = _meta(tree, "og:image", "twitter:image") or next(iter(tree.xpath("//link[@rel='image_src']/@href")), None)
    if meta:
        return [meta]
    for level, block in enumerate(h1.iterancestors() if h1 is not None else ()):
        if level >= IMAGE_LEVELS or block.tag in ("body", "html"):
            break
        photo = next((p for p in (_photo(img) for img in block.iter("img")) if p), None)
        if photo:
            return [photo]
    return []


def _around(el: Any) -> Any:
    parent = el.getparent()
    return parent if parent is not None else el


def _text_words(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))


def _url_words(page_url: str) -> set[str]:
    return _text_words(unquote(urlsplit(page_url).path.replace("+", " ")))


def dom_title(tree: Any, h1s: list[Any], page_url: str) -> str | None:
    """The first ``<h1>`` that shares a word with the URL's path or the document's ``<title>``
    (a promotion banner or a dialog's heading shares none); when no ``<h1>`` does, the
    ``<title>``'s first segment if at least two of its words are in the URL's path; else the
    first ``<h1>`` with words (``h1s``: the page's ``<h1>`` elements with words)."""
    headings = [clean_text(_text(h)) for h in h1s]
    document = clean_text(" ".join(tree.xpath("//head/title//text()"))) or ""
    url_words = _url_words(page_url)
    for heading in headings:
        if heading and _text_words(heading) & (url_words | _text_words(document)):
            return heading
    segment = clean_text(TITLE_SEPARATORS.split(document)[0])
    if segment and len(_text_words(segment) & url_words) >= 2:
        return segment
    return headings[0] if headings else None


def titled_headings(tree: Any) -> list[Any]:
    """For a page without an ``<h1>`` with words: the ``<h2>``/``<h3>`` headings of two words or
    more that the document's ``<title>`` starts with (``<h2>Leonin Snarecaster</h2>`` under
    ``<title>Leonin Snarecaster (Duel Decks)</title>``), in document order."""
    document = (clean_text(" ".join(tree.xpath("//head/title//text()"))) or "").lower()
    found = []
    for h in tree.xpath("//h2[normalize-space()] | //h3[normalize-space()]"):
        text = (clean_text(_text(h)) or "").lower()
        if len(text.split()) >= 2 and document.startswith(text):
            found.append(h)
    return found


def meta_title(tree: Any, page_url: str) -> str | None:
    """``og:title`` / ``twitter:title``, unless the page says it is a website (a home page) or
    the title is only the site's name (all its words in the host name)."""
    title = clean_text(_meta(tree, "og:title", "twitter:title"))
    if not title or (_meta(tree, "og:type") or "").lower() == "website":
        return None
    host = (urlsplit(page_url).hostname or "").lower()
    return None if all(word in host for word in _text_words(title)) else title


def home_page(page_url: str) -> bool:
    """The site's root, or a language's (``/``, ``/fr/``, ``/en-gb/``), without a query."""
    parts = urlsplit(page_url)
    return not parts.query and bool(HOME_PATH.fullmatch(parts.path))


def from_dom(tree: Any, page_url: str) -> dict[str, Any] | None:
    """The product of a page without product markup, or None when it is not a product page."""
    if home_page(page_url):
        return None  # a home page shows products, it is none
    h1s = tree.xpath(H1S) or titled_headings(tree)
    h1 = h1s[0] if h1s else None
    title = dom_title(tree, h1s, page_url)
    og_product = (_meta(tree, "og:type") or "").lower().startswith("product")
    price_card = any("price" in (_meta(tree, f"twitter:label{n}") or "").lower() for n in ("1", "2"))
    carts = len(controls := cart_controls(tree))
    if not title and (og_product or price_card or carts):
        title = meta_title(tree, page_url)
    own = own_carts(tree, h1, controls)
    if not title or own > MAX_CARTS:
        return None  # a listing: more cart buttons than a product page has outside boxes of their own
    price, currency = dom_price(tree, h1, controls) if og_product or price_card or carts else (None, None)
    availability = dom_availability(tree, h1, own)
    sku = dom_sku(tree) or url_sku(tree, page_url)
    if price is None and not (availability == "out_of_stock" and sku and not own):
        return None  # a sold-out page shows neither price nor a cart button of its own
    images = dom_images(tree, h1)
    return {
        "title": title,
        "price": price,
        "currency": currency,
        "availability": availability,
        "sku": sku,
        "gtin": dom_gtin(tree),
        "brand": _meta(tree, "product:brand", "og:brand"),
        "image_urls": images,
    }
