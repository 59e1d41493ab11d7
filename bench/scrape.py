"""Scraper throughput, measured side by side in one run on this machine.

1. ``scrapy bench`` (vanilla Scrapy, its own local server): pages/s — the reference.
2. The ``jsonld`` and ``shopify`` spiders crawling the demo shop (served from its own process,
   no politeness delays, robots.txt and the HTTP cache on, images off): pages/s and the ratio
   to ``scrapy bench`` (goal ≥ 0.5). A Shopify page carries 250 products, so its pages/s is
   also shown with 10 products per page (``SHOPIFY_PAGE_LIMIT=10``) and as products/s.
3. The image pipeline (Scrapy download + sniff + header check + decode-verify + sha256 + store
   into a fresh file:// lake) during a Shopify crawl with images on: images/s (goal ≥ 200).

Usage: ``.venv/bin/python bench/scrape.py [--catalog DIR] [--limit N] [--bench-seconds S]``
(default catalog: ../shared/datasets/fashion-products when present, else synthetic).
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.retailers import load_registry  # noqa: E402
from pipeline.scrape import run_crawl  # noqa: E402

SHARED = REPO.parent / "shared" / "datasets" / "fashion-products"
FAST = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "CONCURRENT_REQUESTS": 16,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 16, "LOG_LEVEL": "WARNING"}
NO_IMAGES = {"ITEM_PIPELINES": {"scrapers.pipelines.ValidationPipeline": 100}}


def scrapy_bench(seconds: int) -> float:
    """pages/s of ``scrapy bench``, run outside the project so it uses vanilla settings."""
    env = {k: v for k, v in os.environ.items() if k != "SCRAPY_SETTINGS_MODULE"}
    with tempfile.TemporaryDirectory() as cwd:
        out = subprocess.run([sys.executable, "-m", "scrapy", "bench", "-s", f"CLOSESPIDER_TIMEOUT={seconds}"],
                             cwd=cwd, env=env, capture_output=True, text=True, check=True).stderr
    stats = ast.literal_eval(re.search(r"Dumping Scrapy stats:\n(\{.*?\})\n", out, re.S).group(1)
                             .replace("datetime.datetime", "").replace("tzinfo=datetime.timezone.utc", ""))
    return stats["response_received_count"] / stats["elapsed_time_seconds"]


def start_shop(tmp: Path, catalog: Path | None, limit: int, products: int) -> tuple[subprocess.Popen, list]:
    registry = tmp / "retailers.yaml"
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
    r = replace(retailer, settings={**FAST, **settings, "HTTPCACHE_DIR": str(work / "cache")})
    with open(os.devnull, "w") as quiet:
        stdout, sys.stdout = sys.stdout, quiet
        try:
            out = run_crawl(r, f"file://{work / 'lake'}", work, known={})
        finally:
            sys.stdout = stdout
    s = out.stats
    responses = s.get("downloader/response_count", 0)
    images = s.get("vitrine/images/stored", 0)
    return {"elapsed": s["elapsed_time_seconds"], "pages": responses - s.get("file_count", 0),
            "items": len(out.items), "images": images, "responses": responses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, default=SHARED if SHARED.exists() else None)
    parser.add_argument("--limit", type=int, default=3000, help="products from --catalog")
    parser.add_argument("--products", type=int, default=600, help="synthetic catalog size without --catalog")
    parser.add_argument("--bench-seconds", type=int, default=10)
    args = parser.parse_args()

    print(f"cores: {os.cpu_count()}, catalog: {args.catalog or f'synthetic x{args.products}'}", flush=True)
    reference = scrapy_bench(args.bench_seconds)
    print(f"scrapy bench: {reference:.1f} pages/s", flush=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        shop, (shopify, jsonld) = start_shop(tmp, args.catalog, args.limit, args.products)
        try:
            rows = [("jsonld spider", crawl(jsonld, tmp, "jsonld", NO_IMAGES)),
                    ("shopify spider", crawl(shopify, tmp, "shopify", NO_IMAGES)),
                    ("shopify, limit=10", crawl(shopify, tmp, "shopify10", {**NO_IMAGES, "SHOPIFY_PAGE_LIMIT": 10})),
                    ("shopify + images", crawl(shopify, tmp, "images", {}))]
        finally:
            shop.terminate()
            shop.wait()
    print(f"\n{'crawl':18s} {'pages':>6s} {'items':>6s} {'images':>6s} {'secs':>6s} {'pages/s':>8s} "
          f"{'vs bench':>8s} {'items/s':>8s} {'images/s':>8s}")
    for name, r in rows:
        print(f"{name:18s} {r['pages']:6d} {r['items']:6d} {r['images']:6d} {r['elapsed']:6.1f} "
              f"{r['pages'] / r['elapsed']:8.1f} {r['pages'] / r['elapsed'] / reference:8.2f} "
              f"{r['items'] / r['elapsed']:8.1f} {r['images'] / r['elapsed']:8.1f}")
    print("\ngoals: jsonld/shopify pages/s >= 0.5 x scrapy bench; image pipeline >= 200 images/s on 2 cores")


if __name__ == "__main__":
    main()
