"""The product of a page that carries no structured product data, read from its HTML.

Only used where JSON-LD and microdata found no product (or one without a price or a name),
and only to fill fields the markup left empty; it never overrides structured data, and never
runs on a page about an article or on a home page.
A page counts as a product page when it has a title (:func:`dom_title` over the ``<h1>``
headings, else :func:`titled_headings`; else :func:`meta_title`), a price
(:mod:`scrapers.extraction.prices`), and an add-to-cart control (at most four outside boxes
of other items, the first not in one of several like cards, :mod:`scrapers.extraction.layout`:
a listing has one per product), OpenGraph product meta or a Twitter card that labels a price;
or, with no price and no cart, when it says it is sold out and carries an identifier (a
sold-out page shows neither).

Sold-out and in-stock words are read in the languages of the shops seen so far and of the
larger European and Asian markets.
Images come from ``og:image`` and the like, else the first photo (not a logo, icon, sprite or
tiny image; its high-resolution source) in the blocks around the title. Availability comes from
OpenGraph or an availability/stock block (not its lists of sizes, where one may be sold out);
the identifiers as :mod:`scrapers.extraction.identity` reads them.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

from scrapers.extraction.identity import cart_sku, dom_gtin, dom_sku, url_sku
from scrapers.extraction.layout import (
    H1S,
    MAX_CARTS,
    cart_controls,
    listing_cards,
    meta_content,
    text_of,
    title_block,
)
from scrapers.extraction.markup import largest
from scrapers.extraction.prices import dom_price
from scrapers.items import clean_text, to_availability

OUT_OF_STOCK = re.compile(
    r"\b(out\s+of\s+stock|sold\s+out|currently\s+unavailable|not\s+available|no\s+longer\s+available|ausverkauft"
    r"|nicht\s+(?:verf[üu]gbar|lieferbar)|[ée]puis[ée]|indisponible|rupture\s+de\s+stock|agotado|no\s+disponible"
    r"|esaurito|non\s+disponibile|esgotado|indispon[íi]vel|uitverkocht|niet\s+(?:leverbaar|beschikbaar)|niedost[ęe]pn"
    r"|vyprod[áa]no|vypredan[éeý]|nen[íi]\s+skladem|nie\s+je\s+(?:na\s+)?sklad|nedostupn[éeý]|elfogyott"
    r"|nincs\s+(?:k[ée]szleten|rakt[áa]ron)|stoc\s+epuizat|indisponibil|sluts[åa]ld|udsolgt|utsolgt|loppuunmyyty"
    r"|ei\s+(?:ole\s+)?(?:laos|varastossa)|otsas|t[üu]kendi|stokta\s+yok|i[šs]parduota|izp[āa]rdots|rasprodan"
    r"|razprodan|ni\s+na\s+zalogi|нет\s+в\s+наличии|распродан|изчерпан|немає\s+в\s+наявності)"
    r"|在庫切れ|売り切れ|缺货|缺貨|售完|품절|نفدت|غير\s+متوفر|אזל\s+מהמלאי",
    re.I,
)
IN_STOCK = re.compile(
    r"\b(in\s+stock|available|auf\s+lager|lieferbar|en\s+stock|disponible|disponibile|op\s+voorraad|em\s+estoque"
    r"|skladem|na\s+sklade|skladom|na\s+stanie|k[ée]szleten|rakt[áa]ron|[îi]n\s+stoc|p[åa]\s+lager|varastossa|laos"
    r"|na\s+zalogi|в\s+наличии|на\s+складе)\b|在庫あり|有货|有貨|现货|現貨",
    re.I,
)
HI_RES = ("data-zoom-image", "data-large-image", "data-src", "data-original", "data-lazy-src")
NOT_PHOTO = re.compile(r"logo|icon|sprite|badge|flag|avatar|rating|stars?\b|spinner|loader|pixel|placeholder", re.I)
IMAGE_LEVELS = 6  # blocks around the title searched for its photo
OWN_STATE_TEXT = (  # an availability block's text, without its lists of variants ("38\" sold out")
    ".//text()[not(ancestor::script or ancestor::style or ancestor::option"
    " or ancestor::li[preceding-sibling::li or following-sibling::li])]"
)
HOME_PATH = re.compile(r"/?([a-z]{2}([_-][a-z]{2})?/?)?(index\.\w+)?", re.I)
WORD = re.compile(r"[^\W_]{3,}")  # a word for comparing titles and URLs
TRAILING_ID = re.compile(r"\s*[:#\u2013-]\s*\d{6,14}\s*$")  # "Name: 724819255917": a barcode, not the name
TITLE_SEPARATORS = re.compile(r"\s+[|\u2013\u2014-]\s+|\s*\|\s*")  # "Name | Shop", "Name - Shop"


def dom_availability(tree: Any, h1: Any, carts: int) -> str:
    """OpenGraph availability, else an element named for availability/stock that says sold out
    or in stock (outside its lists of sizes or colours, where one may be sold out), else sold
    out when the title's block says so and there is nothing to buy; ``carts``: how many cart
    controls are the title's own (:class:`~scrapers.extraction.layout.TitleBlock`)."""
    stated = to_availability(meta_content(tree, "product:availability", "og:availability", "availability"))
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
    if not carts and h1 is not None and OUT_OF_STOCK.search(text_of(_around(h1))):
        return "out_of_stock"
    return "in_stock" if carts else "unknown"


