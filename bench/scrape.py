"""Scraper throughput, measured side by side in one run on this machine.

1. ``scrapy bench`` (vanilla Scrapy, its own local server): pages/s — the reference, the mean
   of one run before and one after the crawls below (the machine's speed drifts).
2. The ``jsonld`` and ``shopify`` spiders crawling the demo shop (served from its own process,
   no politeness delays, robots.txt and the HTTP cache on, images off): pages/s and the ratio
   to ``scrapy bench`` (goal ≥ 0.5). pages/s is responses / the crawl's own
   ``elapsed_time_seconds`` (spider opened → closed), as ``scrapy bench`` computes its figure.
   A Shopify page carries 250 products, so the Shopify spider is also shown as products/s, at
   10 products per page (``SHOPIFY_PAGE_LIMIT=10``), and in steady state on a larger synthetic
   catalog (``--steady-products``; a 2,000-product crawl is over in about a second, so its
   start-up and its cheap robots.txt/meta.json/empty-page responses weigh in). Beside it, a
   minimal vanilla Scrapy spider over the same pages (``bench/vanilla_shopify.py``: one dict
   item per product, nothing else) shows what Scrapy itself reaches at 250 products a page.
3. The image pipeline (Scrapy download + sniff + header check + decode-verify + sha256 + store
   into a fresh file:// lake) during a Shopify crawl with images on: images/s (goal ≥ 200).

Usage: ``.venv/bin/python -m bench.scrape [--catalog DIR] [--limit N] [--steady-products N]
[--bench-seconds S]`` (default catalog: ../shared/datasets/fashion-products when present, else
synthetic).
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from pipeline.retailers import load_registry
from pipeline.scrape import run_crawl

REPO = Path(__file__).resolve().parent.parent

SHARED = REPO.parent / "shared" / "datasets" / "fashion-products"
FAST = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "CONCURRENT_REQUESTS": 16,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    "LOG_LEVEL": "WARNING",
}
NO_IMAGES = {"ITEM_PIPELINES": {"scrapers.pipelines.ValidationPipeline": 100}}


def vanilla_scrapy(args: list[str]) -> dict:
    """Run a ``scrapy`` command outside the project (vanilla settings); its final stats."""
    env = {k: v for k, v in os.environ.items() if k != "SCRAPY_SETTINGS_MODULE"}
    with tempfile.TemporaryDirectory() as cwd:
        out = subprocess.run(
            [sys.executable, "-m", "scrapy", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
        ).stderr
    return ast.literal_eval(
        re.search(r"Dumping Scrapy stats:\n(\{.*?\})\n", out, re.S)
        .group(1)
        .replace("datetime.datetime", "")
        .replace("tzinfo=datetime.timezone.utc", "")
    )


def scrapy_bench(seconds: int) -> float:
    """pages/s of ``scrapy bench``."""
    stats = vanilla_scrapy(["bench", "-s", f"CLOSESPIDER_TIMEOUT={seconds}"])
    return stats["response_received_count"] / stats["elapsed_time_seconds"]


def vanilla_shopify(base_url: str) -> dict:
    """The minimal spider of ``bench/vanilla_shopify.py`` over the same pages, same concurrency."""
    s = vanilla_scrapy(
        [
            "runspider",
            str(REPO / "bench" / "vanilla_shopify.py"),
            "-a",
            f"base={base_url}",
            *(x for k, v in FAST.items() if k != "LOG_LEVEL" for x in ("-s", f"{k}={v}")),
        ]
    )
    return {
        "elapsed": s["elapsed_time_seconds"],
        "pages": s["response_received_count"],
        "items": s.get("item_scraped_count", 0),
        "images": 0,
    }


def start_shop(tmp: Path, catalog: Path | None, limit: int, products: int) -> tuple[subprocess.Popen, list]:
    registry = tmp / f"retailers-{products if catalog is None else limit}.yaml"
    registry.unlink(missing_ok=True)  # an earlier shop's registry of the same size is not this shop's
    cmd = [sys.executable, "-m", "pipeline.demo_shop", "--no-mess", "--registry-out", str(registry)]
    cmd += ["--catalog", str(catalog), "--limit", str(limit)] if catalog else ["--products", str(products)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL)
    while not registry.exists():
        if proc.poll() is not None:
            raise SystemExit("demo shop failed to start")
        time.sleep(0.1)
    return proc, load_registry(registry)


def crawl(retailer, tmp: Path, name: str, settings: dict) -> dict:
    work = tmp / name
    work.mkdir()
    r = replace(retailer, max_products=10**9, settings={**FAST, **settings, "HTTPCACHE_DIR": str(work / "cache")})
    out = run_crawl(r, f"file://{work / 'lake'}", work, known={})  # the crawl's lines are logged at INFO
    s = out.stats
    responses = s.get("downloader/response_count", 0)
    images = s.get("vitrine/images/stored", 0)
    return {
        "elapsed": s["elapsed_time_seconds"],
        "pages": responses - s.get("file_count", 0),
        "items": len(out.items),
        "images": images,
        "responses": responses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, default=SHARED if SHARED.exists() else None)
    parser.add_argument("--limit", type=int, default=3000, help="products from --catalog")
    parser.add_argument("--products", type=int, default=600, help="synthetic catalog size without --catalog")
    parser.add_argument(
        "--steady-products",
        type=int,
        default=30000,
        help="synthetic catalog for the steady-state Shopify rows (2/3 of it is listed there)",
    )
    parser.add_argument("--bench-seconds", type=int, default=10)
    args = parser.parse_args()

    print(
        f"cores: {os.cpu_count()}, catalog: {args.catalog or f'synthetic x{args.products}'}, "
        f"steady-state catalog: synthetic x{args.steady_products}",
        flush=True,
    )
    before = scrapy_bench(args.bench_seconds)
    print(f"scrapy bench: {before:.1f} pages/s", flush=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        shop, (shopify, jsonld) = start_shop(tmp, args.catalog, args.limit, args.products)
        try:
            rows = [
                ("jsonld spider", crawl(jsonld, tmp, "jsonld", NO_IMAGES)),
                ("shopify spider", crawl(shopify, tmp, "shopify", NO_IMAGES)),
                ("shopify, limit=10", crawl(shopify, tmp, "shopify10", {**NO_IMAGES, "SHOPIFY_PAGE_LIMIT": 10})),
                ("shopify + images", crawl(shopify, tmp, "images", {})),
            ]
        finally:
            shop.terminate()
            shop.wait()
        shop, (big, _) = start_shop(tmp, None, 0, args.steady_products)
        try:
            rows += [
                ("shopify, steady", crawl(big, tmp, "steady", NO_IMAGES)),
                ("vanilla, same pages", vanilla_shopify(big.base_url)),
            ]
        finally:
            shop.terminate()
            shop.wait()
    # the machine's speed drifts (other jobs, a shared host): the reference is taken before and
    # after the crawls, and their mean is what the ratios divide by
    after = scrapy_bench(args.bench_seconds)
    reference = (before + after) / 2
    print(f"scrapy bench again: {after:.1f} pages/s; reference: mean {reference:.1f} pages/s", flush=True)
    print(
        f"\n{'crawl':19s} {'pages':>6s} {'items':>6s} {'images':>6s} {'secs':>6s} {'pages/s':>8s} "
        f"{'vs bench':>8s} {'items/s':>8s} {'images/s':>8s}"
    )
    for name, r in rows:
        print(
            f"{name:19s} {r['pages']:6d} {r['items']:6d} {r['images']:6d} {r['elapsed']:6.1f} "
            f"{r['pages'] / r['elapsed']:8.1f} {r['pages'] / r['elapsed'] / reference:8.2f} "
            f"{r['items'] / r['elapsed']:8.1f} {r['images'] / r['elapsed']:8.1f}"
        )
    print(
        "\ngoals: jsonld/shopify pages/s >= 0.5 x scrapy bench; image pipeline >= 200 images/s on 2 cores"
        "\n(shopify rows: 250 products per page unless limit=10; 'vanilla' is a reference, not a goal)"
    )


if __name__ == "__main__":
    main()
