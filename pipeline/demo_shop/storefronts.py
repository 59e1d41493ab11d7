"""The two demo storefronts: a Shopify-style JSON storefront and a JSON-LD HTML storefront.

Each maps a request path to a :class:`Reply`; the server (``server.py``) adds ETags, 304s,
logging. With ``mess=True`` they also serve what real retailer sites serve: robots.txt rules,
a 503 that succeeds on retry, 404s, broken and hostile images, off-domain image URLs,
redirects, lazy images, products that are invalid, only in the sitemap or only in listings.
"""
from __future__ import annotations

import gzip
import html
import json
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import parse_qs, quote

from pipeline.demo_shop.catalog import Catalog, Product, transcode

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
CURRENCY = "EUR"


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    last_modified: datetime | None = None


JSON_TYPE = "application/json; charset=utf-8"


def _json(obj: object) -> Reply:
    """Compact JSON, as Shopify serves it (``indent`` would also take the slow pure-Python encoder)."""
    return Reply(200, json.dumps(obj, separators=(",", ":")).encode(), JSON_TYPE)


def _image(data: bytes) -> Reply:
    return Reply(200, data, _sniff_type(data), {"Cache-Control": "public, max-age=31536000"})


def _sniff_type(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def _updated(product: Product) -> datetime:
    return product.modified_at or EPOCH


def png_header_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header claims ``width``×``height`` pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


class Storefront:
    """A storefront over a list of products; ``base_url`` is set once the server is bound.

    ``extras`` are the messy products (each with a ``kind`` from ``MESS``), served only with
    ``mess=True``. Shared products may be served re-encoded (``copy_scale``), as the same
    photo looks at another retailer.
    """

    platform = ""
    disallowed: tuple[str, ...] = ()
    MESS: tuple[str, ...] = ()

    def __init__(self, catalog: Catalog, products: list[Product], *, mess: bool, page_size: int,
                 extras: Catalog | None = None, copy_scale: float | None = None,
                 copied: set[int] | None = None):
        self.catalog = catalog
        self.mess = mess
        self.page_size = page_size
        self.extras = extras if mess else None
        self.copy_scale = copy_scale
        self.copied = copied or set()
        self.base_url = ""
        self.offsite_base = ""  # the same server under a host name that is not allowed
        self.outage: set[str] = set()  # path prefixes answered 503 until removed (a broken shop)
        extra_products = self.extras.products if self.extras else []
        messy = list(zip(extra_products, self.MESS, strict=False))  # empty without mess
        self.entries: list[tuple[Product, str]] = [(p, "") for p in products] + messy
        self._index = {p.handle: i for i, (p, _) in enumerate(self.entries)}
        self.slot = {p.pid: i for i, (p, _) in enumerate(self.entries)}  # stable position: page style etc.
        self._shown: list[tuple[Product, str]] | None = None  # the listing, made on first request
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._memo: dict[tuple, bytes] = {}

    def add(self, products: list[Product]) -> None:
        """List new products (after the ones already listed)."""
        for product in products:
            self.slot[product.pid] = len(self.slot)
            self.entries.append((product, ""))
        self._index, self._shown = {p.handle: i for i, (p, _) in enumerate(self.entries)}, None

    def remove(self, products: list[Product]) -> None:
        """Take products off the storefront (their pages and images then answer 404)."""
        gone = {p.pid for p in products}
        self.entries = [(p, k) for p, k in self.entries if p.pid not in gone]
        self._index, self._shown = {p.handle: i for i, (p, _) in enumerate(self.entries)}, None

    @property
    def products(self) -> list[Product]:
        """Every product the storefront lists, mess included."""
        return [p for p, _ in self.entries]

    def entry(self, handle: str) -> tuple[int, Product, str] | None:
        """(stable slot, product, mess kind) of a listed handle."""
        i = self._index.get(handle)
        return None if i is None else (self.slot[self.entries[i][0].pid], *self.entries[i])

    def first_time(self, key: str) -> bool:
        """True the first time ``key`` is asked for (for errors that go away on retry)."""
        with self._lock:
            new = key not in self._seen
            self._seen.add(key)
            return new

    def memo(self, key: tuple, make: Callable[[], bytes]) -> bytes:
        """Re-encoded photos are made once per (product, version, form)."""
        with self._lock:
            hit = self._memo.get(key)
        if hit is None:
            hit = make()
            with self._lock:
                self._memo[key] = hit
        return hit

    def photo(self, product: Product, kind: str, fmt: str = "") -> bytes:
        """The photo as this storefront serves it (``fmt``: re-encode to png/webp/cmyk/...)."""
        data = self.extras.photo(product) if kind else self.catalog.photo(product)
        if not kind and self.copy_scale and product.pid in self.copied:
            data = self.memo((product.pid, product.version, "copy"), lambda: transcode(
                data, "jpeg", scale=self.copy_scale, quality=85))
        if not fmt:
            return data
        return self.memo((product.pid, product.version, fmt), lambda: transcode(
            data, fmt, scale=0.1 if fmt == "tiny" else 1.0))

    def robots(self) -> Reply:
        rules = "\n".join(f"Disallow: {p}" for p in self.disallowed)
        text = f"User-agent: *\n{rules}\n\nSitemap: {self.base_url}/sitemap.xml\n"
        return Reply(200, text.encode(), "text/plain; charset=utf-8")

    def route(self, path: str, query: dict[str, list[str]]) -> Reply:
        raise NotImplementedError


# -- Shopify -----------------------------------------------------------------------------------
class ShopifyStore(Storefront):
    """``/products.json?page=N&limit=250``, ``/products/<handle>.json``, ``/meta.json``."""

    platform = "shopify"
    disallowed = ("/admin", "/cart", "/checkouts", "/search")
    MESS = ("no-images", "img-404", "offsite-png", "webp-variants", "blank-title")

    def _file(self, product: Product, ext: str = "jpg") -> str:
        return f"/cdn/shop/files/{product.handle}-v{product.version}.{ext}"

    def _srcs(self, product: Product, kind: str) -> list[str]:
        host = self.base_url.split("://", 1)[1]
        own = f"//{host}{self._file(product)}?v={1700000000 + product.version}"
        if kind == "no-images":
            return []
        if kind == "img-404":
            return [own, f"//{host}/cdn/shop/files/missing-{product.handle}.jpg"]
        if kind == "offsite-png":
            return [f"{self.offsite_base}{self._file(product)}", f"//{host}{self._file(product, 'png')}"]
        if kind == "webp-variants":
            webp = self._file(product, "webp")
            return [f"//{host}{webp}?v=1&width=800", f"http://{host}{webp}?width=400&v=1", f"//{host}{webp}?v=2"]
        return [own]

    def product_json(self, product: Product, kind: str, *, tags_as_string: bool = False) -> dict:
        sizes = ["One size"] if product.product_type == "Handbags" else ["S", "M", "L"]
        price = f"{product.price:.2f}"
        variants = [
            {"id": product.pid * 100 + i, "product_id": product.pid, "title": f"{product.color.title()} / {s}",
             "option1": product.color.title(), "option2": s, "option3": None, "sku": f"SKU-{product.pid}-{s}",
             "price": price, "compare_at_price": None, "available": i != 1, "position": i + 1,
             "created_at": EPOCH.isoformat(), "updated_at": _updated(product).isoformat()}
            for i, s in enumerate(sizes)
        ]
        images = [
            {"id": product.pid * 10 + i, "product_id": product.pid, "position": i + 1, "src": src,
             "width": 224, "height": 224, "alt": product.title, "variant_ids": []}
            for i, src in enumerate(self._srcs(product, kind))
        ]
        return {
            "id": product.pid, "title": "  " if kind == "blank-title" else product.title,
            "handle": product.handle, "body_html": f"<p>{html.escape(product.description)}</p>",
            "published_at": EPOCH.isoformat(), "created_at": EPOCH.isoformat(),
            "updated_at": _updated(product).isoformat(), "vendor": product.vendor,
            "product_type": product.product_type,
            "tags": ", ".join(product.tags) if tags_as_string else list(product.tags),
            "variants": variants, "images": images,
            "options": [
                {"name": "Color", "position": 1, "values": [product.color.title()]},
                {"name": "Size", "position": 2, "values": sizes},
            ],
        }

    def warm(self) -> None:
        """Encode every listed product now (a real storefront serves its listings from a cache)."""
        for product, kind in self.entries:
            self._product_bytes(product, kind)

    def _product_bytes(self, product: Product, kind: str) -> bytes:
        """A product's ``products.json`` entry, encoded once per (product, version, price, host):
        a listing page is then a join, so the shop is not what a crawl benchmark measures."""
        key = ("json", product.pid, product.version, product.price, kind, self.base_url, self.offsite_base)
        hit = self._memo.get(key)  # a dict read is atomic; a race only encodes twice
        if hit is None:
            hit = self._memo[key] = json.dumps(self.product_json(product, kind), separators=(",", ":")).encode()
        return hit

    def route(self, path: str, query: dict[str, list[str]]) -> Reply:
        if path == "/robots.txt":
            return self.robots()
        if path == "/meta.json":
            return _json({"name": "Demo Shopify store", "currency": CURRENCY, "country": "DE",
                          "url": self.base_url, "published_products_count": len(self.entries)})
        if path == "/products.json":
            page = max(1, int(query.get("page", ["1"])[0]))
            limit = min(250, max(1, int(query.get("limit", ["30"])[0])))
            if self.mess and page == 2 and self.first_time("products.json?page=2"):
                return Reply(503, b"busy", "text/plain", {"Retry-After": "1"})
            chunk = self.entries[(page - 1) * limit: page * limit]
            body = b",".join(self._product_bytes(p, kind) for p, kind in chunk)
            return Reply(200, b'{"products":[' + body + b"]}", JSON_TYPE)
        if path.startswith("/products/") and path.endswith(".json"):
            found = self.entry(path[len("/products/"):-len(".json")])
            if found:
                return _json({"product": self.product_json(found[1], found[2], tags_as_string=True)})
        if path.startswith("/cdn/shop/files/"):
            return self._serve_file(path.rsplit("/", 1)[1])
        return Reply(404, b"not found", "text/plain")

    def _serve_file(self, name: str) -> Reply:
        stem, _, ext = name.rpartition(".")
        handle, _, version = stem.rpartition("-v")
        found = self.entry(handle)
        if not found or str(found[1].version) != version:
            return Reply(404, b"not found", "text/plain")
        _, product, kind = found
        return _image(self.photo(product, kind, {"png": "rgba", "webp": "webp"}.get(ext, "")))


# -- JSON-LD -----------------------------------------------------------------------------------
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>{head}</head>
<body><nav><a href="/">Home</a> <a href="/collections/all">All</a> <a href="/search?q=dress">Search</a>
<a href="/cart">Cart</a> <a href="/pages/about">About</a></nav>{body}</body></html>"""


class JsonLdStore(Storefront):
    """HTML listing pages with pagination, product pages with schema.org data, sitemaps."""

    platform = "jsonld"
    SITEMAP_URLS = 10_000  # URLs per sitemap part (the protocol allows 50,000)
    disallowed = ("/search", "/cart", "/account", "/products/secret-")
    MESS = ("corrupt", "truncated", "html", "bomb", "cmyk", "noindex", "tiny", "moved", "away", "page-noindex",
            "no-title")

    def media(self, product: Product, kind: str = "") -> str:
        suffix = f"-{kind}" if kind and kind not in ("no-title", "page-noindex") else ""
        return f"/media/{product.handle}-v{product.version}{suffix}.jpg"

    def in_listing(self, i: int) -> bool:
        return not (self.mess and i % 4 == 3)

    def in_sitemap(self, i: int) -> bool:
        return not (self.mess and i % 5 == 4 and self.in_listing(i))  # every product findable one way

    def route(self, path: str, query: dict[str, list[str]]) -> Reply:
        if path == "/robots.txt":
            return self.robots()
        if path == "/sitemap.xml":
            return self._sitemap_index()
        if path in self._sitemap_paths():
            return self._sitemap(self._sitemap_paths().index(path))
        if path in ("/", "/collections/all"):
            return self._listing(max(1, int(query.get("page", ["1"])[0])))
        if path == "/pages/about":
            return Reply(200, PAGE.format(title="About", head="", body="<p>About us</p>").encode())
        if path.startswith("/products/"):
            found = self.entry(path[len("/products/"):])
            if found:
                headers = {"X-Robots-Tag": "noimageindex"} if found[2] == "page-noindex" else {}
                return Reply(200, self._render_product(*found).encode(), headers=headers,
                             last_modified=_updated(found[1]))
        if path.startswith("/media/"):
            return self._media(path[len("/media/"):])
        return Reply(404, PAGE.format(title="Not found", head="", body="<h1>Not found</h1>").encode())

    # sitemaps
    def _sitemap_paths(self) -> list[str]:
        """At least two parts (every other one gzipped), at most ``SITEMAP_URLS`` URLs each."""
        n = max(2, -(-len(self.entries) // self.SITEMAP_URLS))
        return [f"/sitemap-products-{k}.xml{'.gz' if k % 2 == 0 else ''}" for k in range(1, n + 1)]

    def _sitemap_index(self) -> Reply:
        body = "".join(f"<sitemap><loc>{self.base_url}{p}</loc></sitemap>" for p in self._sitemap_paths())
        xml = ('<?xml version="1.0" encoding="UTF-8"?><sitemapindex '
               f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</sitemapindex>')
        return Reply(200, xml.encode(), "application/xml")

    def _sitemap(self, part: int) -> Reply:
        """Part ``part`` (0-based) of the product sitemap, with each page's ``<lastmod>``."""
        listed = [p for p, _ in self.entries if self.in_sitemap(self.slot[p.pid])]
        n_parts = len(self._sitemap_paths())
        size = -(-(len(listed) + self.mess) // n_parts)
        urls = [(f"{self.base_url}/products/{quote(p.handle)}", f"<lastmod>{_updated(p).isoformat()}</lastmod>")
                for p in listed[part * size: (part + 1) * size]]
        if self.mess and part == n_parts - 1:  # 404: removed from the shop; no lastmod
            urls.append((f"{self.base_url}/products/discontinued-item", ""))
        body = "".join(f"<url><loc>{html.escape(u)}</loc>{lastmod}</url>" for u, lastmod in urls)
        xml = ('<?xml version="1.0" encoding="UTF-8"?><urlset '
               f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</urlset>')
        if part % 2:
            return Reply(200, gzip.compress(xml.encode(), mtime=0), "application/x-gzip")
        return Reply(200, xml.encode(), "application/xml")

    # listings
    def _listing(self, page: int) -> Reply:
        if self._shown is None:  # listed products, kept until the catalog changes
            self._shown = [(p, k) for p, k in self.entries if self.in_listing(self.slot[p.pid])]
        shown = self._shown
        n_pages = max(1, -(-len(shown) // self.page_size))
        cards = "".join(
            f'<li class="product-card"><a href="/products/{quote(p.handle)}">'
            f'<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="{self.media(p, k)}" '
            f'srcset="{self.media(p, k)} 1x" alt="{html.escape(p.title)}">'
            f"<span>{html.escape(p.title)}</span></a></li>"
            for p, k in shown[(page - 1) * self.page_size: page * self.page_size]
        )
        if self.mess and page == 1:
            cards += '<li class="product-card"><a href="/products/secret-sample">Sample (staff only)</a></li>'
        head = nav = ""
        if page < n_pages:
            head = f'<link rel="next" href="/collections/all?page={page + 1}">'
            nav = f'<a class="pagination__next" href="/collections/all?page={page + 1}">Next &raquo;</a>'
        body = f"<h1>All products</h1><ul>{cards}</ul><div class='pagination'>{nav}</div>"
        return Reply(200, PAGE.format(title=f"All products - page {page}", head=head, body=body).encode())

    # product pages: five ways real shops mark up a product
    def _render_product(self, i: int, p: Product, kind: str) -> str:
        url = f"{self.base_url}/products/{quote(p.handle)}"
        image = f"{self.base_url}{self.media(p, kind)}"
        name = "" if kind == "no-title" else p.title
        offer = {"@type": "Offer", "price": f"{p.price:.2f}", "priceCurrency": CURRENCY,
                 "availability": "https://schema.org/InStock", "url": url}
        crumbs = {"@type": "BreadcrumbList", "itemListElement": [
            {"@type": "ListItem", "position": k + 1, "name": c,
             "item": f"{self.base_url}/collections/{quote(c.lower())}"}
            for k, c in enumerate(p.category_path)]}
        base = {"name": name, "description": p.description, "sku": f"SKU-{p.pid}", "color": p.color.title(),
                "category": " > ".join(p.category_path)}
        if p.pattern:
            base["pattern"] = p.pattern.title()
        if p.material:
            base["material"] = p.material.title()
        head, body = f'<link rel="canonical" href="{url}">', f"<h1>{html.escape(name)}</h1>"
        style = i % 5
        if style == 0:
            ld = {"@context": "https://schema.org", "@type": "Product", **base, "brand": p.vendor,
                  "image": image, "offers": offer}
            head += _ld(ld) + _ld({"@context": "https://schema.org", **crumbs})
        elif style == 1:
            ld = {"@context": "https://schema.org", "@graph": [
                {"@type": "WebPage", "@id": url, "name": name}, crumbs,
                {"@type": "Product", **base, "brand": {"@type": "Brand", "name": p.vendor},
                 "image": [image[len(self.base_url):]], "offers": [offer]}]}
            head += _ld(ld)
        elif style == 2:
            ld = {"@context": "https://schema.org", "@type": "ProductGroup", **base,
                  "productGroupID": f"G{p.pid}", "brand": {"@type": "Brand", "name": p.vendor},
                  "image": {"@type": "ImageObject", "url": image, "width": 224, "height": 224},
                  "offers": {"@type": "AggregateOffer", "lowPrice": p.price, "highPrice": round(p.price + 10, 2),
                             "priceCurrency": CURRENCY, "offerCount": 3},
                  "hasVariant": [{"@type": "Product", "sku": f"SKU-{p.pid}-{s}", "size": s} for s in "SML"]}
            head += _ld(ld) + _ld({"@context": "https://schema.org", **crumbs})
        elif style == 3:  # microdata only, lazy relative image
            body += (
                f'<div itemscope itemtype="https://schema.org/Product"><span itemprop="name">{html.escape(name)}</span>'
                f'<meta itemprop="sku" content="SKU-{p.pid}"><span itemprop="brand">{html.escape(p.vendor)}</span>'
                f'<span itemprop="color">{p.color.title()}</span>'
                f'<img itemprop="image" class="lazy" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" '
                f'data-src="{image[len(self.base_url):]}">'
                f'<p itemprop="description">{html.escape(p.description)}</p>'
                f'<div itemprop="offers" itemscope itemtype="https://schema.org/Offer">'
                f'<meta itemprop="price" content="{p.price:.2f}"><meta itemprop="priceCurrency" content="{CURRENCY}">'
                f'<link itemprop="availability" href="https://schema.org/InStock"></div></div>'
            )
        else:  # OpenGraph only
            head += (
                f'<meta property="og:type" content="product"><meta property="og:title" content="{html.escape(name)}">'
                f'<meta property="og:image" content="{image}"><meta property="og:url" content="{url}">'
                f'<meta property="og:description" content="{html.escape(p.description)}">'
                f'<meta property="product:brand" content="{html.escape(p.vendor)}">'
                f'<meta property="product:price:amount" content="{p.price:.2f}">'
                f'<meta property="product:price:currency" content="{CURRENCY}">'
                f'<meta property="product:color" content="{p.color.title()}">'
            )
        return PAGE.format(title=html.escape(name or "Product"), head=head, body=body)

    # media
    def _media(self, name: str) -> Reply:
        stem = name.rsplit(".", 1)[0]
        for kind in (*self.MESS, ""):
            suffix = f"-{kind}" if kind else ""
            if suffix and not stem.endswith(suffix):
                continue
            handle, _, version = stem[: len(stem) - len(suffix)].rpartition("-v")
            found = self.entry(handle)
            if found and str(found[1].version) == version and (not kind or found[2] == kind):
                return self._media_reply(found[1], kind)
        return Reply(404, b"not found", "text/plain")

    def _media_reply(self, product: Product, kind: str) -> Reply:
        data = self.photo(product, kind)
        if kind == "corrupt":
            return _image(data[:20] + bytes(range(256)) * 8)
        if kind == "truncated":
            return _image(data[: len(data) // 2])
        if kind == "html":
            return Reply(200, b"<html><body>Image not available</body></html>", "image/jpeg")
        if kind == "bomb":
            return Reply(200, png_header_bomb(), "image/png")
        if kind == "cmyk":
            return _image(self.photo(product, kind, "cmyk"))
        if kind == "noindex":
            reply = _image(data)
            reply.headers["X-Robots-Tag"] = "noimageindex"
            return reply
        if kind == "tiny":
            return _image(self.photo(product, kind, "tiny"))
        if kind == "moved":
            return Reply(301, b"", headers={"Location": self.media(product)})
        if kind == "away":
            return Reply(302, b"", headers={"Location": f"{self.offsite_base}{self.media(product)}"})
        return _image(data)


def _ld(obj: dict) -> str:
    text = json.dumps(obj).replace("</", "<\\/")
    return f'<script type="application/ld+json">{text}</script>'


def parse_query(query: str) -> dict[str, list[str]]:
    return parse_qs(query, keep_blank_values=True)
