"""Downloader middlewares: refuse private network addresses, retry with backoff and Retry-After."""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.downloadermiddlewares.stats import DownloaderStats
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.response import response_status_message

from pipeline.retailers import Retailer

logger = logging.getLogger(__name__)


def is_private(address: str) -> bool:
    """Private, loopback, link-local, multicast, reserved or unspecified (not the public internet)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified)


def resolve(host: str) -> list[str]:
    """IP addresses of ``host`` (itself when it is an IP literal); [] when it does not resolve."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, None)})
    except OSError:
        return []


class PrivateNetworkMiddleware:
    """Refuse requests whose host resolves to a private/loopback/link-local address (SSRF
    guard), unless the retailer's own ``base_url`` is on such an address (a shop on the LAN,
    or the demo shop on 127.0.0.1). Applies to pages, robots.txt, images and redirects."""

    def __init__(self, crawler: Any):
        self.stats = crawler.stats
        retailer = Retailer.from_json(crawler.settings["VITRINE_RETAILER"])
        self.allow_private = any(is_private(a) for a in resolve(retailer.host))
        self._cache: dict[str, str | None] = {}

    @classmethod
    def from_crawler(cls, crawler: Any) -> "PrivateNetworkMiddleware":
        return cls(crawler)

    def _private_address(self, host: str) -> str | None:
        if host not in self._cache:
            self._cache[host] = next((a for a in resolve(host) if is_private(a)), None)
        return self._cache[host]

    def process_request(self, request: Request) -> None:
        if self.allow_private:
            return None
        host = urlparse_cached(request).hostname or ""
        address = self._private_address(host)
        if address:
            self.stats.inc_value("vitrine/refused/private_address")
            raise IgnoreRequest(f"private address: {host} resolves to {address}")
        return None


def retry_after_seconds(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries (``RETRY_TIMES``, ``RETRY_HTTP_CODES``) plus waiting before each retry:
    the server's ``Retry-After`` when given (up to ``RETRY_AFTER_MAX``; a longer wait gives
    up on the request), else exponential backoff ``RETRY_BACKOFF_BASE * 2**n`` capped at
    ``RETRY_BACKOFF_MAX``.

    A ``Retry-After`` on a 429 or 503 is about the whole site, not the one URL: it pauses the
    request's download slot (its domain, as Scrapy's downloader keys slots) for that long —
    every request to it waits here before it is sent, other domains (an image CDN) go on.
    Backoff without ``Retry-After`` delays only the retried request."""

    PAUSE_STATUSES = frozenset({429, 503})

    def __init__(self, settings: Any):
        super().__init__(settings)
        self.backoff_base = settings.getfloat("RETRY_BACKOFF_BASE", 1.0)
        self.backoff_max = settings.getfloat("RETRY_BACKOFF_MAX", 60.0)
        self.retry_after_max = settings.getfloat("RETRY_AFTER_MAX", 300.0)
        self._paused_until: dict[str, float] = {}  # download slot → time.monotonic() the pause ends

    def _slot_key(self, request: Request) -> str:
        try:
            return self.crawler.engine.downloader.get_slot_key(request)
        except (AttributeError, RuntimeError):  # no engine (yet): the key Scrapy would give by default
            return request.meta.get("download_slot") or urlparse_cached(request).hostname or ""

    def pause_slot(self, request: Request, seconds: float) -> None:
        """No request to ``request``'s slot is sent for ``seconds`` (an earlier, longer pause stands)."""
        key = self._slot_key(request)
        until = time.monotonic() + seconds
        if until > self._paused_until.get(key, 0.0):
            self._paused_until[key] = until
            self.crawler.stats.inc_value("vitrine/slot_pauses")
            logger.info("pausing %s for %.1fs (Retry-After from %s)", key or "?", seconds, request.url)

    async def process_request(self, request: Request) -> None:
        """Hold a request while its slot is paused (the pause may be extended meanwhile)."""
        key = None
        while self._paused_until:
            key = key if key is not None else self._slot_key(request)
            wait = self._paused_until.get(key, 0.0) - time.monotonic()
            if wait <= 0:
                self._paused_until.pop(key, None)
                break
            self.crawler.stats.inc_value("vitrine/slot_pause_waits")
            await asyncio.sleep(wait)
        return None

    async def _wait_and_retry(self, request: Request, reason: Any, retry_after: float | None) -> Request | None:
        if retry_after is not None and retry_after > self.retry_after_max:
            self.crawler.stats.inc_value("vitrine/retry_after_too_long")
            logger.warning("giving up on %s: Retry-After %.0fs exceeds RETRY_AFTER_MAX", request, retry_after)
            return None
        retry = self._retry(request, reason)
        if retry is None:
            return None
        attempt = retry.meta.get("retry_times", 1)
        backoff = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        delay = retry_after if retry_after is not None else backoff
        if delay > 0:
            self.crawler.stats.inc_value("vitrine/retry_wait_seconds", delay)
            await asyncio.sleep(delay)
        return retry

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if retry_after and retry_after <= self.retry_after_max and response.status in self.PAUSE_STATUSES:
            self.pause_slot(request, retry_after)
        retry = await self._wait_and_retry(request, response_status_message(response.status), retry_after)
        return retry or response

    async def process_exception(self, request: Request, exception: Exception) -> Request | None:
        if not isinstance(exception, self.exceptions_to_retry) or request.meta.get("dont_retry", False):
            return None
        return await self._wait_and_retry(request, exception, None)


class NetworkStats(DownloaderStats):
    """Scrapy's downloader stats, placed below the HTTP cache: counts real network requests
    and responses (a revalidated page counts as the 304 the server sent, a fresh cache hit
    not at all)."""
