"""What every demo storefront shares: the :class:`Storefront` base (products, mess, photos,
robots.txt) and the :class:`Reply` a route returns. One module per platform beside it, as in
``scrapers/spiders/``; the server (``server.py``) adds ETags, 304s and logging."""

from __future__ import annotations

import json
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs

from pipeline.demo_shop.catalog import Catalog, Product, transcode

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
CURRENCY = "EUR"


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    last_modified: datetime | None = None


JSON_TYPE = "application/json; charset=utf-8"


def json_reply(obj: object) -> Reply:
    """Compact JSON, as Shopify serves it (``indent`` would also take the slow pure-Python encoder)."""
    return Reply(200, json.dumps(obj, separators=(",", ":")).encode(), JSON_TYPE)


def image_reply(data: bytes) -> Reply:
    return Reply(200, data, _sniff_type(data), {"Cache-Control": "public, max-age=31536000"})


def _sniff_type(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def updated_at(product: Product) -> datetime:
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

    def __init__(
        self,
        catalog: Catalog,
        products: list[Product],
        *,
        mess: bool,
        page_size: int,
        extras: Catalog | None = None,
        copy_scale: float | None = None,
        copied: set[int] | None = None,
    ):
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
        data = self.extras.photo(product) if kind and self.extras else self.catalog.photo(product)
        scale = self.copy_scale
        if not kind and scale and product.pid in self.copied:
            data = self.memo(
                (product.pid, product.version, "copy"), lambda: transcode(data, "jpeg", scale=scale, quality=85)
            )
        if not fmt:
            return data
        return self.memo(
            (product.pid, product.version, fmt), lambda: transcode(data, fmt, scale=0.1 if fmt == "tiny" else 1.0)
        )

    def robots(self) -> Reply:
        rules = "\n".join(f"Disallow: {p}" for p in self.disallowed)
        text = f"User-agent: *\n{rules}\n\nSitemap: {self.base_url}/sitemap.xml\n"
        return Reply(200, text.encode(), "text/plain; charset=utf-8")

    def route(self, path: str, query: dict[str, list[str]]) -> Reply:
        raise NotImplementedError


def parse_query(query: str) -> dict[str, list[str]]:
    return parse_qs(query, keep_blank_values=True)
