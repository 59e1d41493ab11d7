"""Image transformations that make near-duplicates (and colorways), for the evaluation and tests.

Each positive transformation is something a retailer does to the same product photo:
resize, re-encode, crop, watermark, pad, brighten/darken. ``hue_shift`` makes a hard
negative: the same shot in another colorway, which must stay a separate item.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageCms, ImageDraw, ImageEnhance, ImageFont


def encode(img: Image.Image, fmt: str = "JPEG", quality: int = 90) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.convert("RGB").save(buf, "JPEG", quality=quality)
    else:
        img.save(buf, fmt)
    return buf.getvalue()


def resize(img: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(img.width * factor)), max(1, round(img.height * factor)))
    return img.resize(size, Image.Resampling.LANCZOS)


def crop(img: Image.Image, fraction: float = 0.05) -> Image.Image:
    """Cut ``fraction`` of the width and of the height, half on each side."""
    dx, dy = round(img.width * fraction / 2), round(img.height * fraction / 2)
    return img.crop((dx, dy, img.width - dx, img.height - dy))


def pad(img: Image.Image, fraction: float = 0.10) -> Image.Image:
    """Add white borders totalling ``fraction`` of the width and of the height."""
    dx, dy = round(img.width * fraction / 2), round(img.height * fraction / 2)
    out = Image.new("RGB", (img.width + 2 * dx, img.height + 2 * dy), "white")
    out.paste(img.convert("RGB"), (dx, dy))
    return out


def watermark(img: Image.Image, text: str = "© shop.example", where: str = "corner") -> Image.Image:
    """Semi-transparent grey text, 1/12 of the height: bottom-right corner or centred."""
    base = img.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    font = ImageFont.load_default(size=max(10, img.height // 12))
    xy, anchor = (
        ((img.width * 0.95, img.height * 0.95), "rb") if where == "corner" else ((img.width / 2, img.height / 2), "mm")
    )
    ImageDraw.Draw(layer).text(xy, text, fill=(128, 128, 128, 160), font=font, anchor=anchor)
    return Image.alpha_composite(base, layer).convert("RGB")


def brightness(img: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Brightness(img.convert("RGB")).enhance(factor)


def hue_shift(img: Image.Image, degrees: float) -> Image.Image:
    """The same picture in another colorway (hue rotated, saturation and value kept)."""
    h, s, v = img.convert("RGB").convert("HSV").split()
    h = h.point(lambda x: (x + int(degrees * 256 / 360)) % 256)
    return Image.merge("HSV", (h, s, v)).convert("RGB")


_LAB = ImageCms.buildTransformFromOpenProfiles(
    ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB"
)


def visible_change(a: Image.Image, b: Image.Image, delta_e: float = 20.0) -> float:
    """Fraction of pixels whose color differs by more than ``delta_e`` (CIE76)."""

    def lab(img: Image.Image) -> np.ndarray:
        raw = np.asarray(ImageCms.applyTransform(img.convert("RGB"), _LAB))
        out = raw.astype(np.float32)
        out[..., 0] *= 100 / 255
        out[..., 1:] = raw[..., 1:].view(np.int8)  # PIL stores a*, b* as signed bytes
        return out

    return float((np.sqrt(((lab(a) - lab(b)) ** 2).sum(axis=-1)) > delta_e).mean())
