"""Score product extraction on a folder of saved real pages.

    .venv/bin/python -m bench.extraction PAGES_DIR [--show-errors]

``PAGES_DIR`` holds the pages as ``<id>.html`` or ``<id>.html.gz`` (directly or under
``html/``) and ``ground-truth.json``: ``{id: {field: value or [accepted values]}}`` with
``url`` (the page's address), ``product: false`` for a page that is not a product page, and
any of ``title``, ``price``, ``currency``, ``availability`` (``InStock``/``OutOfStock`` or
schema.org words), ``brand``, ``sku``, ``gtin``, ``images``. This is the layout of the public
product-extraction benchmark, whose metric is used: per field, one predicted value against
the accepted ones; a wrong value is a false positive (and a false negative when a value was
expected), a missing one a false negative; prices match as Decimals; availability is
in stock unless the page says otherwise; sku/gtin accepts either identifier. Printed side by
side: Vitrine's extraction and a plain-extruct baseline (first product, first offer).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from scrapers.extraction import extract_product, markup, policy
from scrapers.items import clean_text, normalize_image_url, to_availability

FIELDS = ("title", "price", "currency", "availability", "brand", "sku/gtin", "images")


def pages(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in (root, root / "html"):
        for path in sorted(folder.glob("*.html*")):
            found.setdefault(path.name.split(".html")[0], path)
    return found


def read(path: Path) -> str:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.decode("utf-8", errors="replace")


def _values(value: Any) -> list:
    return [v for v in (value if isinstance(value, list) else [value]) if v not in (None, "")]


def _stock(value: Any) -> str:
    return "OutOfStock" if to_availability(value) in ("out_of_stock", "discontinued") else "InStock"


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def normalize(field: str, value: Any, url: str) -> Any:
    if value in (None, ""):
        return None
    if field == "price":
        return _decimal(value)
    if field == "availability":
        return _stock(value)
    if field == "images":
        return normalize_image_url(str(value), url)
    if field in ("title", "brand"):
        return (clean_text(value) or "").casefold() or None
    return str(value).strip()


def expected(truth: dict, field: str) -> set:
    url = truth.get("url") or ""
    raw = _values(truth.get("sku")) + _values(truth.get("gtin")) if field == "sku/gtin" else _values(truth.get(field))
    if field == "availability" and not raw and truth.get("product", True):
        raw = ["InStock"]  # the benchmark's rule: in stock unless the page says otherwise
    return {v for v in (normalize(field, r, url) for r in raw) if v is not None}


def predicted(found: dict | None, field: str, url: str) -> Any:
    if found is None:
        return None
    if field == "availability":
        return _stock(found.get("availability"))
    if field == "sku/gtin":
        value = found.get("sku") or found.get("gtin")
    elif field == "images":
        value = (found.get("image_urls") or [None])[0]
    else:
        value = found.get(field)
    return normalize(field, value, url)


def baseline(html: str, url: str) -> dict | None:
    """Plain extruct: the first Product node of JSON-LD or microdata, its first offer."""
    tree = markup.parse(html)
    for nodes in (markup.jsonld(tree), markup.microdata(tree, url)):
        product = next((n for n in nodes if policy.is_product(n)), None)
        if product is None:
            continue
        offer = next(iter(policy.as_list(product.get("offers"))), {})
        offer = offer if isinstance(offer, dict) else {}
        return {
            "title": policy.text(product.get("name")),
            "brand": policy.text(product.get("brand")),
            "price": offer.get("price") or offer.get("lowPrice"),
            "currency": offer.get("priceCurrency"),
            "availability": policy.url_of(offer.get("availability")),
            "sku": policy.text(product.get("sku")),
            "image_urls": policy.images(product.get("image")),
        }
    return None


def score(rows: list[tuple[set, Any]]) -> dict[str, float]:
    tp = fp = fn = 0
    for truth, pred in rows:
        if pred is None:
            fn += bool(truth)
        elif pred in truth:
            tp += 1
        else:
            fp += 1
            fn += bool(truth)
    precision = tp / (tp + fp) if tp + fp else (1.0 if not fn else 0.0)
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall, "support": sum(bool(t) for t, _ in rows)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages_dir", type=Path)
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()
    truth_path = args.pages_dir / "ground-truth.json"
    if not truth_path.is_file():
        print(f"error: {truth_path} not found", file=sys.stderr)
        return 2
    truths = json.loads(truth_path.read_text(encoding="utf-8"))
    files = pages(args.pages_dir)
    missing = sorted(set(truths) - set(files))
    if missing:
        print(f"error: no page for {len(missing)} ground-truth ids, e.g. {missing[0]}", file=sys.stderr)
        return 2
    systems = {"vitrine": extract_product, "extruct": baseline}
    rows: dict[str, dict[str, list]] = {s: {f: [] for f in FIELDS} for s in systems}
    false_products: dict[str, list[str]] = {s: [] for s in systems}
    for n, (key, truth) in enumerate(sorted(truths.items()), 1):
        html, url = read(files[key]), truth.get("url") or f"https://example.invalid/{key}"
        for name, extract in systems.items():
            found = extract(html, url)
            if not truth.get("product", True):
                if found is not None:
                    false_products[name].append(key)
                continue
            for field in FIELDS:
                want, got = expected(truth, field), predicted(found, field, url)
                rows[name][field].append((want, got))
                if args.show_errors and name == "vitrine" and want and got not in want:
                    print(f"  {key} {field}: got {got!r}, expected {sorted(map(str, want))}", file=sys.stderr)
        if n % 25 == 0:
            print(f"... {n}/{len(truths)} pages", file=sys.stderr)
    n_product = sum(1 for t in truths.values() if t.get("product", True))
    print(f"{n_product} product pages, {len(truths) - n_product} non-product pages\n")
    print(f"{'field':<14}{'support':>8}  " + "  ".join(f"{s + ' F1 (P/R)':>22}" for s in systems))
    for field in FIELDS:
        scores = {s: score(rows[s][field]) for s in systems}
        cells = "  ".join(f"{m['f1']:>8.3f} ({m['precision']:.2f}/{m['recall']:.2f})" for m in scores.values())
        print(f"{field:<14}{scores['vitrine']['support']:>8}  {cells}")
    print(
        "\nproducts found on non-product pages: "
        + ", ".join(f"{s} {len(v)}" + (f" ({', '.join(v[:5])})" if v else "") for s, v in false_products.items())
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
