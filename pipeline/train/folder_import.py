"""Import a labelled photo folder (``images/<id>.jpg`` + ``labels.csv``, the fashion-products
format) as one retailer's products and images tables, without crawling.

The product fields are derived exactly as the demo shop serves that folder (``vitrine
demo-shop --catalog PATH``), by the one mapping in :mod:`pipeline.labelled_folder`. Use it to
train on a labelled folder when no crawl of it is in the lake.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from pipeline import layout, schemas
from pipeline.imagegate import ImageRejected, open_image
from pipeline.labelled_folder import LabelledPhoto, read_labelled_folder
from pipeline.lake import Lake, sha256_bytes

log = logging.getLogger(__name__)


def _product(photo: LabelledPhoto, retailer: str, image_url: str, now: datetime) -> dict:
    return {
        "product_id": f"{retailer}:{photo.id}",
        "retailer": retailer,
        "title": photo.title,
        "brand": photo.brand,
        "price": None,
        "currency": None,
        "availability": "in_stock",
        "category_path": photo.category_path,
        "product_type": photo.product_type,
        "tags": photo.tags,
        "color": photo.color,
        "pattern": None,
        "material": None,
        "description": photo.title,
        "image_urls": [image_url],
        "url": f"file://{photo.id}",
        "scraped_at": now,
        "available": True,
    }


def import_labelled_folder(lake: Lake, root: Path, retailer: str = "fashion-products", limit: int | None = None) -> str:
    """Store the folder's photos in the lake and write its products/images partitions;
    returns the products partition URI. Idempotent (content-addressed images, overwritten tables)."""
    now = datetime.now(UTC)
    products, images = [], []
    for photo in read_labelled_folder(root, limit):
        data = photo.image.read_bytes()
        try:
            with open_image(data) as img:
                width, height, fmt = img.width, img.height, (img.format or "").lower()
        except ImageRejected as exc:
            log.warning("%s left out: %s", photo.image, exc)
            continue
        sha = sha256_bytes(data)
        key = layout.image_key(sha, "jpg")
        if not lake.exists(key):
            lake.write_bytes(key, data, content_type="image/jpeg")
        url = photo.image.resolve().as_uri()
        products.append(_product(photo, retailer, url, now))
        images.append(
            {
                "url": url,
                "sha256": sha,
                "retailer": retailer,
                "product_id": products[-1]["product_id"],
                "image_key": key,
                "width": width,
                "height": height,
                "format": fmt,
                "bytes": len(data),
                "status": "stored",
                "reason": None,
                "position": 0,
            }
        )
    schemas.PRODUCTS.write(lake, products, retailer=retailer)
    schemas.IMAGES.write(lake, images, retailer=retailer)
    log.info(f"imported {len(products)} products with photos from {root} as retailer {retailer!r}")
    return lake.uri(schemas.PRODUCTS.prefix(retailer=retailer))
