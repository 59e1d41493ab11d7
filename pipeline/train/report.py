"""The evaluation report of a candidate, under ``models/attributes/<version>/report/``:
metrics.json, confusion matrices and training curves (integer epoch ticks) as PNG, and an
HTML page with the metrics beside production's, split sizes per class (tiny test classes
flagged), the hyperparameters, and a gallery of the worst mistakes (thumbnails embedded)."""

from __future__ import annotations

import html
import io
import json
from typing import Any

from pipeline import layout
from pipeline.lake import Lake


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def confusion_png(name: str, m: dict[str, Any]) -> bytes:
    """Row-normalized confusion matrix (rows: truth) with counts in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    counts = np.array(m["confusion"], dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    norm = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    k = len(m["labels"])
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * k, 0.8 + 0.5 * k))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), m["labels"], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), m["labels"], fontsize=8)
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                ax.text(
                    j,
                    i,
                    str(int(counts[i, j])),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black",
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{name}: accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}")
    return _png(fig)


def curves_png(history: list[dict[str, float]]) -> bytes:
    """Training/validation loss and per-head validation accuracy by epoch (phases marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = list(range(1, len(history) + 1))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for key, style in (("loss", "-"), ("val_loss", "--")):
        ax1.plot(epochs, [h.get(key) for h in history], style, label=key)
    heads = sorted(k for k in (history[0] if history else {}) if k.startswith("val_") and k.endswith("_acc"))
    for key in heads:
        ax2.plot(epochs, [h[key] for h in history], label=key[4:-4])
    switch = next((i for i, h in enumerate(history) if h.get("phase") == 2), None)
    for ax in (ax1, ax2):
        if switch:
            ax.axvline(switch + 0.5, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
    ax1.set_title("loss (dotted line: fine-tuning starts)")
    ax2.set_title("validation accuracy per head")
    return _png(fig)


def _fmt(x: Any) -> str:
    return "–" if x is None else f"{x:.4f}" if isinstance(x, float) else html.escape(str(x))


def thumbnail_uri(lake: Lake, key: str, size: int = 96) -> str:
    """A small JPEG of a lake image as a data: URI (the report stays one self-contained page)."""
    import base64

    from PIL import Image

    from pipeline.imagegate import ImageRejected
    from pipeline.imageio import decode_bytes

    try:
        pixels = decode_bytes(lake.read_bytes(key), size)
    except (ImageRejected, FileNotFoundError):
        return ""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _gallery(lake: Lake, candidate: dict) -> str:
    parts = []
    for attr, mistakes in candidate.get("mistakes", {}).items():
        if not mistakes:
            continue
        cells = "".join(
            f'<figure><img src="{thumbnail_uri(lake, m["image_key"])}" alt="{html.escape(m["image_key"])}">'
            f"<figcaption>true <b>{html.escape(str(m['true']))}</b><br>pred {html.escape(m['pred'])} "
            f"({m['confidence']:.2f})</figcaption></figure>"
            for m in mistakes
        )
        parts.append(f"<h3>{html.escape(attr)}</h3><div class=gallery>{cells}</div>")
    return "<h2>Worst mistakes (most confident wrong predictions)</h2>" + "".join(parts) if parts else ""


def _splits_table(context: dict) -> str:
    tiny = context.get("tiny_class", 10)
    rows, warnings = [], []
    for attr, values in context.get("split_counts", {}).items():
        for value, n in values.items():
            flag = " class=tiny" if n["test"] < tiny else ""
            rows.append(
                f"<tr{flag}><td>{html.escape(attr)}</td><td>{html.escape(value)}</td><td>{n['train']}</td>"
                f"<td>{n['val']}</td><td>{n['test']}</td></tr>"
            )
        small = [f"{v} ({n['test']})" for v, n in values.items() if n["test"] < tiny]
        if small:
            warnings.append(f"{html.escape(attr)}: {html.escape(', '.join(small))}")
    warn = (
        (
            f"<p class=warn><b>Tiny test classes</b> (fewer than {tiny} labelled test images: their recall and "
            f"the macro-F1 are noisy): {'; '.join(warnings)}</p>"
        )
        if warnings
        else ""
    )
    return (
        f"<h2>Split sizes per class</h2>{warn}<table><tr><th>attribute</th><th>value</th><th>train</th>"
        f"<th>val</th><th>test</th></tr>{''.join(rows)}</table>"
    )


def _hyperparameters(context: dict) -> str:
    config = dict(context.get("config") or {})
    config.setdefault("backbone", context.get("backbone"))
    config.setdefault("image_size", context.get("image_size"))
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(json.dumps(v))}</td></tr>" for k, v in sorted(config.items())
    )
    took = f"<p>Training took {context['train_seconds'] / 60:.1f} min.</p>" if context.get("train_seconds") else ""
    return f"<h2>Hyperparameters</h2>{took}<table>{rows}</table>"


