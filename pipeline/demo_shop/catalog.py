"""Demo catalogs: synthetic garments drawn with PIL (labels known by construction), or a
folder of real photos with a labels CSV (the ``fashion-products`` format)."""

from __future__ import annotations

import io
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from PIL import Image, ImageDraw

from pipeline.labelled_folder import read_labelled_folder

SIZE = 224

# category (contract vocabulary) → (shopify product_type, breadcrumb path)
CATEGORIES: dict[str, tuple[str, list[str]]] = {
    "tshirts_tops": ("T-Shirts", ["Apparel", "Topwear", "T-Shirts"]),
    "sweaters_knitwear": ("Sweaters", ["Apparel", "Topwear", "Sweaters"]),
    "trousers": ("Trousers", ["Apparel", "Bottomwear", "Trousers"]),
    "shorts": ("Shorts", ["Apparel", "Bottomwear", "Shorts"]),
    "skirts": ("Skirts", ["Apparel", "Bottomwear", "Skirts"]),
    "dresses": ("Dresses", ["Apparel", "Dresses"]),
    "footwear": ("Shoes", ["Footwear", "Shoes"]),
    "bags": ("Handbags", ["Accessories", "Bags"]),
}
COLORS: dict[str, tuple[int, int, int]] = {
    "black": (25, 25, 25),
    "white": (245, 245, 245),
    "grey": (128, 128, 128),
    "blue": (30, 70, 200),
    "red": (205, 30, 35),
    "pink": (240, 130, 180),
    "green": (40, 150, 60),
    "yellow": (245, 210, 40),
    "orange": (245, 130, 20),
    "purple": (120, 50, 160),
    "brown": (110, 65, 30),
    "beige": (220, 200, 160),
}
PATTERNS = ("solid", "striped", "checked", "dotted")
MATERIALS = ("cotton", "wool", "linen", "polyester", "leather", "denim")
VENDORS = ("Northwind", "Atelier Nova", "Urban Thread", "Maison Lumo")


@dataclass
class Product:
    """One catalog product; ``version`` bumps when the shop "changes" it, at ``modified_at``
    (None: unchanged since the catalog was made)."""

    pid: int
    handle: str
    title: str
    vendor: str
    product_type: str
    category_path: list[str]
    color: str
    pattern: str | None
    material: str | None
    price: float
    tags: list[str]
    description: str
    version: int = 1
    labels: dict[str, str] = field(default_factory=dict)
    modified_at: datetime | None = None


class Catalog:
    """Products plus their photos (JPEG bytes, rendered lazily and cached)."""

    def __init__(self, products: list[Product], render: Callable[[Product], bytes]):
        self.products = products
        self._render = render
        self._cache: dict[tuple[int, int], bytes] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.products)

    def photo(self, product: Product) -> bytes:
        """The product's photo at its current version (JPEG bytes)."""
        key = (product.pid, product.version)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        data = self._render(product)
        with self._lock:
            self._cache[key] = data
        return data


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# -- synthetic ------------------------------------------------------------------------------
OUTLINES: dict[str, list[tuple[int, int]]] = {  # garment silhouettes on a 200-unit square, centred
    "tshirts_tops": [
        (-45, -80),
        (-15, -90),
        (15, -90),
        (45, -80),
        (90, -45),
        (70, -20),
        (45, -40),
        (45, 90),
        (-45, 90),
        (-45, -40),
        (-70, -20),
        (-90, -45),
    ],
    "sweaters_knitwear": [
        (-45, -85),
        (-15, -92),
        (15, -92),
        (45, -85),
        (95, 60),
        (75, 70),
        (45, -20),
        (45, 90),
        (-45, 90),
        (-45, -20),
        (-75, 70),
        (-95, 60),
    ],
    "trousers": [(-45, -95), (45, -95), (55, 95), (12, 95), (0, -20), (-12, 95), (-55, 95)],
    "shorts": [(-50, -60), (50, -60), (62, 45), (12, 45), (0, -5), (-12, 45), (-62, 45)],
    "skirts": [(-35, -70), (35, -70), (75, 70), (-75, 70)],
    "dresses": [
        (-25, -95),
        (-15, -95),
        (-10, -70),
        (10, -70),
        (15, -95),
        (25, -95),
        (35, -45),
        (80, 95),
        (-80, 95),
        (-35, -45),
    ],
    "footwear": [(-90, 10), (-85, -30), (-40, -35), (-10, -5), (60, 5), (90, 25), (90, 45), (-90, 45)],
    "bags": [(-70, -30), (70, -30), (80, 80), (-80, 80)],
}


def _shape(draw: ImageDraw.ImageDraw, category: str, rng: random.Random) -> None:
    s = rng.uniform(0.85, 1.0)
    cx, cy = SIZE / 2 + rng.uniform(-8, 8), SIZE / 2 + rng.uniform(-6, 6)

    def pt(x: float, y: float) -> tuple[float, float]:
        return cx + x * s, cy + y * s

    draw.polygon([pt(x, y) for x, y in OUTLINES[category]], fill=255)
    if category == "bags":
        draw.arc([pt(-40, -85), pt(40, 10)], 180, 360, fill=255, width=int(10 * s))


