"""One storefront's crawl of the night's synthetic shop, alone (no Airflow, no other crawl): a
first night into a fresh lake, then, after ``bench.night.mutate``, an incremental night with
the first night's known pages and images and the same HTTP cache. Prints per night: requests,
pages and images per second of the crawl's own elapsed time, the crawl process's CPU seconds
(user + system: steadier than wall time on a shared machine), and with ``--reference`` the
ratios to ``bench/scrape.py``'s image pipeline measured just before (what bench/night.py
compares against).

``--spy PREFIX`` runs the crawl process under ``py-spy record --nonblocking`` (py-spy must be
installed in the venv: ``.venv/bin/uv pip install py-spy``) and writes ``PREFIX-first.txt`` and
``PREFIX-incremental.txt`` (raw collapsed stacks); ``--split FILE`` prints where such a profile's
busy samples go (pages, images, Scrapy/Twisted per request, start-up). Under ``--spy`` the
CPU seconds printed are not the crawl's own.

    nice -n 10 .venv/bin/python -m bench.crawl_alone --products 10000 --reference
    nice -n 10 .venv/bin/python -m bench.crawl_alone --products 5000 --spy /tmp/jsonld
    .venv/bin/python -m bench.crawl_alone --split /tmp/jsonld-first.txt
"""

from __future__ import annotations

import argparse
import collections
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

IDLE = ("_worker (concurrent/futures/thread.py:81)", "Condition.wait", "select (selectors", "poll (selectors")
CATEGORIES = (  # first match wins: (category, substrings of any frame of the stack)
    ("image: sniff, decode-verify, sha256, lake write (thread)", ("_check_and_store", "inspect (scrapers/images")),
    ("image: media pipeline (reactor)", ("media_downloaded", "item_completed", "pipelines/media.py", "files.py")),
    ("page: HTTP cache store", ("_cache_response", "store_response")),
    ("page: HTTP cache lookup", ("retrieve_response",)),
    ("page: extraction (extract_product)", ("extract_product",)),
    ("page: sitemap", ("parse_sitemap", "_sitemap_entries")),
    ("page: item (validate, feed, build)", ("ValidationPipeline", "export_item", "RetailerSpider.product")),
    ("page: spider callback, other", ("parse_page", "parse_listing")),
    ("other thread", ("_bootstrap_inner",)),
    ("start-up", ("FreezeStartupObjects", "_find_and_load", "Crawler.crawl")),
)
SHARED = "Scrapy engine, downloader, Twisted HTTP (per request)"


def split(path: Path) -> None:
    """Busy samples of a raw py-spy profile by category (idle thread waits left out)."""
    counts: collections.Counter[str] = collections.Counter()
    idle = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if frames[-1].startswith(IDLE):
            idle += int(n)
            continue
        name = next((c for c, keys in CATEGORIES if any(k in f for f in frames for k in keys)), SHARED)
        counts[name] += int(n)
    total = sum(counts.values())
    print(f"{path}: {total} busy samples ({idle} idle left out)")
    for name, n in counts.most_common():
        print(f"  {100 * n / total:5.1f}%  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--platform", default="jsonld", choices=["jsonld", "shopify"])
    parser.add_argument("--reference", action="store_true", help="measure bench/scrape.py's image pipeline first")
    parser.add_argument("--spy", help="profile the crawl process with py-spy into PREFIX-<night>.txt")
    parser.add_argument("--split", type=Path, help="only print where a --spy profile's samples go")
    parser.add_argument("--tag", default="", help="a label for the printed lines")
    args = parser.parse_args()
    if args.split:
        split(args.split)
        return

    import os

    from bench import night
    from pipeline.demo_shop import DemoShop
    from pipeline.scrape import known_images, run_crawl

    root = Path(tempfile.mkdtemp(prefix="vitrine-crawl-alone-"))
    python = sys.executable
    try:
        reference = night.image_pipeline_reference(root) if args.reference else None
        if reference:
            print(f"{args.tag} reference (bench/scrape.py image pipeline): {reference:.0f} images/s", flush=True)
        if args.spy:  # run_crawl starts sys.executable: make that py-spy around the same python
            wrapper = root / "python-under-py-spy"
            spy = Path(python).parent / "py-spy"
            wrapper.write_text(
                f'#!/bin/sh\nexec {spy} record -r 50 --nonblocking -f raw -o "$SPY_OUT" -- {python} "$@"\n'
            )
            wrapper.chmod(0o755)
            sys.executable = str(wrapper)
        with DemoShop(night.night_catalog(args.products), mess=False, page_size=48) as shop:
            night.warm(shop)
            retailer = next(r for r in shop.retailers(prefix="alone") if r.platform == args.platform)
            retailer = replace(retailer, max_products=10**9)
            settings = {"HTTPCACHE_DIR": str(root / "cache"), "LOG_LEVEL": "WARNING"}
            known: dict[str, dict] = {}
            pages: dict[str, str] = {}
            for name in ("first", "incremental"):
                if name == "incremental":
                    night.mutate(shop, args.products, seed=args.products)
                    night.warm(shop)
                os.environ["SPY_OUT"] = f"{args.spy}-{name}.txt"
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                out = run_crawl(retailer, f"file://{root / 'lake'}", root / name, known, pages, settings)
                wall = time.perf_counter() - start
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                s = out.stats
                elapsed, requests = s["elapsed_time_seconds"], s.get("downloader/request_count", 0)
                images, n_pages = s.get("vitrine/images/new", 0), requests - s.get("file_count", 0)
                ratios = (
                    f" | vs reference: images/s {images / elapsed / reference:.2f}x, "
                    f"requests/s {requests / elapsed / reference:.2f}x"
                    if reference
                    else ""
                )
                print(
                    f"{args.tag} {args.platform} {name} night, {args.products} products: {elapsed:.1f} s "
                    f"(wall {wall:.1f}), {requests} requests {requests / elapsed:.0f}/s, {n_pages} pages "
                    f"{n_pages / elapsed:.0f}/s, {images} images {images / elapsed:.0f}/s, items {len(out.items)}, "
                    f"unchanged {len(out.unchanged)}, 304s {s.get('downloader/response_status_count/304', 0)}, "
                    f"complete {out.complete}; crawl CPU {cpu:.1f} s ({requests / cpu:.0f} requests, "
                    f"{images / cpu:.0f} images per CPU second){ratios}",
                    flush=True,
                )
                rows = [dict(image, detail=image.get("reason")) for item in out.items for image in item["images"]]
                known = known_images(rows)  # what pipeline.scrape passes the next night
                pages = {item["url"]: item["scraped_at"] for item in out.items}
    finally:
        sys.executable = python
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
