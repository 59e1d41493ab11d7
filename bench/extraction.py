"""Score product extraction on a folder of saved real pages.

    .venv/bin/python -m bench.extraction PAGES_DIR [--show-errors] [--no-url]

``PAGES_DIR`` holds ``ground-truth.json`` and the pages as ``<id>.html`` or ``<id>.html.gz``
(directly or under ``html/``), or is a checkout of the public product-extraction benchmark
(``dataset/ground-truth.json``, ``dataset/html/*.html.gz``). The ground truth is
``{id: {field: value or [accepted values]}}`` with ``url`` (the page's address),
``product: false`` for a page that is not a product page, and any of ``price``,
``availability`` (``InStock``/``OutOfStock`` or schema.org words), ``sku``, ``title``,
``currency``, ``brand``, ``gtin``, ``images``. ``--truth FILE`` reads it from elsewhere:
``bench/formasaurus-truth.json`` labels 100 pages of the ``formasaurus`` sdist (see
``bench/page_sweep.py`` for the download): price, availability, title, currency, brand, and
the SKU of every product page that shows one (a page without ``sku`` shows none, so an SKU
found there is a false positive)::

    .venv/bin/python -m bench.extraction /tmp/fs/formasaurus-0.10.0/formasaurus/data \\
        --truth bench/formasaurus-truth.json

The metric is the benchmark's (its ``evaluate.py``): per field, at most one predicted value
against the accepted ones; a right value is a true positive; a wrong one a false positive,
and also a false negative when a value was expected; a missing one a false negative where a
value was expected. Precision and recall are 1 when there is neither a false positive nor a
false negative, else 0 when their numerator and denominator are both 0. ``price`` matches as
a ``Decimal``; ``sku`` as the exact string (a GTIN counts only where the ground truth lists it
as a sku); ``availability`` is ``InStock`` unless the extraction says out of stock (the benchmark's
README rule), and so is the ground truth that does not say; ``InStock``/``OutOfStock`` score
each label alone; ``avail-strict`` counts a missing or unknown availability as a miss, which
is how the benchmark's published extruct numbers were computed (its predictions lack the
``availability`` key where extruct found none; fed through this metric they give its table:
price 0.685, sku 0.537, availability 0.626).
The other fields are Vitrine's own (text compared case-folded; currencies as ISO codes, the
ground truth's signs read as the extractor reads them: "€" is EUR, "$" names no one currency). Printed side by side:
Vitrine's extraction and a plain-extruct baseline built like the benchmark's own (OpenGraph,
then JSON-LD, then microdata, the later filling over the earlier; the first Product node and
its first offer).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from price_parser import Price

from scrapers.extraction import extract_product, markup, policy
from scrapers.items import clean_text, normalize_image_url, to_availability, to_currency

# the benchmark's fields first (price, sku, availability and its two labels), then Vitrine's
FIELDS = (
    *("price", "sku", "availability", "InStock", "OutOfStock", "avail-strict"),
    *("title", "currency", "brand", "gtin", "images"),
)
LABELS = ("InStock", "OutOfStock")
STOCK_FIELDS = ("availability", "avail-strict", *LABELS)


def dataset_root(root: Path) -> Path:
    """The folder holding ``ground-truth.json``: ``root`` or the benchmark's ``root/dataset``."""
    return root / "dataset" if not (root / "ground-truth.json").is_file() else root


