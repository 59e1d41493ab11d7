"""Tiny generated garment-like images and lake tables for the attribute-model tests."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from pipeline import layout, schemas
from pipeline.lake import Lake, sha256_bytes

COLORS = {"red": (200, 30, 30), "blue": (30, 40, 200), "green": (30, 160, 40), "black": (15, 15, 15)}
SHAPES = ("tshirts_tops", "trousers")


def garment(color: str, shape: str, pattern: str, size: int = 32, seed: int = 0) -> Image.Image:
    """A white canvas with a colored top (wide block) or trousers (two legs), solid or striped."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 245, np.uint8)
    mask = np.zeros((size, size), bool)
    a, b = size // 6, size - size // 6
    if shape == "tshirts_tops":
        mask[a : size // 2 + a, a:b] = True
        mask[a : a + size // 5, 1 : b + a - 1] = True
    else:
        mask[a:b, a : size // 2 - 1] = True
        mask[a:b, size // 2 + 1 : b] = True
    rgb = np.clip(np.array(COLORS[color]) + rng.integers(-20, 20, 3), 0, 255)
    img[mask] = rgb
    if pattern == "striped":
        stripes = np.zeros_like(mask)
        stripes[::4] = True
        img[mask & stripes] = 245
    return Image.fromarray(img)


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def write_items(lake: Lake, n: int = 12, size: int = 32, corrupt: int = 0) -> str:
    """Store ``n`` generated images (+ ``corrupt`` undecodable ones) and an items table."""
    rows = []
    for i in range(n + corrupt):
        if i < n:
            color, shape = list(COLORS)[i % len(COLORS)], SHAPES[i % 2]
            data = png_bytes(garment(color, shape, "solid" if i % 3 else "striped", size, seed=i))
        else:
            data = b"\x89PNG\r\n\x1a\n this is not really a png " + bytes([i])
        sha = sha256_bytes(data)
        key = layout.image_key(sha, "png")
        lake.write_bytes(key, data)
        rows.append({"item_id": f"item-{i:03d}", "group_id": f"g{i}", "canonical_sha256": sha, "image_key": key})
    schemas.ITEMS.write(lake, rows)
    return lake.uri(schemas.ITEMS.prefix())


TITLE_NOUN = {"tshirts_tops": "T-Shirt", "trousers": "Trousers"}
LABEL_COLUMNS = [
    "id",
    "gender",
    "masterCategory",
    "subCategory",
    "articleType",
    "baseColour",
    "season",
    "usage",
    "productDisplayName",
]


def write_labelled_folder(root, n: int = 96, size: int = 32, duplicate_every: int = 8) -> dict[str, str]:
    """A fashion-products-style folder (images/<id>.jpg + labels.csv) of generated garments.

    Every ``duplicate_every``-th product re-uses the previous product's photo (an exact
    duplicate across products). Returns product id → expected (color) label.
    """
    import csv

    (root / "images").mkdir(parents=True, exist_ok=True)
    expected = {}
    with open(root / "labels.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(LABEL_COLUMNS)
        for i in range(n):
            pid = 1000 + i
            source = i - 1 if duplicate_every and i % duplicate_every == duplicate_every - 1 else i
            color, shape = list(COLORS)[source % len(COLORS)], SHAPES[(source // len(COLORS)) % 2]
            pattern = "Striped" if (source // 8) % 2 else "Solid"
            garment(color, shape, pattern.lower(), size, seed=source).save(root / "images" / f"{pid}.jpg", quality=95)
            sub = "Topwear" if shape == "tshirts_tops" else "Bottomwear"
            title = f"Acme Men {pattern} {color.title()} {TITLE_NOUN[shape]}"
            writer.writerow([pid, "Men", "Apparel", sub, "", color.title(), "Fall", "Casual", title])
            expected[str(pid)] = color
    return expected


def write_duplicate_groups(lake: Lake, pair_every: int = 4) -> dict[str, str]:
    """A duplicates table grouping consecutive images in pairs (near-duplicate groups); sha → group."""
    images = lake.read_table(layout.table("images")).sort_by("product_id")
    shas = sorted(set(images.column("sha256").to_pylist()), key=images.column("sha256").to_pylist().index)
    groups = {sha: f"group-{i // pair_every if i % pair_every < 2 else i}" for i, sha in enumerate(shas)}
    rows = [{"sha256": s, "group_id": g, "canonical_sha256": s, "distance": 0} for s, g in groups.items()]
    schemas.DUPLICATES.write(lake, rows)
    return groups
