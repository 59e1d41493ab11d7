"""A labelled near-duplicate evaluation built from a folder of product photos.

For every photo: positive variants (the same photo as retailers re-publish it) and hard
negatives — a hue-shifted colorway, and the most similar-looking *other* products of the
same category (nearest by 64-bit pHash). Every variant goes through the pipeline's own
path (encoded bytes → ``hash_bytes``) and the pipeline's own decision (``Thresholds``:
64-bit pHash, 256-bit pHash, hue and Lab distances, in the full or the trimmed view). Precision, recall and F1 are reported
per transformation (its positives against all negatives) at several 64-bit thresholds; the
thresholds are selected on half of the photos and reported on the other half.

Colorway negatives count only when the recoloring is visible (≥ ``VISIBLE_FRACTION`` of the
pixels change by ΔE76 > 20): hue-shifting a black, white or grey product gives back the
same picture. Other-product pairs that are the same photo (identical title, or mean
absolute difference of 64×64 grey thumbnails below ``SAME_PHOTO``: the dataset lists some
products twice with one photo) are left out — merging those is right. Both exclusions are
counted in the report.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipeline.dedup.grouping import Thresholds
from pipeline.dedup.hashing import ImageHashes, hash_bytes
from pipeline.dedup.methods import hamming_fine, hue_distance, lab_distance
from pipeline.dedup.methods.color import CELLS
from pipeline.dedup.transforms import brightness, crop, encode, hue_shift, pad, resize, visible_change, watermark

VISIBLE_FRACTION = 0.03
SAME_PHOTO = 2.0
NEAREST_OTHERS = 3
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}

POSITIVES: dict[str, Callable[[Image.Image, np.random.Generator], bytes]] = {
    "resize_0.5x": lambda im, rng: encode(resize(im, 0.5)),
    "resize_2x": lambda im, rng: encode(resize(im, 2.0)),
    "jpeg_q30": lambda im, rng: encode(im, quality=30),
    "jpeg_q40-95": lambda im, rng: encode(im, quality=int(rng.integers(40, 96))),
    "watermark": lambda im, rng: encode(watermark(im)),
    "watermark_centre": lambda im, rng: encode(watermark(im, where="centre")),
    "brightness_+10%": lambda im, rng: encode(brightness(im, 1.1)),
    "brightness_-10%": lambda im, rng: encode(brightness(im, 0.9)),
    "crop_5%": lambda im, rng: encode(crop(im, 0.05)),
    "padding_10%": lambda im, rng: encode(pad(im, 0.10)),
}
# the acceptance classes: recall >= 0.98 required; thresholds are selected for RECALL_FLOOR on
# half the photos, which leaves a margin for the held-out half
RECALL_FLOOR = 0.985
# a colorway safety margin up to this factor is preferred over fewer other-product merges
COLOR_MARGIN = 1.2
REQUIRED = ["resize_0.5x", "resize_2x", "jpeg_q30", "jpeg_q40-95", "watermark", "brightness_+10%", "brightness_-10%"]


@dataclass
class Photo:
    """Signatures of one photo and its variants (name → (full view, trimmed view), each
    (code, fine, color))."""

    name: str
    category: str
    title: str
    sigs: dict[str, tuple[tuple[int, bytes, bytes], tuple[int, bytes, bytes]]]
    colorway_visible: float
    thumb: np.ndarray  # 64x64 grey, to recognise the same photo listed under two ids


def _photo(args: tuple[Path, str, str, int]) -> Photo | None:
    path, category, title, seed = args
    data = path.read_bytes()
    rng = np.random.default_rng(seed)
    original = hash_bytes("original", data)
    if original.reason is not None:
        return None
    img = Image.open(path).convert("RGB")
    sigs = {"original": _views(original)}
    for name, make in POSITIVES.items():
        sigs[name] = _views(hash_bytes(name, make(img, rng)))
    recolored = hue_shift(img, float(rng.uniform(60, 300)))
    sigs["colorway"] = _views(hash_bytes("colorway", encode(recolored)))
    thumb = np.asarray(img.convert("L").resize((64, 64), Image.Resampling.BOX), dtype=np.uint8)
    return Photo(path.stem, category, title, sigs, visible_change(img, recolored), thumb)


def _views(h: ImageHashes) -> tuple[tuple[int, bytes, bytes], tuple[int, bytes, bytes]]:
    """The signatures of both views of an image that was not rejected."""
    assert h.reason is None, h.reason
    return (h.phash, h.phash256, h.color), (h.tphash, h.tphash256, h.tcolor)  # type: ignore[return-value]


def _labels(labels: Path | None) -> dict[str, tuple[str, str]]:
    """photo id → (category, title) from a CSV like fashion-products' labels.csv."""
    if labels is None or not labels.exists():
        return {}
    out = {}
    with open(labels, newline="") as fh:
        for row in csv.DictReader(fh):
            category = row.get("articleType") or row.get("subCategory") or row.get("category") or ""
            out[row["id"]] = (category, row.get("productDisplayName") or row.get("title") or "")
    return out


