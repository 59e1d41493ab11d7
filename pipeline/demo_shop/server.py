"""The demo shop: both storefronts on loopback HTTP servers, with ETags and a request log."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pipeline.demo_shop.catalog import Catalog, Product, synthetic_catalog
from pipeline.demo_shop.storefronts.base import Reply, Storefront, parse_query
from pipeline.demo_shop.storefronts.jsonld import JsonLdStore
from pipeline.demo_shop.storefronts.shopify import ShopifyStore
from pipeline.retailers import Retailer, registry_yaml

# Crawl settings for a shop on loopback: no politeness delays (it is our own server).
FAST_SETTINGS: dict[str, Any] = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    "RETRY_BACKOFF_BASE": 0.1,
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out as two writes: with Nagle on, the body of a small reply waits for
    # the client's delayed ACK of the headers (~40 ms per response on a kept-alive connection)
    disable_nagle_algorithm = True
    shop: DemoShop
    store_name: str

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the shop keeps its own log
        pass

    def _serve(self, head: bool) -> None:
        url = urlsplit(self.path)
        store = self.shop.storefronts[self.store_name]
        try:
            if self.path.startswith(tuple(store.outage)):
                reply = Reply(503, b"down for maintenance", "text/plain")
            else:
                reply = store.route(unquote(url.path), parse_query(url.query))
        except Exception as exc:  # a bug in the demo shop must show up as a 500, not a hang
            reply = Reply(500, f"demo shop error: {exc!r}".encode(), "text/plain")
        status, body, headers = _conditional(reply, self.headers)
        self.shop.record(self.store_name, self.command, self.path, self.headers, status)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and status != 304:
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 drops a crawler's parallel connects (1 s SYN retries)


def _conditional(reply: Reply, request_headers: Any) -> tuple[int, bytes, dict[str, str]]:
    """Add validators to a 200 and answer 304 when the client's copy is current."""
    headers = {"Content-Type": reply.content_type, **reply.headers}
    if reply.status != 200:
        return reply.status, reply.body, headers
    etag = f'"{hashlib.sha1(reply.body).hexdigest()[:20]}"'
    headers["ETag"] = etag
    headers.setdefault("Cache-Control", "max-age=0, must-revalidate")
    if reply.last_modified:
        headers["Last-Modified"] = formatdate(reply.last_modified.timestamp(), usegmt=True)
    inm, ims = request_headers.get("If-None-Match"), request_headers.get("If-Modified-Since")
    if inm:
        fresh = etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
    else:
        try:
            fresh = bool(ims and reply.last_modified and parsedate_to_datetime(ims) >= reply.last_modified)
        except (TypeError, ValueError):
            fresh = False
    return (304, b"", headers) if fresh else (200, reply.body, headers)


