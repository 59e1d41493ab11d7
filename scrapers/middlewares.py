"""Downloader middlewares: refuse private network addresses, retry with backoff and Retry-After."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlparse

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.downloadermiddlewares.stats import DownloaderStats
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.resolver import CachingThreadedResolver, dnscache
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.response import response_status_message
from twisted.internet.error import DNSLookupError

from pipeline.retailers import Retailer

logger = logging.getLogger(__name__)


# cloud metadata services outside the link-local range (AWS IPv6, Alibaba, Azure wire server)
METADATA_ADDRESSES = frozenset({"fd00:ec2::254", "100.100.100.200", "168.63.129.16"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip


def is_private(address: str) -> bool:
    """Not on the public internet: private, loopback, link-local, shared, reserved, ..."""
    return not _ip(address).is_global


def never_allowed(address: str) -> bool:
    """Link-local (where cloud metadata lives), metadata services, multicast, unspecified:
    refused even for a retailer that is itself on a private network."""
    ip = _ip(address)
    return ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved or str(ip) in METADATA_ADDRESSES


def refusal(address: str, private_ok: bool) -> str | None:
    """Why a connection to ``address`` is refused (None: allowed)."""
    if never_allowed(address):
        return "link-local or metadata address"
    if is_private(address) and not private_ok:
        return "private address"
    return None


def resolve(host: str) -> list[str]:
    """IP addresses of ``host`` (itself when it is an IP literal); [] when it does not resolve."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})
    except OSError:
        return []


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def origin(url: str) -> tuple[str, int]:
    """(host, port) of a URL, the scheme's default port when none is given."""
    parts = urlparse(url)
    return (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(parts.scheme, 0)


class NetworkPolicy:
    """Where a retailer's crawl may connect (SSRF guard), decided from its registry entry.

    Its own origins (``base_url``, ``start_urls``, ``sitemap_urls``: exact host and port) may
    be on a private network (a shop on the LAN, the demo shop on 127.0.0.1); every other
    host must be public and on its scheme's default port. Link-local and metadata addresses
    are never allowed."""

    def __init__(self, retailer: Retailer):
        self.origins = {origin(u) for u in [retailer.base_url, *retailer.start_urls, *retailer.sitemap_urls]}
        self.origin_hosts = {host for host, _ in self.origins}
        # an origin host on a private network is reachable on its origin ports only
        self.private_hosts = {h for h in self.origin_hosts if any(is_private(a) for a in resolve(h))}

    @classmethod
    def from_settings(cls, settings: Any) -> NetworkPolicy:
        from scrapers.spiders.base import retailer_from_settings

        return cls(retailer_from_settings(settings))

    def check_url(self, url: str) -> str | None:
        """Why a request to ``url`` is refused before connecting (None: go on)."""
        host, port = origin(url)
        exact = (host, port) in self.origins
        scheme = urlparse(url).scheme
        if not exact and (host in self.private_hosts or port != DEFAULT_PORTS.get(scheme)):
            return f"offsite port: {host}:{port} is not one of the retailer's origins"
        if _is_ip(host):
            why = refusal(host.strip("[]"), private_ok=exact)
            return f"{why}: {host}" if why else None
        return None  # a host name is checked by GuardedResolver when it is resolved for connecting

    def check_address(self, host: str, address: str) -> str | None:
        """Why connecting to ``host`` at ``address`` (what it resolved to) is refused."""
        why = refusal(address, private_ok=host.lower() in self.origin_hosts)
        return f"{why}: {host} resolves to {address}" if why else None


class RefusedAddress(DNSLookupError):
    """A host resolved to an address the network policy refuses."""


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's caching DNS resolver, refusing addresses the retailer's :class:`NetworkPolicy`
    forbids. The address checked is the address connected to: no second lookup, no window
    for DNS rebinding."""

    def __init__(self, reactor: Any, cache_size: int, timeout: float, policy: NetworkPolicy):
        super().__init__(reactor, cache_size, timeout)
        self.policy = policy

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> GuardedResolver:
        base = CachingThreadedResolver.from_crawler(crawler, reactor)
        return cls(reactor, dnscache.limit, base.timeout, NetworkPolicy.from_settings(crawler.settings))  # type: ignore[arg-type]

    def getHostByName(self, name: str, timeout: Any = ()) -> Any:
        d = super().getHostByName(name, timeout)
        d.addCallback(self._check, name)
        return d

    def _check(self, address: str, name: str) -> str:
        why = self.policy.check_address(name, address)
        if why:
            logger.warning("refused to connect: %s", why)
            raise RefusedAddress(why)
        return address


class PrivateNetworkMiddleware:
    """Applies the retailer's :class:`NetworkPolicy` to every request (pages, robots.txt,
    images, redirects): ports and IP literals directly, host names through
    :class:`GuardedResolver` (which checks again whenever the downloader connects)."""

    def __init__(self, crawler: Any):
        self.stats = crawler.stats
        self.policy = NetworkPolicy.from_settings(crawler.settings)

    @classmethod
    def from_crawler(cls, crawler: Any) -> PrivateNetworkMiddleware:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        why = self.policy.check_url(request.url)
        host = urlparse_cached(request).hostname or ""
        if why is None and not _is_ip(host):
            # resolve now through the reactor's (guarded, caching) resolver: the download then
            # connects to this cached, checked address, and a refusal gets a clear reason here
            from twisted.internet import reactor

            try:
                await maybe_deferred_to_future(reactor.resolver.getHostByName(host))
            except RefusedAddress as exc:
                why = str(exc)
            except DNSLookupError:
                pass  # the download fails as usual
        if why:
            self.stats.inc_value(
                "vitrine/refused/" + ("offsite_port" if why.startswith("offsite") else "private_address")
            )
            raise IgnoreRequest(why)
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
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


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
            self.crawler.stats.inc_value("vitrine/retry_wait_seconds", delay)  # type: ignore[arg-type]  # seconds may be fractional
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
