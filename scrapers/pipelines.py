"""Item pipelines: validate products, then fetch their images into the lake through Scrapy's
media pipeline (content-addressed by sha256, original bytes, known URLs not fetched again)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from itemadapter import ItemAdapter
from scrapy import Request
from scrapy.exceptions import DropItem, IgnoreRequest
from scrapy.http.request import NO_CALLBACK
from scrapy.pipelines.files import FilesPipeline
from scrapy.pipelines.media import FileException
from scrapy.utils.asyncio import run_in_thread

from pipeline import layout
from pipeline.imagegate import ImageRejected
from pipeline.lake import SCHEMES, Lake
from scrapers.images import Limits, inspect, reason_key
from scrapers.items import InvalidProduct, unsupported_reason, validate

logger = logging.getLogger(__name__)


class ValidationPipeline:
    """Drops products that break the schema; the reason goes to the log and the crawl report."""

    def __init__(self, crawler: Any):
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Any) -> ValidationPipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        # a mapping item (ProductItem) is read and updated in place: no deep copy per item
        fields = item if isinstance(item, MutableMapping) else ItemAdapter(item)
        try:
            clean = validate(fields)
        except InvalidProduct as exc:
            self.stats.inc_value("vitrine/invalid_items")
            self.stats.inc_value(f"vitrine/invalid/{reason_key(str(exc))}")
            raise DropItem(f"invalid product {fields.get('url')}: {exc}") from exc
        fields.update(clean)
        self.stats.inc_value("vitrine/valid_items")
        return item


class LakeFilesStore:
    """A FilesPipeline store writing into the Vitrine lake (any scheme in :data:`pipeline.lake.SCHEMES`)."""

    def __init__(self, uri: str):
        self.lake = Lake(uri)

    def persist_file(self, path: str, buf: Any, info: Any, meta: Any = None, headers: Any = None) -> bool:
        """Write once (a content-addressed key never changes); True when the object is new."""
        if self.lake.exists(path):
            return False
        content_type = (headers or {}).get("Content-Type", "application/octet-stream")
        self.lake.write_bytes(path, buf.getvalue(), content_type=content_type)
        return True

    def stat_file(self, path: str, info: Any) -> dict:
        return {}


class LakeImagesPipeline(FilesPipeline):
    """Scrapy's media pipeline, storing each image once under ``images/<sha[:2]>/<sha>.<ext>``.

    Before any download: a URL whose sha256 is known from earlier runs is not fetched again.
    After download: ``X-Robots-Tag: noimageindex`` is honoured, the bytes are sniffed, sized
    and decoded (:mod:`scrapers.images`) off the reactor thread, hashed and stored. Every
    image URL of an item ends up in ``item["images"]`` as stored or rejected with a reason.
    """

    MEDIA_NAME = "image"
    DEFAULT_FILES_URLS_FIELD = "image_urls"
    DEFAULT_FILES_RESULT_FIELD = "images"
    LOG_FAILED_RESULTS = False
    STORE_SCHEMES = {**FilesPipeline.STORE_SCHEMES, **dict.fromkeys(SCHEMES, LakeFilesStore)}  # type: ignore[arg-type]

    def __init__(self, store_uri: str, *, crawler: Any):
        super().__init__(store_uri, crawler=crawler)
        s = crawler.settings
        self.limits = Limits(
            min_width=s.getint("IMAGES_MIN_WIDTH"),
            min_height=s.getint("IMAGES_MIN_HEIGHT"),
            max_bytes=s.getint("IMAGES_MAX_BYTES"),
            verify=s.getbool("IMAGES_VERIFY_DECODE"),
        )
        known = s.get("VITRINE_KNOWN_IMAGES")
        self.known: dict[str, dict] = json.loads(Path(known).read_text()) if known else {}

    # -- before download -------------------------------------------------------------------------
    def _skip_reason(self, item: Any, url: str) -> str | None:
        """Why an image URL is not requested at all (None: request it)."""
        unsupported = unsupported_reason(url)
        if unsupported:
            return unsupported
        if ItemAdapter(item).get("noimageindex"):
            return "noimageindex (page)"
        known = self.known.get(url)
        return known["reason"] if known and known.get("status") == "rejected" else None

    def get_media_requests(self, item: Any, info: Any) -> list[Request]:
        meta = {"dont_cache": True, "download_maxsize": self.limits.max_bytes}
        return [
            Request(url, callback=NO_CALLBACK, meta=dict(meta))
            for url in ItemAdapter(item).get("image_urls") or []
            if self._skip_reason(item, url) is None
        ]

    def media_to_download(self, request: Request, info: Any, *, item: Any = None) -> dict | None:
        known = self.known.get(request.url)
        if not known:
            return None
        self.crawler.stats.inc_value("vitrine/images/known")
        return {
            "url": request.url,
            "path": known["image_key"],
            "checksum": known["sha256"],
            "status": "known",
            **{k: known[k] for k in ("width", "height", "format", "bytes")},
        }

    # -- after download --------------------------------------------------------------------------
    def media_failed(self, failure: Any, request: Request, info: Any) -> None:
        if isinstance(failure.value, IgnoreRequest):  # offsite, private address, robots.txt
            super().media_failed(failure, request, info)
        raise FileException(failure_reason(failure.value))

    async def media_downloaded(self, response: Any, request: Request, info: Any, *, item: Any = None) -> dict:
        """Check and store a downloaded image; a rejection is a result with a reason, not an error."""
        robots = (response.headers.get("X-Robots-Tag") or b"").decode("latin-1").lower()
        if response.status != 200:
            return rejected(request.url, f"http {response.status}")
        if "noimageindex" in robots or "none" in robots.split(","):
            return rejected(request.url, "noimageindex")
        try:
            stored = await run_in_thread(self._check_and_store, response.body)
        except ImageRejected as exc:
            return rejected(request.url, str(exc))
        self.inc_stats("downloaded")
        return {"url": request.url, "path": stored["image_key"], "checksum": stored["sha256"], **stored}

    def _check_and_store(self, data: bytes) -> dict:
        meta = inspect(data, self.limits)
        sha = hashlib.sha256(data).hexdigest()
        key = layout.image_key(sha, meta.ext)
        headers = {"Content-Type": f"image/{meta.format.lower()}"}
        try:
            new = self.store.persist_file(key, io.BytesIO(data), None, headers=headers)  # type: ignore[arg-type]
        except Exception as exc:  # the lake refused the write: not the image's fault, retried next run
            raise StorageError(f"{key}: {type(exc).__name__}: {exc}") from exc
        if new:
            self.crawler.stats.inc_value("vitrine/images/new_bytes", len(data))
        self.crawler.stats.inc_value("vitrine/images/new" if new else "vitrine/images/already_in_lake")
        return {
            "status": "downloaded",
            "sha256": sha,
            "image_key": key,
            "width": meta.width,
            "height": meta.height,
            "format": meta.format,
            "bytes": len(data),
        }

    # -- per item --------------------------------------------------------------------------------
    def item_completed(self, results: list, item: Any, info: Any) -> Any:
        adapter = ItemAdapter(item)
        stats = self.crawler.stats
        pending = iter(results)
        rows = []
        for position, url in enumerate(adapter.get("image_urls") or []):
            skipped = self._skip_reason(item, url)
            if skipped:
                ok, value = True, rejected(url, skipped)
            else:
                ok, value = next(pending)
            if ok and value["status"] != "rejected":
                rows.append(
                    {
                        "url": url,
                        "position": position,
                        "status": "stored",
                        "reason": None,
                        "sha256": value["checksum"],
                        "image_key": value["path"],
                        "width": value["width"],
                        "height": value["height"],
                        "format": value["format"],
                        "bytes": value["bytes"],
                    }
                )
                stats.inc_value("vitrine/images/stored")
                continue
            reason = value["reason"] if ok else failure_reason(getattr(value, "value", value))  # type: ignore[arg-type]
            rows.append(
                {
                    "url": url,
                    "position": position,
                    "status": "rejected",
                    "reason": reason,
                    "sha256": None,
                    "image_key": None,
                    "width": None,
                    "height": None,
                    "format": None,
                    "bytes": None,
                }
            )
            stats.inc_value("vitrine/images/rejected")
            stats.inc_value(f"vitrine/images/rejected/{reason_key(reason)}")
            logger.info("image rejected: %s (%s) of %s", url, reason, adapter.get("url"))
        adapter["images"] = rows
        return item


class StorageError(RuntimeError):
    """Writing a downloaded image into the lake failed."""


def rejected(url: str, reason: str) -> dict:
    return {"url": url, "status": "rejected", "reason": reason, "path": None, "checksum": None}


def failure_reason(exc: BaseException) -> str:
    """A short reason for a failed image download (offsite, private address, robots, network)."""
    text = str(exc)
    if isinstance(exc, StorageError):
        return f"storage error: {text}"
    refused = re.search(r"(offsite port|private address|link-local or metadata address)[^\n]*", text)
    if refused:
        return refused.group(0)
    offsite = re.search(r"offsite request to '([^']*)'", text)
    if offsite:
        return f"offsite: {offsite.group(1)}"
    if "Forbidden by robots.txt" in text:
        return "robots.txt: forbidden"
    if isinstance(exc, (IgnoreRequest, FileException)) and text:
        return text
    if "maxsize" in text.lower() or "larger than" in text.lower():
        return f"too large: {text}"
    return f"download error: {type(exc).__name__}: {text}"
