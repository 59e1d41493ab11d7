"""The product's identifiers as the page prints them, where its markup gives none: the SKU
(:func:`dom_sku`: orphan ``itemprop="sku"`` or its RDFa counterparts, ``data-sku``, a value
printed next to an "SKU:"-style label, the text of an element classed ``sku``; else
:func:`url_sku`, an identifier of the URL that the page repeats; else :func:`cart_sku`, the
product id its add-to-cart forms post), the GTIN (:func:`dom_gtin`,
next to an "EAN"/"GTIN"/"UPC"/"ISBN" label, check digit validated) and the brand
(:func:`dom_brand`: orphan ``itemprop="brand"``/``"manufacturer"``, a Twitter card's "Brand"
label, a "Brand:"/"Manufacturer:"-style label or a spec table's "Brand" cell). Pure: lxml
trees in, strings out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from scrapers.extraction.layout import text_of
from scrapers.items import bare_id, to_gtin

SKU_LABEL = re.compile(
    r"^\s*(?:sku|item\s*(?:#|no\.?|number|code)|stock\s*(?:code|no\.?|number)|article\s*(?:no\.?|number)|art(?:ikel)?\.?\s*-?\s*nr\.?"
    r"|product\s*(?:code|no\.?|number|id)|style\s*(?:#|no\.?|number)|réf(?:érence)?\.?|ref\.?|artikelnummer"
    r"|[šs]ifra|k[óo]d(?:\s+(?:produktu|tovaru|zbo[žz][íi]))?|c[óo]digo|codice|cod\s+produs|numer\s+katalogowy|артикул|код(?:\s+товара)?"
    r"|tootekood|preces\s+kods|prek[ėe]s\s+kodas|cikksz[áa]m|term[ée]kk[óo]d|varenummer|varenr\.?|tuotekoodi|tuotenumero"
    r"|referencia|refer[êe]ncia|riferimento|[üu]r[üu]n\s+kodu|stok\s+kodu|κωδικός(?:\s+προϊόντος)?"
    r"|商品番号|品番|商品編號|商品编号|货号|貨號|상품\s*번호|품번|رمز\s+المنتج|מק\"ט)"
    r"\s*[:#：]?\s*([A-Za-z0-9][A-Za-z0-9._/-]{2,39})?\s*$",
    re.I,
)
GTIN_LABEL = re.compile(
    r"^\s*(?:ean(?:[\s-]*(?:1[34]|kood|k[óo]d|code|kod))?|gtin(?:[\s-]*(?:8|12|13|14))?|upc|isbn(?:[\s-]*13)?|barcode"
    r"|jan(?:\s*コード)?|vonalk[óo]d|[čc]iarov[ýy]\s+k[óo]d|штрих-?код|barkod|c[óo]digo\s+de\s+barras|codice\s+a\s+barre"
    r"|strekkode|streckkod|stregkode|viivakoodi)"
    r"\s*[:#：]?\s*(\d[\d\s-]{6,18}\d)?\s*$",
    re.I,
)
MARKS = re.compile("[\u200e\u200f\u200b\u00a0]")  # direction marks, zero-width and hard spaces
SKU_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{2,39}")
LETTER_CODE = re.compile(r"[A-Z]{3,12}")  # a code of capitals alone ("PHLR"), taken only where labelled
PLACEHOLDERS = frozenset({"NONE", "NULL", "TBA", "TBC", "TBD", "UNKNOWN"})
SKU_PROPERTY = re.compile(r"(?:^|[:/#])(?:sku|productID|hasStockKeepingUnit)$")  # RDFa ``gr:hasStockKeepingUnit``
SKU_CLASS = re.compile(r"(?:product[-_]?)?sku", re.I)  # ``<span class="meta sku">HB095BLK</span>``
SEPARATOR = re.compile(r"[\s:#.\-–]*")  # a text node between a label and its value ("Stock Code", ":", "EIKO-…")
# the field a cart form posts its product id in: product, id_product, products_id, item_id, add-to-cart
CART_ID_FIELD = re.compile(r"(?:id[_-]?)?products?(?:[_-]?id)?|item[_-]?id|add-to-cart", re.I)
URL_TOKEN = re.compile(r"[A-Za-z0-9]{5,40}")
PRINTED_ID_TEXT = 60  # the longest text read as printing an identifier ("Item 4711 – in stock")
ID_PARAM = re.compile(r"id|sku|item|product|code|variant", re.I)  # query parameters naming the product
NOT_ID_PARAM = re.compile(r"cat|store|shop|lang|session|sid|user|page|sort|ref|utm|campaign|aff|seo|nav", re.I)
BRAND_WORDS = (
    r"brand|manufacturer|designer|marke|hersteller|fabricant|marque|marca|merk|producent|výrobce|výrobca"
    r"|značka|gyártó|márka|producător|производитель|бренд|виробник|zīmols|prekės\s+ženklas|kaubamärk|tootja"
    r"|valmistaja|merkki|varemerke|mærke|märke|tillverkare|marka|μάρκα|κατασκευαστής|марка|ブランド|メーカー|品牌"
    r"|브랜드|제조사|الماركة|العلامة\s+التجارية|מותג|יצרן"
)
BRAND_LABEL = re.compile(rf"^\s*(?:{BRAND_WORDS})\s*[:：]\s*(.+?)?\s*$", re.I)  # "Brand: Wilton", "Fabricant : "
BRAND_CELL = re.compile(rf"\s*(?:{BRAND_WORDS})\s*[:：]?\s*", re.I)  # ``<th>Brand</th><td>…</td>``
BRAND_NOT = frozenset(  # placeholders: "n/a", "other" in the shops' languages
    {"n/a", "na", "none", "null", "-", "unknown", "generic", "all", "other", "others", "andere", "sonstige"}
    | {"autre", "autres", "otro", "otros", "altro", "altri", "egyéb", "inne", "jiné", "другое", "другие", "інше"}
)
BODY_TEXT = "//body//text()[normalize-space()][not(ancestor::script) and not(ancestor::style)]"


def _labelled(tree: Any, label: re.Pattern, accept: Callable[[str], str | None]) -> str | None:
    """A value printed with its label ("SKU: 123", "EAN13 : <b>978…</b>"), as ``accept`` takes it."""
    texts = [MARKS.sub("", str(t)) for t in tree.xpath(BODY_TEXT)[:20000]]
    for i, text in enumerate(texts):
        match = label.match(text)
        if not match:
            continue
        after = (t for t in texts[i + 1 : i + 3] if not SEPARATOR.fullmatch(t))
        value = match.group(1) or next(after, "").strip().lstrip(":# ").strip()
        found = accept(value) if value else None
        if found:
            return found
    return None


def _sku_value(value: str) -> str | None:
    """A labelled code: with a digit, or of capitals alone ("PHLR", not "NONE")."""
    if LETTER_CODE.fullmatch(value):
        return None if value in PLACEHOLDERS else value
    return value if SKU_VALUE.fullmatch(value) and re.search(r"\d", value) else None


def dom_sku(tree: Any) -> str | None:
    """An identifier from orphan ``itemprop="sku"`` or RDFa (``property="gr:hasStockKeepingUnit"``)
    markup, ``data-sku``, printed next to a label such as "SKU:" or "Item #", or the text of an
    element classed ``sku``."""
    marked = tree.xpath('//*[@itemprop="sku" or @itemprop="productID"]') + [
        el for el in tree.xpath("//*[@property]") if SKU_PROPERTY.search(el.get("property").strip())
    ]
    for el in marked:
        value = bare_id((el.get("content") or text_of(el)).strip())
        if SKU_VALUE.fullmatch(value):
            return value
    for el in tree.xpath("//*[@data-sku or @data-product-sku]"):
        value = (el.get("data-sku") or el.get("data-product-sku") or "").strip()
        if SKU_VALUE.fullmatch(value):
            return value
    labelled = _labelled(tree, SKU_LABEL, _sku_value)
    if labelled:
        return labelled
    classed = (
        el for el in tree.xpath("//body//*[@class][not(*)]") if any(map(SKU_CLASS.fullmatch, el.get("class").split()))
    )
    return next((code for el in classed if (code := _sku_value(text_of(el).strip()))), None)


def cart_sku(controls: list[Any]) -> str | None:
    """The product id the page's add-to-cart forms post in a field named for it
    (``<input type="hidden" name="product" value="301">``; PrestaShop's ``id_product``,
    osCommerce's ``products_id``, WooCommerce's ``add-to-cart``), when they all post the same
    one: a listing's forms post one each. ``controls``: the page's
    :func:`~scrapers.extraction.layout.cart_controls`."""
    holders = (c if c.tag == "form" else next(c.iterancestors("form"), None) for c in controls)
    forms = {form for form in holders if form is not None}
    posted = {
        (el.get("value") or "").strip()
        for form in forms
        for el in form.xpath(".//input[@type='hidden'][@name] | .//button[@name][@value]")
        if CART_ID_FIELD.fullmatch(el.get("name").strip())
    }
    posted.discard("")
    value = posted.pop() if len(posted) == 1 else ""
    return value if SKU_VALUE.fullmatch(value) and re.search(r"\d", value) else None


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
    """An identifier of the page URL (:func:`url_ids`) that the page repeats whole: first one
    it prints (a short text holding it as a word: "ID : 201500014845"), else one in an
    attribute value (a hidden form field posting the product's id), an element's text, or a
    literal in a script: ``/p/AB12345`` with ``value="AB12345"``."""
    ids = url_ids(page_url)
    if not ids:
        return None
    texts = [str(t).strip() for t in tree.xpath(BODY_TEXT)]
    printed = {word for t in texts if len(t) <= PRINTED_ID_TEXT for word in t.split()}
    values = {v.strip() for v in tree.xpath("//@*[not(name()='href' or name()='src' or name()='action')]")}
    values |= set(texts)
    scripts = " ".join(tree.xpath("//script[not(@type='application/ld+json')]/text()"))
    return next((c for c in ids if c in printed), None) or next(
        (c for c in ids if c in values or re.search(rf"(?<![\w/.%-]){re.escape(c)}(?![\w/.%-])", scripts)), None
    )


def _brand_value(value: str) -> str | None:
    """A brand name: 2 to 60 characters with a letter, at most six words, no placeholder."""
    value = " ".join(value.split()).strip(" :")
    ok = 2 <= len(value) <= 60 and len(value.split()) <= 6 and re.search(r"[^\W\d_]", value)
    return value if ok and value.casefold() not in BRAND_NOT else None


def _brand_of(el: Any) -> str | None:
    """An orphan ``itemprop="brand"`` element's name: its ``content``, a nested ``name``, or its
    text without a label ("Manufacturer: Black Leaf")."""
    named = el.xpath('.//*[@itemprop="name"]')
    value = el.get("content") or (named[0].get("content") or text_of(named[0]) if named else text_of(el))
    labelled = BRAND_LABEL.match(value)
    return _brand_value(labelled.group(1) or "" if labelled else value)


def dom_brand(tree: Any) -> str | None:
    """The brand from orphan ``itemprop="brand"``/``"manufacturer"`` markup (outside any
    product item), a Twitter card's ``twitter:labelN`` "Brand", a value printed after a
    "Brand:"-style label (in the same text or the next), or the cell after a spec table's
    "Brand" header."""
    for el in tree.xpath('//*[(@itemprop="brand" or @itemprop="manufacturer") and not(ancestor::*[@itemscope])]'):
        if found := _brand_of(el):
            return found
    for n in range(1, 5):
        label = tree.xpath(f'//meta[@name="twitter:label{n}"]/@content')
        if label and BRAND_CELL.fullmatch(label[0]):
            data = tree.xpath(f'//meta[@name="twitter:data{n}"]/@content')
            if data and (found := _brand_value(data[0])):
                return found
    if found := _labelled(tree, BRAND_LABEL, _brand_value):
        return found
    for cell in tree.xpath("//th | //dt | //td"):
        value = cell.getnext()
        if value is not None and value.tag in ("td", "dd") and BRAND_CELL.fullmatch(text_of(cell)):
            if found := _brand_value(text_of(value)):
                return found
    return None
