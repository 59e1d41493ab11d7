"""Semantic markup of a page, read by ``extruct``, as schema.org nodes in one shape.

JSON-LD comes as written (``extruct`` parses each block leniently: HTML and JS comments,
``CDATA`` wrappers and trailing commas are dropped; a block that still fails is skipped
alone). Microdata items, which ``extruct`` scopes to their own ``itemscope`` with nested
``Brand``/``Offer``/``ImageObject`` items, are rewritten into the same JSON-LD shape
(``{"@type": ..., "name": ...}``), so one policy reads both.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import lxml.etree
import lxml.html
from extruct.jsonld import JsonLdExtractor
from extruct.opengraph import OpenGraphExtractor
from extruct.utils import parse_html
from extruct.w3cmicrodata import MicrodataExtractor
from w3lib.encoding import html_to_unicode

logger = logging.getLogger(__name__)

LAZY_ATTRS = ("data-src", "data-original", "data-lazy-src", "data-zoom-image")
JSONLD_SCRIPTS = '//script[@type="application/ld+json"]'
_JSONLD, _MICRODATA, _OPENGRAPH = JsonLdExtractor(), MicrodataExtractor(), OpenGraphExtractor()


def parse(html: str | bytes) -> lxml.html.HtmlElement:
    """The page as one lxml tree (what every extractor here reads). Bytes (a saved page as
    stored) are UTF-8 when they decode as such, else decoded by their BOM or declared charset
    (``w3lib``, as a browser would). The text goes to lxml as UTF-8 bytes: given a ``str``, lxml
    refuses an XHTML page that opens with an XML declaration naming its encoding. A page
    without an element (empty, only a comment or a doctype) is an empty document, and markup
    after ``</html>`` joins the body."""
    if isinstance(html, bytes):
        data = html
        try:  # valid UTF-8 is UTF-8, whatever a re-saved page still declares
            html = data.decode("utf-8")
        except UnicodeDecodeError:
            html = html_to_unicode(None, data)[1]
    try:
        tree = parse_html(html.encode("utf-8", "surrogatepass"), encoding="utf-8")
    except lxml.etree.ParserError:  # "Document is empty"
        return lxml.html.document_fromstring("<html><body></body></html>")
    _join_roots(tree)
    return tree


def _join_roots(tree: lxml.html.HtmlElement) -> None:
    """Move what follows ``</html>`` into the body, as a browser reads it: libxml2 makes it
    another root element, which the first root's ``iter()`` (and extruct's microdata item
    index) never reaches though the page's XPath does."""
    root = tree.getroottree().getroot()
    extras = [e for e in root.itersiblings() if isinstance(e.tag, str)]
    body = root.find("body")
    into = root if body is None else body
    for extra in extras:
        for child in list(extra):
            into.extend(list(child) if child.tag in ("head", "body") else [child])


def jsonld(tree: Any) -> list[dict]:
    """Top-level JSON-LD nodes, block by block (one broken block does not lose the others)."""
    nodes: list[dict] = []
    for script in tree.xpath(JSONLD_SCRIPTS):
        try:
            nodes.extend(n for n in _JSONLD.extract_items(script) if isinstance(n, dict))
        except (ValueError, RecursionError) as exc:  # broken, or nested deeper than Python's stack
            logger.debug("unparseable JSON-LD block skipped: %s", exc)
    return nodes


def _unlazy_images(tree: Any) -> None:
    """``<img itemprop="image">`` placeholders get their real URL (``data-src``, largest of a srcset)."""
    for img in tree.xpath('//img[@itemprop="image"]'):
        src = img.get("src") or ""
        real = next((img.get(a) for a in LAZY_ATTRS if img.get(a)), None)
        real = real or largest(img.get("data-srcset") or "") or (largest(img.get("srcset") or "") if not src else None)
        if real and (not src or src.startswith("data:") or real != src):
            img.set("src", real)


def largest(srcset: str) -> str | None:
    """The widest candidate of a ``srcset`` (``a.jpg 300w, b.jpg 900w`` → ``b.jpg``)."""
    best, best_size = None, -1.0
    for part in srcset.split(","):
        bits = part.strip().split()
        if not bits:
            continue
        size = float(re.sub(r"[^\d.]", "", bits[1]) or 0) if len(bits) > 1 else 1.0
        if size > best_size:
            best, best_size = bits[0], size
    return best


def microdata(tree: Any, base_url: str) -> list[dict]:
    """Top-level microdata items as JSON-LD-shaped nodes (nested items nested)."""
    _unlazy_images(tree)
    try:
        items = _MICRODATA.extract_items(tree, base_url)
        return [_as_jsonld(item) for item in items if isinstance(item, dict)]
    except (ValueError, TypeError, RecursionError) as exc:  # items nested deeper than Python's stack
        logger.debug("microdata not readable: %s", exc)
        return []


def _as_jsonld(value: Any) -> Any:
    if isinstance(value, list):
        return [_as_jsonld(v) for v in value]
    if isinstance(value, dict) and ("properties" in value or "type" in value):
        node = {key: _as_jsonld(v) for key, v in (value.get("properties") or {}).items()}
        if isinstance(node.get("name"), str):
            node["name"] = _first_line(node["name"])
        if not node and isinstance(value.get("value"), str):
            node["@value"] = value["value"]  # an item without properties: its element's text
        if value.get("type"):
            node["@type"] = value["type"]
        if value.get("id"):
            node["@id"] = value["id"]
        return node
    return value


def _first_line(text: str) -> str:
    """A ``name`` put on a large element is its whole text, one block per line: the first block
    is the name (the heading), the rest is what else the element holds."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else text


def opengraph(tree: Any) -> dict[str, list[str]]:
    """OpenGraph and ``product:`` properties of the page head: name (lower-cased) → values in order."""
    props: dict[str, list[str]] = {}
    for block in _OPENGRAPH.extract_items(tree):
        for key, value in block.get("properties") or []:
            if isinstance(value, str) and value.strip():
                props.setdefault(key.lower(), []).append(value.strip())
    return props
