"""Scrape stage: crawl one retailer with Scrapy (in a subprocess) into the lake.

The crawl stores images itself (``images/…``, through the Scrapy media pipeline) and leaves
its items, invalid items and stats in a scratch folder; this module turns them into the
retailer's partitions of the ``products``, ``images`` and ``invalid_products`` tables
(current state, overwritten each run) and one ``crawl_stats`` row per crawl day.
"""

from __future__ import annotations

import collections
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pipeline import layout, schemas
from pipeline.config import REPO_ROOT, USER_AGENT, Settings
from pipeline.lake import Lake
from pipeline.retailers import Retailer
from scrapers.images import CONTENT_REASONS

log = logging.getLogger(__name__)


class ScrapeError(RuntimeError):
    """The crawl process failed; the message carries the tail of its log."""


class CrawlRefused(ScrapeError):
    """The crawl's result is not trusted (nothing fetched, or a drop it could not confirm);
    the retailer's tables were left as they were."""


@dataclass
class CrawlOutput:
    items: list[dict[str, Any]]
    invalid: list[dict[str, Any]]
    stats: dict[str, Any]
    unchanged: frozenset[str] = frozenset()  # page URLs the shop says have not changed (not fetched)

    @property
    def complete(self) -> bool:
        """The crawl saw the whole catalog (so products not seen are really gone): it finished
        by itself, no listing failed or was dropped, no callback raised and no page came from
        the HTTP cache because the site could not be reached."""
        s = self.stats
        return (
            s.get("finish_reason") == "finished"
            and not s.get("vitrine/incomplete_listings")
            and not s.get("spider_exceptions/count")
            and not s.get("httpcache/errorrecovery")
        )

    @property
    def successful_responses(self) -> int:
        """Responses from the site with a 2xx or 304 status (a revalidated page is a successful
        fetch; a cached copy served because the site failed is not)."""
        prefix = "downloader/response_status_count/"
        ok = sum(
            int(v)
            for k, v in self.stats.items()
            if k.startswith(prefix) and (k[len(prefix) :].startswith("2") or k.endswith("/304"))
        )
        return ok - int(self.stats.get("httpcache/errorrecovery", 0))

    def seen(self) -> set[str]:
        return {item["product_id"] for item in self.items}


