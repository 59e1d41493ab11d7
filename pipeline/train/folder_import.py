"""Import a labelled photo folder (``images/<id>.jpg`` + ``labels.csv``, the fashion-products
format) as one retailer's products and images tables, without crawling.

The product fields are derived exactly as the demo shop serves that folder (``vitrine
demo-shop --catalog PATH``): product_type = articleType or subCategory, category_path =
master/sub/article, color = baseColour, tags = gender/subCategory/season/usage, title =
productDisplayName. Use it to train on a labelled folder when no crawl of it is in the lake.
"""
from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path

from pipeline import layout, schemas
from pipeline.lake import Lake, sha256_bytes

def _product(row: dict[str, str], retailer: str, image_url: str, now: datetime) -> dict:
    title = row["productDisplayName"].strip() or f"Product {row['id']}"
    return {
        "product_id": f"{retailer}:{row['id']}", "retailer": retailer, "title": title,
        "brand": title.split()[0], "price": None, "currency": None, "availability": "InStock",
        "category_path": [v for v in (row["masterCategory"], row["subCategory"], row["articleType"]) if v],
        "product_type": row["articleType"] or row["subCategory"],
        "tags": [v for v in (row["gender"], row["subCategory"], row["season"], row["usage"]) if v],
        "color": row["baseColour"] or None, "pattern": None, "material": None, "description": title,
        "image_urls": [image_url], "url": f"file://{row['id']}", "scraped_at": now, "available": True,
    }


def import_labeled_folder(lake: Lake, root: Path, retailer: str = "fashion-products", limit: int | None = None) -> str:
    """Store the folder's photos in the lake and write its products/images partitions;
    returns the products partition URI. Idempotent (content-addressed images, overwritten tables)."""
    from PIL import Image

    root = Path(root)
    labels = root / "labels.csv"
    if not labels.is_file():
        raise FileNotFoundError(f"{labels} not found: expected images/<id>.jpg and labels.csv")
    now = datetime.now(timezone.utc)
    products, images = [], []
    with open(labels, newline="") as fh:
        for row in csv.DictReader(fh):
            if limit is not None and len(products) >= limit:
                break
            path = root / "images" / f"{row['id']}.jpg"
            if not path.is_file():
                continue
            data = path.read_bytes()
            sha = sha256_bytes(data)
            key = layout.image_key(sha, "jpg")
            if not lake.exists(key):
                lake.write_bytes(key, data, content_type="image/jpeg")
            with Image.open(path) as img:
                width, height, fmt = img.width, img.height, (img.format or "").lower()
            url = path.resolve().as_uri()
            products.append(_product(row, retailer, url, now))
            images.append({
                "url": url, "sha256": sha, "retailer": retailer, "product_id": products[-1]["product_id"],
                "image_key": key, "width": width, "height": height, "format": fmt, "bytes": len(data),
                "status": "stored", "reason": None, "position": 0,
            })
    if not products:
        raise ValueError(f"{root}: no products with images found")
    schemas.PRODUCTS.write(lake, products, retailer=retailer)
    schemas.IMAGES.write(lake, images, retailer=retailer)
    print(f"imported {len(products)} products with photos from {root} as retailer {retailer!r}")
    return lake.uri(schemas.PRODUCTS.prefix(retailer=retailer))
