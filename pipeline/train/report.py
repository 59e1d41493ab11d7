"""The evaluation report of a candidate: metrics.json, confusion matrices and training curves
as PNG, and a small self-contained HTML page, under ``models/attributes/<version>/report/``."""

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
    """Row-normalised confusion matrix (rows: truth) with counts in the cells."""
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
        ax.legend(fontsize=8)
    ax1.set_title("loss (dotted line: fine-tuning starts)")
    ax2.set_title("validation accuracy per head")
    return _png(fig)


def _fmt(x: Any) -> str:
    return "–" if x is None else f"{x:.4f}" if isinstance(x, float) else html.escape(str(x))


def render_html(version: str, candidate: dict, production: dict | None, decision: dict, pngs: list[str]) -> str:
    rows = []
    for attr, m in candidate["attributes"].items():
        p = (production or {}).get("attributes", {}).get(attr, {})
        worst = sorted(((c["recall"], v) for v, c in m["per_class"].items() if c["support"]), key=lambda t: t[0])[:3]
        rows.append(
            f"<tr><td>{attr}</td><td>{m['n']}</td><td>{_fmt(m['accuracy'])}</td><td>{_fmt(m['macro_f1'])}</td>"
            f"<td>{_fmt(p.get('accuracy'))}</td><td>{_fmt(p.get('macro_f1'))}</td>"
            f"<td>{', '.join(f'{html.escape(v)} {r:.2f}' for r, v in worst)}</td></tr>"
        )
    verdict = "Passes the promotion gate" if decision["promote"] else "Fails the promotion gate"
    images = "".join(f'<p><img src="{name}" alt="{name}"></p>' for name in pngs)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Model {html.escape(version)}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:4px 8px}}
table{{border-collapse:collapse}}</style></head><body>
<h1>Attribute model {html.escape(version)}</h1>
<p><b>{verdict}</b>: {html.escape(decision["reason"])}</p>
<p>Test split: {candidate["images"]} images of {html.escape(str(decision.get("trainset", "")))};
production: {html.escape(str(decision.get("production_version")))}</p>
<table><tr><th>attribute</th><th>n</th><th>accuracy</th><th>macro-F1</th><th>production accuracy</th>
<th>production macro-F1</th><th>worst recall</th></tr>{"".join(rows)}</table>
{images}<p>Raw numbers: <a href="metrics.json">metrics.json</a></p></body></html>"""


def write_report(
    lake: Lake,
    version: str,
    candidate: dict,
    production: dict | None,
    decision: dict,
    history: list[dict[str, float]],
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
    metrics = {"candidate": candidate, "production": production, "decision": decision, "history": history}
    lake.write_bytes(
        f"{prefix}/metrics.json", json.dumps(metrics, indent=2, default=str).encode(), content_type="application/json"
    )
    page = render_html(version, candidate, production, decision, pngs)
    lake.write_bytes(f"{prefix}/report.html", page.encode(), content_type="text/html")
    return lake.uri(f"{prefix}/report.html")