def _texture(color: tuple[int, int, int], pattern: str, rng: random.Random) -> Image.Image:
    img = Image.new("RGB", (SIZE, SIZE), color)
    draw = ImageDraw.Draw(img)
    contrast = (250, 250, 250) if sum(color) < 600 else (30, 30, 30)
    step = rng.choice((14, 18, 22))
    if pattern == "striped":
        for y in range(0, SIZE, step):
            draw.rectangle([0, y, SIZE, y + step // 3], fill=contrast)
    elif pattern == "checked":
        for y in range(0, SIZE, step):
            for x in range(0, SIZE, step):
                if (x // step + y // step) % 2:
                    draw.rectangle([x, y, x + step - 1, y + step - 1], fill=contrast)
    elif pattern == "dotted":
        for y in range(step // 2, SIZE, step):
            for x in range(step // 2, SIZE, step):
                draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=contrast)
    return img


def render_synthetic(product: Product) -> bytes:
    """Draw the product's garment silhouette in its color and pattern (deterministic)."""
    rng = random.Random(f"{product.pid}-{product.version}")
    mask = Image.new("L", (SIZE, SIZE), 0)
    _shape(ImageDraw.Draw(mask), product.labels["category"], rng)
    background = Image.new("RGB", (SIZE, SIZE), (236, 236, 232) if product.color != "white" else (200, 205, 210))
    background.paste(_texture(COLORS[product.color], product.pattern or "solid", rng), (0, 0), mask)
    buf = io.BytesIO()
    background.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def synthetic_catalog(n: int, seed: int = 0, prefix: str = "") -> Catalog:
    """``n`` synthetic products with known category, color and pattern."""
    rng = random.Random(seed)
    products = []
    for i in range(n):
        category = rng.choice(sorted(CATEGORIES))
        color = rng.choice(sorted(COLORS))
        pattern = rng.choice(PATTERNS)
        material = rng.choice(MATERIALS)
        product_type, path = CATEGORIES[category]
        gender = rng.choice(("Women", "Men"))
        noun = {"Dresses": "Dress", "Trousers": "Trousers", "Shorts": "Shorts"}.get(product_type, product_type[:-1])
        words = [color.title(), pattern.title() if pattern != "solid" else "", material.title(), noun]
        title = " ".join(w for w in words if w)
        pid = 7_000_000_000 + seed * 100_000 + i
        products.append(
            Product(
                pid=pid,
                handle=f"{prefix}{_slug(title)}-{i}",
                title=title,
                vendor=rng.choice(VENDORS),
                product_type=product_type,
                category_path=path,
                color=color,
                pattern=pattern,
                material=material,
                price=round(rng.uniform(9, 199), 2),
                tags=[product_type, color.title(), pattern.title(), material.title(), gender],
                description=f"{title} for {gender.lower()}, {material}, {pattern} {color}.",
                labels={"category": category, "color": color, "pattern": pattern},
            )
        )
    return Catalog(products, render_synthetic)


# -- folder of real photos ---------------------------------------------------------------------
def folder_catalog(root: Path, limit: int | None = None) -> Catalog:
    """Photos ``images/<id>.jpg`` with ``labels.csv`` (fashion-products format)."""
    root = Path(root)
    products: list[Product] = []
    for photo in read_labelled_folder(root, limit):
        rng = random.Random(photo.id)
        products.append(
            Product(
                pid=int(photo.id),
                handle=f"{photo.id}-{_slug(photo.title)[:60]}",
                title=photo.title,
                vendor=photo.brand,
                product_type=photo.product_type,
                category_path=photo.category_path,
                color=photo.color or "",
                pattern=None,
                material=None,
                price=round(rng.uniform(9, 199), 2),
                tags=photo.tags,
                description=photo.title,
                labels=photo.labels,
            )
        )

    def render(product: Product) -> bytes:
        data = (root / "images" / f"{product.pid}.jpg").read_bytes()
        if product.version == 1:
            return data
        img = Image.open(io.BytesIO(data)).convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        return buf.getvalue()

    return Catalog(products, render)


# -- transcodes: the "same photo" as another retailer (or a messy CDN) serves it ------------------
def transcode(data: bytes, fmt: str, *, scale: float = 1.0, quality: int = 80) -> bytes:
    """Re-encode a photo, resized by ``scale``: jpeg, png, webp, cmyk (JPEG), rgba (PNG), tiny."""
    img = Image.open(io.BytesIO(data)).convert("RGB")
    if scale != 1.0:
        img = img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS
        )
    buf = io.BytesIO()
    if fmt == "tiny":
        img.save(buf, "JPEG", quality=quality)
    elif fmt == "cmyk":
        img.convert("CMYK").save(buf, "JPEG", quality=quality)
    elif fmt == "rgba":
        rgba = img.convert("RGBA")
        rgba.putalpha(_alpha(img.size))
        rgba.save(buf, "PNG")
    elif fmt == "webp":
        img.save(buf, "WEBP", quality=quality)
    elif fmt == "png":
        img.save(buf, "PNG")
    else:
        img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _alpha(size: tuple[int, int]) -> Image.Image:
    """An alpha mask: opaque centre, transparent corners (a cut-out product shot)."""
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse([0, 0, size[0] - 1, size[1] - 1], fill=255)
    return mask