def _retrieval(candidate: dict, production: dict | None) -> str:
    r = candidate.get("retrieval") or {}
    if r.get("precision") is None:
        return ""
    prod = ((production or {}).get("retrieval") or {}).get("precision")
    versus = f"; production {_fmt(prod)}" if prod is not None else ""
    return (
        f"<p>Visual search: precision@{r['k']} {_fmt(r['precision'])}{versus} (share of each test image's "
        f"{r['k']} nearest neighbours in the embedding, other dedup groups, with the same "
        f"{html.escape(' and '.join(r['attributes']))})</p>"
    )


def render_html(
    version: str,
    candidate: dict,
    production: dict | None,
    decision: dict,
    pngs: list[str],
    context: dict | None = None,
    gallery: str = "",
) -> str:
    context = context or {}
    rows = []
    for attr, m in candidate["attributes"].items():
        p = (production or {}).get("attributes", {}).get(attr, {})
        worst = sorted(
            ((c["recall"], v, c["support"]) for v, c in m["per_class"].items() if c["support"]), key=lambda t: t[0]
        )[:3]
        rows.append(
            f"<tr><td>{attr}</td><td>{m['n']}</td><td>{_fmt(m['accuracy'])}</td><td>{_fmt(m['macro_f1'])}</td>"
            f"<td>{_fmt(p.get('accuracy'))}</td><td>{_fmt(p.get('macro_f1'))}</td>"
            f"<td>{', '.join(f'{html.escape(v)} {r:.2f} ({n})' for r, v, n in worst)}</td></tr>"
        )
    verdict = "Passes the promotion gate" if decision["promote"] else "Fails the promotion gate"
    images = "".join(f'<p><img src="{name}" alt="{name}"></p>' for name in pngs)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Model {html.escape(version)}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:4px 8px}}
table{{border-collapse:collapse}}.tiny td{{background:#fff3cd}}.warn{{color:#8a6d3b}}
.gallery{{display:flex;flex-wrap:wrap;gap:8px}}figure{{margin:0;width:110px;font-size:11px}}</style></head><body>
<h1>Attribute model {html.escape(version)}</h1>
<p><b>{verdict}</b>: {html.escape(decision["reason"])}</p>
<p>Test split: {candidate["images"]} images of {html.escape(str(decision.get("trainset", "")))};
production: {html.escape(str(decision.get("production_version")))}</p>
<table><tr><th>attribute</th><th>n</th><th>accuracy</th><th>macro-F1</th><th>production accuracy</th>
<th>production macro-F1</th><th>worst recall (test images)</th></tr>{"".join(rows)}</table>
{_retrieval(candidate, production)}{_splits_table(context)}{_hyperparameters(context)}{gallery}
{images}<p>Raw numbers: <a href="metrics.json">metrics.json</a></p></body></html>"""


def write_report(
    lake: Lake,
    version: str,
    candidate: dict,
    production: dict | None,
    decision: dict,
    history: list[dict[str, float]],
    context: dict | None = None,
) -> str:
    """Write every report file; returns the URI of report.html."""
    prefix = f"{layout.model_prefix(version)}/report"
    pngs = []
    if history:
        lake.write_bytes(f"{prefix}/curves.png", curves_png(history), content_type="image/png")
        pngs.append("curves.png")
    for attr, m in candidate["attributes"].items():
        if m["n"]:
            name = f"confusion_{attr}.png"
            lake.write_bytes(f"{prefix}/{name}", confusion_png(attr, m), content_type="image/png")
            pngs.append(name)
    metrics = {
        "candidate": candidate,
        "production": production,
        "decision": decision,
        "history": history,
        "context": context or {},
    }
    lake.write_bytes(
        f"{prefix}/metrics.json", json.dumps(metrics, indent=2, default=str).encode(), content_type="application/json"
    )
    page = render_html(version, candidate, production, decision, pngs, context, _gallery(lake, candidate))
    lake.write_bytes(f"{prefix}/report.html", page.encode(), content_type="text/html")
    return lake.uri(f"{prefix}/report.html")
