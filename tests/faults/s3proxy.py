"""A fault proxy in front of the moto S3 server: a share of requests gets a 500, a 503
SlowDown, a body cut short after its headers promised more, or no response at all after
the request was carried out (the client cannot tell whether a write happened)."""

from __future__ import annotations

import http.client
import random
import socket
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FAULTS = ("500", "slowdown", "truncate", "lose")
SLOWDOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class FaultProxy:
    """``with FaultProxy(moto_url, rate=0.3) as proxy:`` then point ``AWS_ENDPOINT_URL`` at
    ``proxy.url``. ``proxy.injected`` counts the faults served. ``only(method, path)``: the
    requests that may get a fault (default: all)."""

    def __init__(
        self,
        upstream: str,
        rate: float = 0.3,
        faults: tuple[str, ...] = FAULTS,
        seed: int = 0,
        only: Callable[[str, str], bool] | None = None,
    ):
        self.upstream = urlsplit(upstream)
        self.rate, self.faults, self.only = rate, faults, only
        self.injected: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                proxy.handle(self)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _pick(self, method: str, path: str) -> str | None:
        if self.only is not None and not self.only(method, path):
            return None
        with self._lock:
            if self._random.random() >= self.rate:
                return None
            choices = [f for f in self.faults if f != "truncate" or method == "GET"]
            fault = self._random.choice(choices)
            self.injected[fault] += 1
            return fault

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        fault = self._pick(h.command, h.path)
        if fault in ("500", "slowdown"):
            status, payload = (500, b"") if fault == "500" else (503, SLOWDOWN)
            h.send_response(status)
            h.send_header("Content-Type", "application/xml")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            return
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in ("host", "connection")}
        headers["Host"] = self.upstream.netloc
        conn.request(h.command, h.path, body=body, headers=headers)
        reply = conn.getresponse()
        data = reply.read()
        conn.close()
        if fault == "lose":  # carried out upstream; the client never hears back
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        h.send_response(reply.status)
        for key, value in reply.getheaders():
            if key.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
                h.send_header(key, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command == "HEAD":
            return
        if fault == "truncate" and len(data) > 1:
            h.wfile.write(data[: len(data) // 2])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        h.wfile.write(data)

    def __enter__(self) -> FaultProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