def page_availability(tree: Any) -> str:
    """What the page says of availability (:func:`dom_availability`), for markup that says nothing."""
    h1s = title_headings(tree)
    h1 = h1s[0] if h1s else None
    return dom_availability(tree, h1, len(title_block(tree, h1, cart_controls(tree)).own_carts))


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
    meta = meta_content(tree, "og:image", "twitter:image") or next(
        iter(tree.xpath("//link[@rel='image_src']/@href")), None
    )
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


def _document_title(tree: Any) -> str:
    return clean_text(" ".join(tree.xpath("//head/title//text()"))) or ""


def dom_title(tree: Any, h1s: list[Any], page_url: str) -> str | None:
    """The first ``<h1>`` that shares a word with the URL's path or the document's ``<title>``
    (a promotion banner or a dialog's heading shares none); when no ``<h1>`` does, the
    ``<title>``'s first segment (without a trailing barcode or id: "Puzzle: 724819255917") if at
    least two of its words are in the URL's path; else the
    first ``<h1>`` with words (``h1s``: the page's ``<h1>`` elements with words)."""
    headings = [clean_text(text_of(h)) for h in h1s]
    document = _document_title(tree)
    url_words = _url_words(page_url)
    for heading in headings:
        if heading and _text_words(heading) & (url_words | _text_words(document)):
            return heading
    segment = clean_text(TRAILING_ID.sub("", TITLE_SEPARATORS.split(document)[0]))
    if segment and len(_text_words(segment) & url_words) >= 2:
        return segment
    return headings[0] if headings else None


def titled_headings(tree: Any) -> list[Any]:
    """For a page without an ``<h1>`` with words: the ``<h2>``/``<h3>`` headings of two words or
    more that the document's ``<title>`` starts with (``<h2>Leonin Snarecaster</h2>`` under
    ``<title>Leonin Snarecaster (Duel Decks)</title>``), in document order."""
    document = _document_title(tree).lower()
    found = []
    for h in tree.xpath("//h2[normalize-space()] | //h3[normalize-space()]"):
        text = (clean_text(text_of(h)) or "").lower()
        if len(text.split()) >= 2 and document.startswith(text):
            found.append(h)
    return found


def title_headings(tree: Any) -> list[Any]:
    """The headings that may hold the product's title: the ``<h1>`` with words, else
    :func:`titled_headings`."""
    return tree.xpath(H1S) or titled_headings(tree)


def meta_title(tree: Any, page_url: str) -> str | None:
    """``og:title`` / ``twitter:title``, unless the page says it is a website (a home page) or
    the title is only the site's name (all its words in the host name)."""
    title = clean_text(meta_content(tree, "og:title", "twitter:title"))
    if not title or (meta_content(tree, "og:type") or "").lower() == "website":
        return None
    host = (urlsplit(page_url).hostname or "").lower()
    return None if all(word in host for word in _text_words(title)) else title


def home_page(page_url: str) -> bool:
    """The site's root, or a language's (``/``, ``/fr/``, ``/en-gb/``), without a query; never
    a page whose URL is not known (empty: a saved page read on its own)."""
    parts = urlsplit(page_url)
    return bool(parts.netloc) and not parts.query and bool(HOME_PATH.fullmatch(parts.path))


def from_dom(tree: Any, page_url: str) -> dict[str, Any] | None:
    """The product of a page without product markup, or None when it is not a product page."""
    if home_page(page_url):
        return None  # a home page shows products, it is none
    h1s = title_headings(tree)
    h1 = h1s[0] if h1s else None
    title = dom_title(tree, h1s, page_url)
    og_product = (meta_content(tree, "og:type") or "").lower().startswith("product")
    price_card = any("price" in (meta_content(tree, f"twitter:label{n}") or "").lower() for n in ("1", "2"))
    carts = len(controls := cart_controls(tree))
    if not title and (og_product or price_card or carts):
        title = meta_title(tree, page_url)
    block = title_block(tree, h1, controls)
    own = len(block.own_carts)
    if not title or own > MAX_CARTS or listing_cards(block):
        return None  # a listing: more cart buttons than a product page has outside boxes, or cards of like products
    price, currency = dom_price(tree, h1, block) if og_product or price_card or carts else (None, None)
    availability = dom_availability(tree, h1, own)
    sku = dom_sku(tree) or url_sku(tree, page_url) or cart_sku(controls)
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
        "brand": meta_content(tree, "product:brand", "og:brand"),
        "image_urls": images,
    }
