"""The crawl report: invalid products with their reasons and the final crawl stats, written
next to the item feed for ``pipeline.scrape`` to turn into lake tables."""

from __future__ import annotations

import functools
import gc
import json
import logging
import os
import pickle
import time
import zlib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.exporters import JsonLinesItemExporter
from scrapy.extensions.httpcache import FilesystemCacheStorage
from scrapy.logformatter import LogFormatter
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.response import response_from_dict

from pipeline import layout

logger = logging.getLogger(__name__)


class CrawlReport:
    """Writes ``invalid.jsonl`` (one line per dropped item) and ``stats.json`` on close (names: :mod:`pipeline.layout`)."""

    def __init__(self, crawler: Any, out: Path):
        self.crawler = crawler
        self.out = out
        self.invalid: list[dict[str, Any]] = []

    @classmethod
    def from_crawler(cls, crawler: Any) -> CrawlReport:
        out = crawler.settings.get("VITRINE_OUTPUT")
        if not out:
            raise NotConfigured("VITRINE_OUTPUT not set")
        report = cls(crawler, Path(out))
        crawler.signals.connect(report.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(report.spider_closed, signal=signals.spider_closed)
        return report

    def item_dropped(self, item: Any, response: Any, exception: Exception, spider: Any = None) -> None:
        adapter = ItemAdapter(item)
        # the validation error itself (its message may hold ": "), not the DropItem wrapping it
        reason = str(exception.__cause__ or exception)
        self.invalid.append({"product_id": adapter.get("product_id"), "url": adapter.get("url"), "reason": reason})

    def spider_closed(self, spider: Any, reason: str) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / layout.CRAWL_INVALID, "w") as fh:
            for row in self.invalid:
                fh.write(json.dumps(row) + "\n")
        stats = {
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.crawler.stats.get_stats().items()
        }
        stats["finish_reason"] = reason
        (self.out / layout.CRAWL_STATS).write_text(json.dumps(stats, indent=1, sort_keys=True, default=str))


class QuietLogFormatter(LogFormatter):
    """Log a dropped (invalid) product with its reason, without dumping the whole item; the
    per-item "Scraped from" line is not even built when ``LOG_LEVEL`` hides DEBUG (thousands of
    products a second would otherwise each make a log record that is then thrown away)."""

    def __init__(self, log_scraped: bool = True):
        super().__init__()
        self.log_scraped = log_scraped

    @classmethod
    def from_crawler(cls, crawler: Any) -> QuietLogFormatter:
        level = crawler.settings.get("LOG_LEVEL", "DEBUG")
        if isinstance(level, str):
            level = logging.getLevelName(level.upper())  # an unknown name stays a str: log as before
        return cls(log_scraped=not isinstance(level, int) or level <= logging.DEBUG)

    def scraped(self, item: Any, response: Any, spider: Any) -> Any:  # None: the item is not logged
        return super().scraped(item, response, spider) if self.log_scraped else None

    def dropped(self, item: Any, exception: BaseException, response: Any, spider: Any) -> dict:
        return {"level": logging.WARNING, "msg": "Dropped: %(exception)s", "args": {"exception": exception}}


class ProductLinesExporter(JsonLinesItemExporter):
    """Scrapy's JSON-lines exporter, without its per-field walk for plain items: a mapping item
    (exported fields only, no ``fields_to_export``, no field serializers) is encoded as it is,
    in one C-encoder call, giving the same line; anything else goes the generic way."""

    def export_item(self, item: Any) -> None:
        if (
            self.fields_to_export is None
            and not self.export_empty_fields
            and isinstance(item, Mapping)
            and _plain_fields(type(item)) is not None
        ):
            order = _plain_fields(type(item))  # declared field order, as the generic path writes it
            values = getattr(item, "_values", item)  # a scrapy.Item keeps its fields in a dict there
            data = {k: values[k] for k in order if k in values} if order else dict(item)
            self.file.write((self.encoder.encode(data) + "\n").encode(self.encoding or "utf-8"))
            return
        super().export_item(item)


@functools.cache
def _plain_fields(cls: type) -> tuple[str, ...] | None:
    """A scrapy.Item class's declared fields (``()`` for dicts); None when one has a serializer."""
    fields = getattr(cls, "fields", None) or {}
    if any("serializer" in meta for meta in fields.values()):
        return None
    return tuple(fields)


class OneFileCacheStorage(FilesystemCacheStorage):
    """Scrapy's filesystem HTTP cache (same directory, same keys, same expiration), storing each
    response as one file: a level-1 zlib-compressed pickle of ``Response.to_dict()`` (what
    Scrapy's DBM storage keeps) and the store time. Scrapy's own layout is a directory of seven
    gzip files per response (meta twice, headers, body, extra data, request headers and body):
    on a JSON-LD crawl, where every product page is stored, that was nearly half the reactor's
    time (a mkdir, seven file creations and seven deflate streams per page). The written file
    replaces any older one atomically; an unreadable file is a cache miss, logged as a warning
    and counted in the ``httpcache/unreadable`` stat."""

    SUFFIX = ".rsp"

    def _path(self, spider: Any, request: Any) -> str:
        return self._get_request_path(spider, request) + self.SUFFIX

    def retrieve_response(self, spider: Any, request: Any) -> Any:
        path = self._path(spider, request)
        try:
            with open(path, "rb") as fh:
                blob = fh.read()
        except FileNotFoundError:
            return None  # not cached
        try:
            stored = pickle.loads(zlib.decompress(blob))  # noqa: S301  (our own cache directory)
        except Exception as exc:  # a torn or foreign file: fetch the page again, and say so
            logger.warning("httpcache: unreadable entry %s (%s), fetching %s again", path, exc, request.url)
            spider.crawler.stats.inc_value("httpcache/unreadable")
            return None
        if 0 < self.expiration_secs < time.time() - stored["timestamp"]:
            return None  # expired
        request.meta["cache_timestamp"] = stored["timestamp"]
        return response_from_dict(stored["response"])

    def store_response(self, spider: Any, request: Any, response: Any) -> None:
        path = self._path(spider, request)
        blob = zlib.compress(pickle.dumps({"timestamp": time.time(), "response": response.to_dict()}, protocol=5), 1)
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            fh = open(tmp, "wb")
        except FileNotFoundError:  # first response under this key prefix
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fh = open(tmp, "wb")
        with fh:
            fh.write(blob)
        os.replace(tmp, path)


class FreezeStartupObjects:
    """Before the crawl: collect, then move everything allocated so far (imported modules,
    Scrapy, Twisted, settings: a few hundred thousand objects) to the GC's permanent generation.
    Parsing a 250-product JSON page makes tens of thousands of containers, which triggers full
    collections that would otherwise walk all of those startup objects again (50-80 ms each)."""

    @classmethod
    def from_crawler(cls, crawler: Any) -> FreezeStartupObjects:
        if not crawler.settings.getbool("VITRINE_GC_FREEZE", True):
            raise NotConfigured("VITRINE_GC_FREEZE is off")
        gc.collect()
        gc.freeze()
        return cls()


class FastStatsCollector(MemoryStatsCollector):
    """Scrapy's in-memory stats collector without the ``__getattribute__`` shim that Scrapy
    2.19 puts on every attribute access to warn about a deprecated ``spider`` argument (each
    ``inc_value`` then costs a raised and caught AttributeError per internal lookup; Scrapy
    counts several stats per item). The methods still accept ``spider=``; only the warning goes."""

    __getattribute__ = object.__getattribute__