class DemoShop:
    """Two storefronts (Shopify-style and JSON-LD) over one catalog, on free loopback ports.

    Catalog products ``i % 3 == 0`` are listed at both storefronts (the JSON-LD one serves
    a resized, re-encoded copy of the photo), ``i % 3 == 1`` only at the Shopify one,
    ``i % 3 == 2`` only at the JSON-LD one. Use as a context manager.
    """

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        n_products: int = 12,
        seed: int = 0,
        mess: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        page_size: int = 24,
        log_path: Path | None = None,
        ports: dict[str, int] | None = None,
    ):
        self.catalog = catalog or synthetic_catalog(n_products, seed)
        self.host, self.port, self.log_path = host, port, log_path
        self.ports = ports or {}  # storefront → port, to serve again where an earlier run did
        products = self.catalog.products

        def store(kind: type[Storefront], unlisted: int, extras_seed: int, extras_prefix: str, **kw: Any) -> Storefront:
            """A storefront listing the products ``i % 3 != unlisted``, plus its own messy extras."""
            listed = [p for i, p in enumerate(products) if i % 3 != unlisted]
            extras = synthetic_catalog(len(kind.MESS), seed + extras_seed, extras_prefix)
            return kind(self.catalog, listed, mess=mess, page_size=page_size, extras=extras, **kw)

        shared = {p.pid for i, p in enumerate(products) if i % 3 == 0}
        self.storefronts: dict[str, Storefront] = {
            "shopify": store(ShopifyStore, 2, 101, "x-"),
            "jsonld": store(JsonLdStore, 1, 202, "y-", copy_scale=0.9, copied=shared),
        }
        self._servers: list[_Server] = []
        self._log: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> DemoShop:
        offsite_host = "localhost" if self.host != "localhost" else "127.0.0.1"
        for k, (name, store) in enumerate(self.storefronts.items()):
            handler = type(f"{name}Handler", (_Handler,), {"shop": self, "store_name": name})
            server = _Server((self.host, self.ports.get(name, self.port + k if self.port else 0)), handler)
            port = server.server_address[1]
            store.base_url = f"http://{self.host}:{port}"
            store.offsite_base = f"http://{offsite_host}:{port}"
            if isinstance(store, ShopifyStore):
                store.warm()
            threading.Thread(target=server.serve_forever, name=f"demo-shop-{name}", daemon=True).start()
            self._servers.append(server)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self) -> DemoShop:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- registry --------------------------------------------------------------------------------
    def retailers(self, prefix: str = "demo", settings: dict[str, Any] | None = None) -> list[Retailer]:
        """Registry entries for both storefronts (``<prefix>-shopify``, ``<prefix>-jsonld``)."""
        settings = dict(FAST_SETTINGS if settings is None else settings)
        shopify, jsonld = self.storefronts["shopify"].base_url, self.storefronts["jsonld"].base_url
        return [
            Retailer(f"{prefix}-shopify", "shopify", shopify, settings=settings),
            Retailer(
                f"{prefix}-jsonld",
                "jsonld",
                jsonld,
                start_urls=[f"{jsonld}/collections/all"],
                sitemap_urls=[f"{jsonld}/sitemap.xml"],
                settings=dict(settings),
            ),
        ]

    def registry_yaml(self, prefix: str = "demo", settings: dict[str, Any] | None = None) -> str:
        return registry_yaml(self.retailers(prefix, settings))

    def write_registry(self, path: Path, prefix: str = "demo", settings: dict[str, Any] | None = None) -> Path:
        """Write this shop's registry YAML atomically (a waiting process sees all or nothing)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(self.registry_yaml(prefix, settings))
        tmp.replace(path)
        return path

    # -- changes ---------------------------------------------------------------------------------
    def change(self, products: list[Product]) -> list[Product]:
        """Change products as a shop would: new photo (new image URL) and a new price."""
        now = datetime.now(UTC)
        for product in products:
            product.version += 1
            product.price = round(product.price * 0.9, 2)
            product.modified_at = now
        return products

    def add(self, products: list[Product]) -> None:
        """New catalog products, spread over the storefronts like the first ones (every third
        at both, the JSON-LD one serving a re-encoded copy)."""
        shopify, jsonld = self.storefronts["shopify"], self.storefronts["jsonld"]
        now = datetime.now(UTC)
        for product in products:
            i = len(self.catalog.products)
            self.catalog.products.append(product)
            product.modified_at = now
            if i % 3 != 2:
                shopify.add([product])
            if i % 3 != 1:
                jsonld.add([product])
            if i % 3 == 0:
                jsonld.copied.add(product.pid)

    def remove(self, products: list[Product]) -> None:
        """Delist products at every storefront (a crawl then marks them unavailable)."""
        for store in self.storefronts.values():
            store.remove(products)

    def change_fraction(self, fraction: float = 0.05) -> list[Product]:
        """Change every k-th catalog product so that ``fraction`` of them change."""
        n = max(1, math.ceil(len(self.catalog.products) * fraction))
        step = len(self.catalog.products) // n
        return self.change(self.catalog.products[::step][:n])

    # -- request log -----------------------------------------------------------------------------
    def record(self, store: str, method: str, path: str, headers: Any, status: int) -> None:
        entry = {
            "store": store,
            "method": method,
            "path": path,
            "host": headers.get("Host", ""),
            "status": status,
            "user_agent": headers.get("User-Agent", ""),
            "conditional": bool(headers.get("If-None-Match") or headers.get("If-Modified-Since")),
            "time": time.time(),
        }
        with self._log_lock:
            self._log.append(entry)
            if self.log_path:
                with open(self.log_path, "a") as fh:
                    fh.write(json.dumps(entry) + "\n")

    def requests(self, store: str | None = None) -> list[dict[str, Any]]:
        """Requests served so far (optionally for one storefront), oldest first."""
        with self._log_lock:
            return [e for e in self._log if store is None or e["store"] == store]

    def clear_log(self) -> None:
        with self._log_lock:
            self._log.clear()
