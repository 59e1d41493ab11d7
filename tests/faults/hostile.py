"""A hostile retailer for the fault tests: a running demo-shop storefront whose replies a
test replaces (once or always), plus the replies real shops and attackers send: HTML error
pages, empty listings, gzip bombs, deeply nested JSON, redirects to other loopback services,
endless pagination and sitemap chains. And an "internal service" on another loopback port
that records whoever reaches it."""

from __future__ import annotations

import gzip
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

from pipeline.demo_shop.storefronts.base import Reply, Storefront

Match = Callable[[str, dict[str, list[str]]], bool]


@dataclass
class Rule:
    match: Match
    reply: Callable[[str, dict[str, list[str]]], Reply]
    times: int | None  # None: always
    hits: int = 0


class Hostile:
    """Replace some of a storefront's replies: ``hostile.serve(match, reply, times=1)``."""

    def __init__(self, store: Storefront):
        self.store = store
        self.rules: list[Rule] = []
        self._route = store.route
        store.route = self.route  # type: ignore[method-assign]

    def serve(self, match: Match, reply: Reply | Callable[[str, dict], Reply], times: int | None = None) -> Rule:
        rule = Rule(match, reply if callable(reply) else (lambda path, query, r=reply: r), times)
        self.rules.append(rule)
        return rule

    def route(self, path: str, query: dict[str, list[str]]) -> Reply:
        for rule in self.rules:
            if (rule.times is None or rule.hits < rule.times) and rule.match(path, query):
                rule.hits += 1
                return rule.reply(path, query)
        return self._route(path, query)

    def restore(self) -> None:
        self.store.route = self._route  # type: ignore[method-assign]


def page(n: int) -> Match:
    """The Shopify listing page ``n``."""
    return lambda path, query: path == "/products.json" and query.get("page", ["1"])[0] == str(n)


# -- hostile replies --------------------------------------------------------------------------------
HTML_ERROR = Reply(200, b"<!doctype html><html><body><h1>Oops, something went wrong</h1></body></html>")
EMPTY_LISTING = Reply(200, b'{"products": []}', "application/json")


def gzip_bomb(megabytes: int = 64) -> Reply:
    """A small gzip body that inflates past DOWNLOAD_MAXSIZE."""
    return Reply(200, gzip.compress(b"\0" * (megabytes << 20), 9), "application/json", {"Content-Encoding": "gzip"})


def deep_json(depth: int = 100_000) -> Reply:
    return Reply(200, b'{"products": ' + b"[" * depth + b"]" * depth + b"}", "application/json")


def redirect(location: str) -> Reply:
    return Reply(302, b"", "text/plain", {"Location": location})


def png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, "PNG", optimize=True)
    return buf.getvalue()


class InternalService:
    """Something on another loopback port that a crawler must never reach (an admin API, a
    metadata service): answers every path with a PNG and records the request."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        body = png(120, 120)
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                service.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> InternalService:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
