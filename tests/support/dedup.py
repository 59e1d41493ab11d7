"""Tiny synthetic product photos and the images/products tables around them, for dedup tests."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from PIL import Image, ImageDraw

from pipeline import layout, schemas
from pipeline.dedup.transforms import brightness, encode, hue_shift, pad, resize, watermark  # noqa: F401 (re-exported)
from pipeline.lake import Lake, sha256_bytes


def garment(seed: int, size: int = 256) -> Image.Image:
    """A 'product shot': colored shapes and stripes on a white studio background."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    for _ in range(7):
        x0, y0 = (int(v) for v in rng.integers(0, size * 3 // 4, 2))
        w, h = (int(v) for v in rng.integers(size // 6, size // 2, 2))
        x1, y1 = x0 + w, y0 + h
        color = tuple(int(c) for c in rng.integers(30, 230, 3))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x1, y1], fill=color)
        else:
            draw.rectangle([x0, y0, x1, y1], fill=color)
    for _ in range(int(rng.integers(2, 6))):
        y = int(rng.integers(0, size))
        draw.rectangle([0, y, size, y + size // 32], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    return img


def write_catalog(lake: Lake, listings: list[tuple[str, str, bytes | None, str]]) -> dict[str, str]:
    """Store images and write the images/products tables like the scrape stage does.

    ``listings``: (retailer, local product id, image bytes or None for a failed download,
    title). Returns product_id → sha256 of its image.
    """
    images: dict[str, list[dict]] = {}
    products: dict[str, list[dict]] = {}
    shas: dict[str, str] = {}
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for retailer, local_id, data, title in listings:
        pid = f"{retailer}:{local_id}"
        url = f"https://{retailer}.example/img/{local_id}.jpg"
        row = {"url": url, "retailer": retailer, "product_id": pid, "position": 0, "format": "jpeg"}
        if data is None:
            row.update(
                sha256=None,
                image_key=None,
                width=None,
                height=None,
                bytes=None,
                status="rejected",
                **schemas.rejection("download failed"),
            )
        else:
            sha = sha256_bytes(data)
            key = layout.image_key(sha, "jpg")
            lake.write_bytes(key, data)
            shas[pid] = sha
            row.update(
                sha256=sha, image_key=key, width=None, height=None, bytes=len(data), status="stored", reason=None
            )
        images.setdefault(retailer, []).append(row)
        products.setdefault(retailer, []).append(
            {
                "product_id": pid,
                "retailer": retailer,
                "title": title,
                "brand": "Acme",
                "price": 10.0,
                "currency": "EUR",
                "url": f"https://{retailer}.example/p/{local_id}",
                "image_urls": [url],
                "scraped_at": now,
                "available": True,
            }
        )
    for retailer, rows in images.items():
        schemas.IMAGES.write(lake, rows, retailer=retailer)
    for retailer, rows in products.items():
        schemas.PRODUCTS.write(lake, rows, retailer=retailer)
    return shas
