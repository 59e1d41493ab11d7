"""The crawl report: invalid products with their reasons and the final crawl stats, written
next to the item feed for ``pipeline.scrape`` to turn into lake tables."""
from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.logformatter import LogFormatter


class CrawlReport:
    """Writes ``invalid.jsonl`` (one line per dropped item) and ``stats.json`` on close."""

    def __init__(self, crawler: Any, out: Path):
        self.crawler = crawler
        self.out = out
        self.invalid: list[dict[str, Any]] = []

    @classmethod
    def from_crawler(cls, crawler: Any) -> "CrawlReport":
        out = crawler.settings.get("VITRINE_OUTPUT")
        if not out:
            raise NotConfigured("VITRINE_OUTPUT not set")
        report = cls(crawler, Path(out))
        crawler.signals.connect(report.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(report.spider_closed, signal=signals.spider_closed)
        return report

    def item_dropped(self, item: Any, response: Any, exception: Exception, spider: Any = None) -> None:
        adapter = ItemAdapter(item)
        reason = str(exception).rsplit(": ", 1)[-1] if ": " in str(exception) else str(exception)
        self.invalid.append({"product_id": adapter.get("product_id"), "url": adapter.get("url"), "reason": reason})

    def spider_closed(self, spider: Any, reason: str) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / "invalid.jsonl", "w") as fh:
            for row in self.invalid:
                fh.write(json.dumps(row) + "\n")
        stats = {k: (v.isoformat() if isinstance(v, datetime) else v)
                 for k, v in self.crawler.stats.get_stats().items()}
        stats["finish_reason"] = reason
        (self.out / "stats.json").write_text(json.dumps(stats, indent=1, sort_keys=True, default=str))


class QuietLogFormatter(LogFormatter):
    """Log a dropped (invalid) product with its reason, without dumping the whole item."""

    def dropped(self, item: Any, exception: BaseException, response: Any, spider: Any) -> dict:
        return {"level": logging.WARNING, "msg": "Dropped: %(exception)s", "args": {"exception": exception}}
