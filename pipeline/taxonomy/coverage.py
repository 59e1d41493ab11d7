"""Label coverage of a products table under a taxonomy, and a sample for human review."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pipeline.taxonomy.schema import Taxonomy


def label_products(taxonomy: Taxonomy, products: Sequence[dict[str, Any]]) -> list[dict[str, str | None]]:
    """Weak labels for each product row (same order)."""
    return [taxonomy.label(p) for p in products]


def coverage_report(
    taxonomy: Taxonomy,
    products: Sequence[dict[str, Any]],
    labels: Sequence[dict[str, str | None]],
    *,
    sample_size: int = 40,
    top_unmatched: int = 15,
    seed: int = 0,
) -> dict[str, Any]:
    """Per attribute: how many products got a label, per-value counts, and the most common
    texts of its first field that matched nothing (what to add to the YAML next); plus a
    random sample of products with their labels for review."""
    n = len(products)
    report: dict[str, Any] = {"products": n, "taxonomy": taxonomy.path, "attributes": {}}
    for name, attr in taxonomy.attributes.items():
        values = Counter(lab[name] for lab in labels if lab[name] is not None)
        labelled = sum(values.values())
        unmatched: Counter[str] = Counter()
        for product, lab in zip(products, labels):
            if lab[name] is None:
                text = product.get(attr.fields[0])
                if isinstance(text, (list, tuple)):
                    text = " > ".join(str(t) for t in text)
                unmatched[str(text or "").strip() or "<empty>"] += 1
        report["attributes"][name] = {
            "labelled": labelled,
            "coverage": round(labelled / n, 4) if n else 0.0,
            "values": {v: values.get(v, 0) for v in attr.values},
            f"top_unmatched_{attr.fields[0]}": unmatched.most_common(top_unmatched),
        }
    rng = random.Random(seed)
    picks = sorted(rng.sample(range(n), min(sample_size, n)))
    fields = sorted({f for a in taxonomy.attributes.values() for f in a.fields})
    report["sample"] = [
        {"product_id": products[i].get("product_id"), **{f: products[i].get(f) for f in fields}, "labels": labels[i]}
        for i in picks
    ]
    return report


def format_report(report: dict[str, Any]) -> str:
    """A short human-readable summary of :func:`coverage_report`."""
    lines = [f"label coverage over {report['products']} products ({report['taxonomy']}):"]
    for name, info in report["attributes"].items():
        top = ", ".join(f"{v}={c}" for v, c in info["values"].items() if c)
        lines.append(f"  {name:<10} {info['labelled']:>7} labelled ({info['coverage']:.1%})  {top}")
    return "\n".join(lines)