# -- the crawl subprocess -------------------------------------------------------------------------
def _die_with_parent() -> None:
    """In the crawl child: get SIGTERM if the task process dies without cleaning up (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def end_process_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the child's whole process group (Scrapy and anything it started), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass(frozen=True)
class CrawlConfig:
    """What an adapter passes the scrape stage (see :meth:`from_settings`)."""

    http_cache: Path | None = None  # per-retailer HTTP caches under it; None: the crawl's scratch (none kept)
    user_agent: str = USER_AGENT  # unless the retailer's settings name their own USER_AGENT
    max_unavailable_share: float = Settings.max_unavailable_share  # the wipe guard

    @classmethod
    def from_settings(cls, s: Settings) -> CrawlConfig:
        return cls(s.cache_dir / "scrapy", s.user_agent, s.max_unavailable_share)


DEFAULT_CRAWL = CrawlConfig()


def run_crawl(
    retailer: Retailer,
    lake_uri: str,
    workdir: Path,
    known: dict[str, dict],
    pages: dict[str, str] | None = None,
    extra_settings: dict[str, str] | None = None,
    config: CrawlConfig = DEFAULT_CRAWL,
) -> CrawlOutput:
    """``scrapy crawl <platform>`` for one retailer in a subprocess; returns what it wrote.
    ``known``: image URL → what is stored for it; ``pages``: page URL → when it was scraped."""
    workdir.mkdir(parents=True, exist_ok=True)
    known_path, pages_path = workdir / layout.KNOWN_IMAGES, workdir / layout.KNOWN_PAGES
    known_path.write_text(json.dumps(known))
    retailer_path = workdir / "retailer.json"  # not on the command line: its settings may hold secrets
    retailer_path.touch(mode=0o600)
    retailer_path.write_text(retailer.to_json())
    pages_path.write_text(json.dumps(pages or {}))
    cmd = [
        sys.executable,
        "-m",
        "scrapy",
        "crawl",
        retailer.platform,
        "-s",
        f"VITRINE_RETAILER_FILE={retailer_path}",
        "-s",
        f"FILES_STORE={lake_uri}",
        "-s",
        f"VITRINE_OUTPUT={workdir}",
        "-s",
        f"VITRINE_KNOWN_IMAGES={known_path}",
        "-s",
        f"VITRINE_KNOWN_PAGES={pages_path}",
        "-s",
        f"VITRINE_HTTPCACHE_DIR={config.http_cache or workdir / 'httpcache'}",
    ]
    if "USER_AGENT" not in retailer.settings:  # the retailer's own user agent wins
        cmd += ["-s", f"USER_AGENT={config.user_agent}"]
    for name, value in (extra_settings or {}).items():
        cmd += ["-s", f"{name}={value}"]
    env = {
        **os.environ,
        "SCRAPY_SETTINGS_MODULE": "scrapers.settings",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    tail: collections.deque[str] = collections.deque(maxlen=60)
    with subprocess.Popen(
        cmd,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
        preexec_fn=_die_with_parent,
    ) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                tail.append(line)
                log.info("[scrapy %s] %s", retailer.name, line.rstrip("\n"))
        except BaseException:  # the task was interrupted (SIGTERM, Ctrl-C, timeout): end the crawl too
            end_process_group(proc)
            raise
    stats_path = workdir / layout.CRAWL_STATS
    if proc.returncode != 0 or not stats_path.exists():
        raise ScrapeError(f"crawl of {retailer.name} failed (exit {proc.returncode}):\n{''.join(tail)}")
    unchanged_path = workdir / layout.CRAWL_UNCHANGED
    unchanged = frozenset(json.loads(unchanged_path.read_text())) if unchanged_path.exists() else frozenset()
    return CrawlOutput(
        _jsonl(workdir / layout.CRAWL_ITEMS),
        _jsonl(workdir / layout.CRAWL_INVALID),
        json.loads(stats_path.read_text()),
        unchanged,
    )


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- tables ---------------------------------------------------------------------------------------
def _read_rows(lake: Lake, table: schemas.Table, retailer: str) -> list[dict[str, Any]]:
    rows = table.read(lake, retailer=retailer)
    return [] if rows is None else rows.to_pylist()


def known_images(previous_images: list[dict[str, Any]], present: set[str] | None = None) -> dict[str, dict]:
    """URL → what we know about it: stored (sha256 …) or rejected for its content. With
    ``present`` (the image keys in the lake), a stored image whose object is gone is not known:
    the crawl fetches it again (the lake heals)."""
    known: dict[str, dict] = {}
    for row in previous_images:
        if row["status"] == "stored" and (present is None or row["image_key"] in present):
            known[row["url"]] = {k: row[k] for k in ("sha256", "image_key", "width", "height", "format", "bytes")}
            known[row["url"]]["status"] = "stored"
        elif (row.get("detail") or "").startswith(CONTENT_REASONS) and row["url"] not in known:
            known[row["url"]] = {"status": "rejected", "reason": row["detail"]}
    return known


def known_pages(previous_products: list[dict[str, Any]], known: dict[str, dict]) -> dict[str, str]:
    """Page URL → when it was scraped, for the products still available whose images are all
    settled (stored, or rejected for their content): a page with an image that failed for a
    passing reason is fetched again, so the image is retried."""
    return {
        row["url"]: row["scraped_at"].isoformat()
        for row in previous_products
        if row["available"]
        and row["url"]
        and row["scraped_at"]
        and all(url in known for url in row["image_urls"] or [])
    }


def build_tables(
    retailer: str, crawl: CrawlOutput, previous_products: list[dict], previous_images: list[dict]
) -> tuple[list[dict], list[dict]]:
    """Current products and images of a retailer: this run's, plus earlier products not seen
    this time: kept as they were when their page was unchanged (not fetched), else marked
    unavailable when the crawl was complete. Pure."""
    products: dict[str, dict] = {}
    images: list[dict] = []
    for item in crawl.items:
        pid = item["product_id"]
        if pid in products:  # the same product reached by two URLs: first one wins
            continue
        row = {c.name: item.get(c.name) for c in schemas.PRODUCTS.all_columns}
        row["scraped_at"] = datetime.fromisoformat(item["scraped_at"])
        if row["price_valid_until"] is not None:  # the feed writes a date as ISO text
            row["price_valid_until"] = date.fromisoformat(str(row["price_valid_until"])[:10])
        row["available"] = True
        products[pid] = row
        for image in item.get("images") or []:
            row = {c.name: image.get(c.name) for c in schemas.IMAGES.columns}
            row.update(schemas.rejection(image.get("reason")))
            images.append({**row, "retailer": retailer, "product_id": pid})
    for row in previous_products:
        if row["product_id"] not in products:
            gone = crawl.complete and row["url"] not in crawl.unchanged
            products[row["product_id"]] = {**row, "available": False if gone else row["available"]}
    seen = {i["product_id"] for i in crawl.items}
    unseen = {pid for pid in products if pid not in seen}
    images += [row for row in previous_images if row["product_id"] in unseen]
    images.sort(key=lambda r: (r["product_id"], r["position"]))
    return sorted(products.values(), key=lambda r: r["product_id"]), images


def crawl_stats_row(
    retailer: Retailer, run_id: str, crawl: CrawlOutput, products: list[dict], images: list[dict]
) -> dict[str, Any]:
    s = crawl.stats
    seen = {it["product_id"] for it in crawl.items}
    this_run = [i for i in images if i["product_id"] in seen]
    rejected = collections.Counter(i["reason"] for i in this_run if i["status"] == "rejected")
    invalid = collections.Counter(schemas.rejection(i["reason"])["reason"] for i in crawl.invalid)
    by_status = {k.rsplit("/", 1)[1]: int(v) for k, v in s.items() if k.startswith("downloader/response_status_count/")}

    def ts(key: str) -> datetime | None:
        return datetime.fromisoformat(s[key]) if s.get(key) else None

    return {
        "run_id": run_id,
        "retailer": retailer.name,
        "platform": retailer.platform,
        "started_at": ts("start_time"),
        "finished_at": ts("finish_time"),
        "finish_reason": s.get("finish_reason"),
        "complete": crawl.complete,
        "requests": s.get("downloader/request_count", 0),
        "responses_by_status": by_status,
        "revalidated_304": by_status.get("304", 0),
        "response_bytes": s.get("downloader/response_bytes", 0),
        "retries": s.get("retry/count", 0),
        "robots_forbidden": s.get("robotstxt/forbidden", 0),
        "offsite_filtered": s.get("offsite/filtered", 0),
        "private_refused": s.get("vitrine/refused/private_address", 0),
        "products": len(crawl.items),
        "products_unavailable": sum(not p["available"] for p in products),
        "products_available": sum(bool(p["available"]) for p in products),
        "price_median": _median([p["price"] for p in products if p["available"] and p.get("price") is not None]),
        "invalid_items": len(crawl.invalid),
        "invalid_reasons": dict(invalid),
        "images_stored": sum(i["status"] == "stored" for i in this_run),
        "images_new": s.get("vitrine/images/new", 0),
        "images_known": s.get("vitrine/images/known", 0),
        "images_rejected": sum(rejected.values()),
        "rejected_reasons": dict(rejected),
        "image_bytes_new": s.get("vitrine/images/new_bytes", 0),
        "stats_json": json.dumps(s, sort_keys=True),
    }


def _median(values: list) -> Any:
    if not values:
        return None
    ordered = sorted(schemas.money(v) for v in values)  # type: ignore[type-var]
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2  # type: ignore[operator]


def summary(row: dict[str, Any]) -> str:
    def counts(c: dict) -> str:
        return ", ".join(f"{k} ×{v}" for k, v in sorted(c.items())) or "none"

    statuses = " ".join(f"{k}×{v}" for k, v in sorted(row["responses_by_status"].items()))
    return (
        f"scrape {row['retailer']} ({row['finish_reason']}{'' if row['complete'] else ', incomplete'}): "
        f"{row['products']} products, "
        f"{row['invalid_items']} invalid ({counts(row['invalid_reasons'])}), "
        f"{row['products_unavailable']} unavailable; images {row['images_stored']} stored "
        f"({row['images_new']} new, {row['images_known']} known), {row['images_rejected']} rejected "
        f"({counts(row['rejected_reasons'])}); {row['requests']} requests [{statuses}], "
        f"{row['retries']} retries, {row['robots_forbidden']} forbidden by robots.txt, "
        f"{row['offsite_filtered']} offsite, "
        f"{json.loads(row['stats_json']).get('vitrine/pages_unchanged', 0)} pages unchanged (not fetched)"
    )


# -- trusting a crawl -----------------------------------------------------------------------------
def dropped(crawl: CrawlOutput, previous_products: list[dict]) -> set[str]:
    """Products available before that this crawl did not see."""
    seen = crawl.seen()
    return {
        p["product_id"]
        for p in previous_products
        if p["available"] and p["product_id"] not in seen and p["url"] not in crawl.unchanged
    }


def distrust(crawl: CrawlOutput, previous_products: list[dict], max_share: float) -> str | None:
    """Why this crawl must not be applied as it is (None: apply it).

    A crawl that fetched nothing, or found no products where there were some, is never
    applied. A complete crawl that would turn more than ``max_share`` of the available
    products unavailable needs confirming (a second crawl). A confirmed drop is applied: whether
    a release may carry it is for the data-quality gate (``products_drop``, see :mod:`pipeline.dq`)."""
    before = sum(p["available"] for p in previous_products)
    if crawl.successful_responses <= 0:
        return "no successful response"
    if not crawl.items and not crawl.unchanged and before:
        return f"no products found (the retailer had {before})"
    gone = dropped(crawl, previous_products)
    if crawl.complete and before and len(gone) > max_share * before:
        return (
            f"would mark {len(gone)} of {before} available products unavailable "
            f"(more than VITRINE_MAX_UNAVAILABLE_SHARE={max_share:g})"
        )
    return None


def confirmed_crawl(
    retailer: Retailer,
    lake: Lake,
    workdir: Path,
    known: dict[str, dict],
    pages: dict[str, str],
    previous_products: list[dict],
    config: CrawlConfig,
) -> tuple[CrawlOutput, str | None]:
    """Crawl; when the result is a large drop, crawl again past the HTTP cache and apply the
    drop only if the second crawl is complete and misses the same products. Returns the crawl
    to apply, or the last crawl and why it was refused."""
    max_share = config.max_unavailable_share
    crawl = run_crawl(retailer, lake.root, workdir / "crawl-1", known, pages, config=config)
    why = distrust(crawl, previous_products, max_share)
    if why is None or not why.startswith("would mark"):
        return crawl, why
    log.warning("%s: crawl %s; confirming with a second crawl", retailer.name, why)
    # past the HTTP cache and without skipping pages unchanged since the last crawl
    second = run_crawl(retailer, lake.root, workdir / "crawl-2", known, {}, {"HTTPCACHE_ENABLED": "False"}, config)
    again = distrust(second, previous_products, max_share)
    if again is None:
        return second, None
    if second.complete and dropped(second, previous_products) == dropped(crawl, previous_products):
        log.warning("%s: a second crawl confirmed the drop", retailer.name)
        return second, None
    return second, f"{why}; a second crawl did not confirm it ({again})"


# -- the stage ------------------------------------------------------------------------------------
def scrape_retailer(
    lake: Lake, retailer: Retailer, run_id: str, config: CrawlConfig = DEFAULT_CRAWL, day: date | None = None
) -> str:
    """Crawl ``retailer`` into ``lake`` as crawl ``day`` (default: today, UTC); returns the URI
    of its ``products`` partition.

    Raises :class:`CrawlRefused` (after recording the crawl's stats, with the retailer's
    products and images left as they were) when the crawl is not to be trusted."""
    day = day or datetime.now(UTC).date()
    previous_products = _read_rows(lake, schemas.PRODUCTS, retailer.name)
    previous_images = _read_rows(lake, schemas.IMAGES, retailer.name)
    with tempfile.TemporaryDirectory(prefix=f"vitrine-scrape-{retailer.name}-") as tmp:
        known = known_images(previous_images, set(lake.iter_keys("images/")))
        crawl, refused = confirmed_crawl(
            retailer,
            lake,
            Path(tmp),
            known,
            known_pages(previous_products, known),
            previous_products,
            config,
        )
    products, images = build_tables(retailer.name, crawl, previous_products, previous_images)
    if refused:
        products, images = previous_products, previous_images
    row = crawl_stats_row(retailer, run_id, crawl, products, images)
    schemas.CRAWL_STATS.write(lake, [{**row, "day": day}], part=day, retailer=retailer.name)  # type: ignore[arg-type]
    log.info("%s", summary(row))
    if refused:
        raise CrawlRefused(
            f"crawl of {retailer.name} not applied: {refused}; its {len(previous_products)} "
            "products and their images are kept as they were"
        )
    schemas.IMAGES.write(lake, images, retailer=retailer.name)
    invalid = [{**row, **schemas.rejection(row.get("reason")), "run_id": run_id} for row in crawl.invalid]
    schemas.INVALID_PRODUCTS.write(lake, invalid, retailer=retailer.name)
    # products last: dedup reads images by the products it finds
    schemas.PRODUCTS.write(lake, products, retailer=retailer.name)
    return lake.uri(schemas.PRODUCTS.prefix(retailer=retailer.name))