def pages(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in (root, root / "html"):
        for path in sorted(folder.glob("*.html*")):
            found.setdefault(path.name.split(".html")[0], path)
    return found


def read(path: Path) -> bytes:
    """A saved page's bytes, as stored: the extractors decode them (UTF-8 when valid, else by
    their BOM or declared charset)."""
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


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
    if field == "images":
        return normalize_image_url(str(value), url)
    if field in ("title", "brand"):
        return (clean_text(value) or "").casefold() or None
    if field == "currency":  # the ISO code, the ground truth's sign read as the extractor reads it
        return to_currency(str(value)) or str(value)  # ("€" is EUR; "$" names none and stays "$")
    return str(value)  # sku, gtin: the exact string, as the benchmark matches them


def expected(truth: dict, field: str) -> set:
    url = truth.get("url") or ""
    if field in STOCK_FIELDS:
        if not truth.get("product", True):
            return set()
        stock = {_stock(v) for v in _values(truth.get("availability"))} or {"InStock"}
        return stock & {field} if field in LABELS else stock
    return {v for v in (normalize(field, r, url) for r in _values(truth.get(field))) if v is not None}


def predicted(found: dict | None, field: str, url: str) -> Any:
    said = found.get("availability") if found else None
    if field == "avail-strict":  # no product, or an unknown availability, is a miss
        return _stock(said) if said not in (None, "", "unknown") else None
    if field in STOCK_FIELDS:
        stock = _stock(said) if found else "InStock"  # the benchmark's default
        return stock if field in ("availability", stock) else None
    if found is None:
        return None
    value = (found.get("image_urls") or [None])[0] if field == "images" else found.get(field)
    return normalize(field, value, url)


def _baseline_price(value: Any) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        return None
    amount = Price.fromstring(value).amount_float
    return None if amount is None else str(amount)


def _baseline_stock(value: Any) -> str | None:
    state = to_availability(policy.url_of(value) or policy.text(value))
    return {"in_stock": "InStock", "limited": "InStock", "preorder": "InStock", "out_of_stock": "OutOfStock"}.get(state)


def baseline(html: str | bytes, url: str) -> dict | None:
    """Plain extruct, as the benchmark's baseline reads a page: OpenGraph price, availability
    and sku, then JSON-LD, then microdata, each filling over the one before; of JSON-LD and
    microdata the first Product node (or an ItemPage's ``mainEntity``) and its first offer."""
    tree = markup.parse(html)
    og = {k: v[0] for k, v in markup.opengraph(tree).items()}
    found: dict[str, Any] = {
        "price": _baseline_price(og.get("og:price:amount") or og.get("product:price:amount")),
        "availability": _baseline_stock(og.get("og:availability") or og.get("product:availability")),
        "sku": og.get("og:sku") or og.get("product:sku"),
    }
    for nodes in (markup.jsonld(tree), markup.microdata(tree, url)):
        product = next((n for n in nodes if "Product" in str(n.get("@type"))), None)
        if product is None:
            page = next((n for n in nodes if n.get("@type") == "ItemPage"), None)
            product = page.get("mainEntity") if page else None
        if not isinstance(product, dict):
            continue
        first = next(iter(policy.as_list(product.get("offers"))), None)
        offer: dict[str, Any] = first if isinstance(first, dict) else {}
        fields = {
            "title": policy.text(product.get("name")),
            "brand": policy.text(product.get("brand")),
            "price": _baseline_price(offer.get("price") or offer.get("highPrice") or offer.get("lowPrice")),
            "currency": offer.get("priceCurrency"),
            "availability": _baseline_stock(offer.get("availability")),
            "sku": policy.text(product.get("sku") or product.get("productID")),
            "image_urls": policy.images(product.get("image")),
        }
        found.update({k: v for k, v in fields.items() if v not in (None, "", [])})
    return found if any(v not in (None, "", []) for v in found.values()) else None


def tp_fp_fn(truth: set, pred: Any) -> tuple[int, int, int]:
    """The benchmark's matching of one predicted value against the accepted ones."""
    if pred is None:
        return 0, 0, int(bool(truth))
    if pred in truth:
        return 1, 0, 0
    return 0, 1, int(bool(truth))


def score(rows: list[tuple[set, Any]]) -> dict[str, float]:
    tp, fp, fn = (sum(c) for c in zip(*(tp_fp_fn(t, p) for t, p in rows), strict=True)) if rows else (0, 0, 0)
    clean = fp == fn == 0
    precision = 1.0 if clean else (tp / (tp + fp) if tp + fp else 0.0)
    recall = 1.0 if clean else (tp / (tp + fn) if tp + fn else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall, "support": sum(bool(t) for t, _ in rows)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages_dir", type=Path)
    parser.add_argument("--truth", type=Path, help="the ground truth, if not PAGES_DIR/ground-truth.json")
    parser.add_argument("--show-errors", action="store_true")
    parser.add_argument(
        "--no-url",
        action="store_true",
        help="give the extractors no page URL, as a harness holding only the saved HTML",
    )
    args = parser.parse_args()
    root = dataset_root(args.pages_dir) if args.truth is None else args.pages_dir
    truth_path = args.truth or root / "ground-truth.json"
    if not truth_path.is_file():
        print(f"error: {truth_path} not found", file=sys.stderr)
        return 2
    truths = json.loads(truth_path.read_text(encoding="utf-8"))
    files = pages(root)
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
            found = extract(html, "" if args.no_url else url)
            if not truth.get("product", True):
                if found is not None and (name == "vitrine" or found.get("price") or found.get("sku")):
                    false_products[name].append(key)
                continue
            for field in FIELDS:
                want, got = expected(truth, field), predicted(found, field, url)
                rows[name][field].append((want, got))
                if args.show_errors and name == "vitrine" and field not in LABELS and any(tp_fp_fn(want, got)[1:]):
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