def hash_photos(folder: Path, labels: Path | None, limit: int | None, workers: int, seed: int = 0) -> list[Photo]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    meta = _labels(labels)
    jobs = [(p, *meta.get(p.stem, ("", "")), seed * 1_000_003 + n) for n, p in enumerate(files)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return [p for p in pool.map(_photo, jobs, chunksize=8) if p is not None]


@dataclass
class Pairs:
    """Labelled pairs: kind (transformation, "colorway" or "other_product"), label, and the
    distances of each view (rows: full, trimmed)."""

    kind: np.ndarray
    positive: np.ndarray
    photo: np.ndarray
    d64: np.ndarray
    d256: np.ndarray
    dhue: np.ndarray
    dlab: np.ndarray
    excluded: dict[str, int]


def build_pairs(photos: list[Photo]) -> Pairs:
    kinds: list[str] = []
    photo_ids: list[int] = []
    a_sig: list[Any] = []
    b_sig: list[Any] = []

    def _pair(kind: str, photo: int, a: Any, b: Any) -> None:
        kinds.append(kind)
        photo_ids.append(photo)
        a_sig.append(a)
        b_sig.append(b)

    excluded = {"colorway_not_visible": 0, "other_product_same_photo": 0}
    for n, p in enumerate(photos):
        for name in POSITIVES:
            _pair(name, n, p.sigs["original"], p.sigs[name])
        if p.colorway_visible >= VISIBLE_FRACTION:
            _pair("colorway", n, p.sigs["original"], p.sigs["colorway"])
        else:
            excluded["colorway_not_visible"] += 1
    codes = np.array([p.sigs["original"][0][0] for p in photos], dtype=np.uint64)
    categories = np.array([p.category for p in photos])
    seen: set[tuple[int, int]] = set()
    for n, p in enumerate(photos):
        same = np.flatnonzero(categories == p.category)
        same = same[same != n]
        nearest = same[np.argsort(np.bitwise_count(codes[same] ^ codes[n]), kind="stable")[:NEAREST_OTHERS]]
        for m in nearest.tolist():
            pair = (min(n, m), max(n, m))
            if pair in seen:
                continue
            seen.add(pair)
            same_title = bool(p.title) and p.title == photos[m].title
            if same_title or np.abs(p.thumb.astype(np.int16) - photos[m].thumb).mean() < SAME_PHOTO:
                excluded["other_product_same_photo"] += 1
                continue
            _pair("other_product", n, p.sigs["original"], photos[m].sigs["original"])
    kind = np.array(kinds)
    dist = [_distances([s[v] for s in a_sig], [s[v] for s in b_sig]) for v in (0, 1)]
    return Pairs(
        kind=kind,
        positive=np.isin(kind, list(POSITIVES)),
        photo=np.array(photo_ids),
        **{name: np.stack([d[k] for d in dist]) for k, name in enumerate(("d64", "d256", "dhue", "dlab"))},
        excluded=excluded,
    )


def _distances(a: list[tuple[int, bytes, bytes]], b: list[tuple[int, bytes, bytes]]) -> list[np.ndarray]:
    """64-bit, 256-bit, hue and Lab distances of row-aligned signatures."""
    a64 = np.array([s[0] for s in a], dtype=np.uint64)
    b64 = np.array([s[0] for s in b], dtype=np.uint64)
    fa = np.frombuffer(b"".join(s[1] for s in a), dtype=np.uint64).reshape(-1, 4)
    fb = np.frombuffer(b"".join(s[1] for s in b), dtype=np.uint64).reshape(-1, 4)
    ca = np.frombuffer(b"".join(s[2] for s in a), dtype=np.uint8).reshape(-1, CELLS, 3)
    cb = np.frombuffer(b"".join(s[2] for s in b), dtype=np.uint8).reshape(-1, CELLS, 3)
    blocks = range(0, len(a), 4096)
    return [
        np.bitwise_count(a64 ^ b64).astype(np.int16),
        hamming_fine(fa, fb),
        np.concatenate([hue_distance(ca[k : k + 4096], cb[k : k + 4096]) for k in blocks]),
        np.concatenate([lab_distance(ca[k : k + 4096], cb[k : k + 4096]) for k in blocks]),
    ]


def predict(pairs: Pairs, th: Thresholds) -> np.ndarray:
    """A pair is a duplicate when it is one in either view (full picture, trimmed)."""
    return np.asarray(th.is_duplicate(pairs.d64, pairs.d256, pairs.dhue, pairs.dlab).any(axis=0))


def metrics(pairs: Pairs, th: Thresholds, mask: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """Per transformation: P, R, F1 of its positives against all negatives; per negative
    kind: false merges; "overall": every positive against every negative."""
    mask = np.ones(len(pairs.kind), dtype=bool) if mask is None else mask
    pred = predict(pairs, th) & mask
    neg = ~pairs.positive & mask
    fp = int((pred & neg).sum())
    out: dict[str, dict[str, float]] = {}
    for name in [*POSITIVES, "overall"]:
        sel = (pairs.kind == name if name != "overall" else pairs.positive) & mask
        tp, n = int((pred & sel).sum()), int(sel.sum())
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / n if n else 0.0
        out[name] = {"n": n, "precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}
    for name in ("colorway", "other_product"):
        sel = (pairs.kind == name) & mask
        out[name] = {"n": int(sel.sum()), "false_merges": int((pred & sel).sum())}
    return out


def select_thresholds(pairs: Pairs, mask: np.ndarray, base: Thresholds) -> Thresholds:
    """Best setting on ``mask``'s pairs, precision first: among settings with zero colorway
    merges, overall precision >= 0.99 and recall >= RECALL_FLOOR on every required class,
    the largest colorway margin (up to COLOR_MARGIN: by how much the color thresholds
    could grow before a colorway merges), then the fewest other-product merges, then the
    highest worst required recall, then overall F1 (if none qualifies: the highest worst
    required recall). ``max_distance`` is searched up to ``base.max_distance``: the search
    cost grows with it."""
    best: tuple[tuple, Thresholds] | None = None
    for r in range(4, base.max_distance + 1, 2):
        for f in range(24, 65, 4):
            for c in (10.0, 12.0, 14.0, 16.0, 20.0):
                for lab in (6.0, 7.0, 8.0, 9.0, 10.0, 12.0):
                    th = Thresholds(r, f, c, lab)
                    m = metrics(pairs, th, mask)
                    worst = min(m[k]["recall"] for k in REQUIRED)
                    margin = min(COLOR_MARGIN, _color_margin(pairs, th, mask))
                    ok = margin > 1.0 and m["overall"]["precision"] >= 0.99 and worst >= RECALL_FLOOR
                    key = (
                        ok,
                        round(margin, 2) if ok else 0,
                        -m["other_product"]["false_merges"] if ok else 0,
                        worst,
                        m["overall"]["f1"],
                    )
                    if best is None or key > best[0]:
                        best = (key, th)
    assert best is not None
    return best[1]


def _color_margin(pairs: Pairs, th: Thresholds, mask: np.ndarray) -> float:
    """The factor by which both color thresholds could grow before a colorway pair in
    ``mask`` merges (infinite when none passes the hash thresholds)."""
    sel = (pairs.kind == "colorway") & mask
    structural = (pairs.d64[:, sel] <= th.max_distance) & (pairs.d256[:, sel] <= th.max_fine_distance)
    factor = np.maximum(pairs.dhue[:, sel] / th.max_color_distance, pairs.dlab[:, sel] / th.max_lab_distance)
    return float(np.where(structural, factor, np.inf).min(initial=np.inf))


def report(pairs: Pairs, th: Thresholds, selected: Thresholds, holdout: np.ndarray, out: Path) -> str:
    """Write dedup_eval.md/.csv/.png under ``out``; return the markdown."""
    out.mkdir(parents=True, exist_ok=True)
    sweep = [replace(th, max_distance=r) for r in (4, 6, 8, 10, 12)]
    rows = []
    for t in sweep:
        for name, m in metrics(pairs, t).items():
            rows.append({**asdict(t), "kind": name, **m})
    with open(out / "dedup_eval.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=sorted({k for r in rows for k in r}))
        writer.writeheader()
        writer.writerows(rows)

    lines = [
        "# Near-duplicate evaluation",
        "",
        f"{int(pairs.positive.sum())} positive pairs, {int((~pairs.positive).sum())} negative pairs "
        f"from {len(np.unique(pairs.photo))} photos; excluded: {pairs.excluded}.",
        f"Decision: 64-bit pHash <= r, 256-bit pHash <= {th.max_fine_distance}, "
        f"hue <= {th.max_color_distance}, Lab <= {th.max_lab_distance}.",
        "",
        "| transformation | n | " + " | ".join(f"P / R / F1 @ r={t.max_distance}" for t in sweep) + " |",
        "|---|---|" + "---|" * len(sweep),
    ]
    per = [metrics(pairs, t) for t in sweep]
    for name in [*POSITIVES, "overall"]:
        cells = [f"{m[name]['precision']:.4f} / {m[name]['recall']:.4f} / {m[name]['f1']:.4f}" for m in per]
        lines.append(f"| {name} | {per[0][name]['n']} | " + " | ".join(cells) + " |")
    for name in ("colorway", "other_product"):
        cells = [f"{m[name]['false_merges']} false merges" for m in per]
        lines.append(f"| {name} (negatives) | {per[0][name]['n']} | " + " | ".join(cells) + " |")
    held = metrics(pairs, selected, holdout)
    lines += [
        "",
        f"Selected on the other half of the photos: {asdict(selected)}; on the held-out half:",
        "",
        "| kind | n | precision | recall | F1 / false merges |",
        "|---|---|---|---|---|",
    ]
    for name, m in held.items():
        if "recall" in m:
            lines.append(f"| {name} | {m['n']} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} |")
        else:
            lines.append(f"| {name} | {m['n']} | | | {m['false_merges']} |")
    text = "\n".join(lines) + "\n"
    (out / "dedup_eval.md").write_text(text)
    _plot(pairs, th, out / "dedup_eval.png")
    return text


def _plot(pairs: Pairs, th: Thresholds, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    rs = list(range(0, 17))
    per = [metrics(pairs, replace(th, max_distance=r)) for r in rs]
    for name in [*POSITIVES, "overall"]:
        left.plot(
            rs,
            [m[name]["recall"] for m in per],
            marker=".",
            label=f"recall {name}",
            linewidth=2.5 if name == "overall" else 1,
        )
    left.plot(rs, [m["overall"]["precision"] for m in per], "k--", linewidth=2.5, label="precision (overall)")
    left.axvline(th.max_distance, color="grey", linestyle=":")
    left.set(
        xlabel="64-bit pHash threshold r",
        ylabel="",
        ylim=(0, 1.02),
        title=f"fine <= {th.max_fine_distance}, hue <= {th.max_color_distance}, Lab <= {th.max_lab_distance}",
    )
    left.legend(fontsize=7, loc="lower right")
    ls = np.arange(0, 30.5, 1.0)
    per_l = [metrics(pairs, replace(th, max_lab_distance=float(v))) for v in ls]
    right.plot(ls, [min(m[k]["recall"] for k in REQUIRED) for m in per_l], label="worst recall (required classes)")
    right.plot(ls, [m["overall"]["precision"] for m in per_l], label="precision (overall)")
    right.plot(
        ls,
        [m["other_product"]["false_merges"] / max(1, m["other_product"]["n"]) for m in per_l],
        label="other-product merge rate",
    )
    right.plot(
        ls, [m["colorway"]["false_merges"] / max(1, m["colorway"]["n"]) for m in per_l], label="colorway merge rate"
    )
    right.axvline(th.max_lab_distance, color="grey", linestyle=":")
    right.set(xlabel="Lab distance threshold", ylim=(0, 1.02), title=f"r = {th.max_distance}")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(folder: Path, labels: Path | None, out: Path, limit: int | None, workers: int | None, th: Thresholds) -> str:
    """Build the evaluation, choose thresholds on half the photos, report on the rest."""
    photos = hash_photos(folder, labels, limit, workers or os.cpu_count() or 1)
    if not photos:
        raise SystemExit(f"no decodable photos in {folder}")
    pairs = build_pairs(photos)
    holdout = pairs.photo % 2 == 1
    selected = select_thresholds(pairs, ~holdout, th)
    return report(pairs, th, selected, holdout, out)
