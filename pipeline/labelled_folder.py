"""A labelled photo folder (``images/<id>.jpg`` + ``labels.csv``, the fashion-products format)
read into product facts: the one mapping of its columns, used by the demo shop's real-photo
catalog and by ``vitrine train --from-folder``."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LabelledPhoto:
    id: str
    image: Path
    title: str
    brand: str
    product_type: str
    category_path: list[str]
    color: str | None
    tags: list[str]
    labels: dict[str, str]  # every column but the display name


def read_labelled_folder(root: Path, limit: int | None = None) -> list[LabelledPhoto]:
    """The rows of ``root/labels.csv`` that have a photo, in file order (at most ``limit``)."""
    root = Path(root)
    labels = root / "labels.csv"
    if not labels.is_file():
        raise FileNotFoundError(f"{labels} not found: expected images/<id>.jpg and labels.csv")
    photos: list[LabelledPhoto] = []
    with open(labels, newline="") as fh:
        for row in csv.DictReader(fh):
            if limit is not None and len(photos) >= limit:
                break
            image = root / "images" / f"{row['id']}.jpg"
            if not image.is_file():
                continue
            title = row["productDisplayName"].strip() or f"Product {row['id']}"
            photos.append(
                LabelledPhoto(
                    id=row["id"],
                    image=image,
                    title=title,
                    brand=title.split()[0],
                    product_type=row["articleType"] or row["subCategory"],
                    category_path=[v for v in (row["masterCategory"], row["subCategory"], row["articleType"]) if v],
                    color=row["baseColour"] or None,  # the dataset's spelling
                    tags=[v for v in (row["gender"], row["subCategory"], row["season"], row["usage"]) if v],
                    labels={k: v for k, v in row.items() if k != "productDisplayName"},
                )
            )
    if not photos:
        raise ValueError(f"{root}: no products with images found")
    return photos
