"""Sweep product extraction over formasaurus's saved real pages (no price ground truth).

    .venv/bin/python -m pip download --no-deps --no-binary :all: formasaurus==0.10.0 -d /tmp/fs
    tar xzf /tmp/fs/formasaurus-0.10.0.tar.gz -C /tmp/fs
    .venv/bin/python -m bench.page_sweep /tmp/fs/formasaurus-0.10.0/formasaurus/data [--list]

formasaurus ships about 950 pages of many real sites (shops, forums, portals, in many
languages) with every form on them annotated by hand; ``b`` is an order / add-to-cart form.
Without price labels this measures three things: pages whose extraction raises (must be
none), the share of pages with an annotated add-to-cart form that give a product (a recall
proxy: some of them are home pages or listings with one cart form), and the products found on
pages without one (``--list`` prints them with their fields, to read by eye: product pages
whose cart form was not annotated, and false products).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from scrapers.extraction import extract_product

FIELDS = ("title", "price", "currency", "availability", "sku")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="formasaurus/data: index.json and html/")
    parser.add_argument("--list", action="store_true", help="print every product found")
    args = parser.parse_args()
    index_file = args.data_dir / "index.json"
    if not index_file.is_file():
        sys.exit(f"error: {index_file} not found (the data folder of an unpacked formasaurus sdist)")
    index = json.loads(index_file.read_text())
    counts = {"pages": 0, "errors": 0, "cart pages": 0, "cart pages with a product": 0, "other pages with a product": 0}
    started = time.perf_counter()
    for name, meta in index.items():
        counts["pages"] += 1
        cart_page = "b" in meta.get("forms", [])
        counts["cart pages"] += cart_page
        html = (args.data_dir / name).read_bytes().decode("utf-8", "replace")
        try:
            found = extract_product(html, meta["url"])
        except Exception as exc:  # the point of the sweep: a page must never raise
            counts["errors"] += 1
            print(f"ERROR {name} {meta['url']}: {type(exc).__name__}: {exc}")
            continue
        if found:
            counts["cart pages with a product" if cart_page else "other pages with a product"] += 1
            if args.list:
                values = " | ".join(str(found.get(f)) for f in FIELDS)
                print(f"{'cart ' if cart_page else 'other'} {name} {meta['url'][:90]}\n      {values}")
    elapsed = time.perf_counter() - started
    for key, value in counts.items():
        print(f"{key:>28}: {value}")
    print(f"{'recall proxy':>28}: {counts['cart pages with a product'] / max(counts['cart pages'], 1):.2f}")
    print(f"{'pages/s':>28}: {counts['pages'] / elapsed:.0f}")
    return 1 if counts["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
