"""Safe decoding of untrusted image bytes into an RGB PIL image, or a reason why not."""
from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

MAX_PIXELS = 50_000_000
DRAFT_SIZE = 128


class ImageRejected(ValueError):
    """The bytes are not a decodable, reasonably sized image; ``str(exc)`` is the reason."""


def decode_rgb(data: bytes, *, max_pixels: int = MAX_PIXELS, draft: int | None = DRAFT_SIZE) -> tuple[Image.Image, int, int]:
    """Decode to RGB (alpha composited on white); returns (image, original width, height).

    The pixel count is checked from the header before any pixel is decoded (bombs);
    JPEGs are DCT-scaled while decoding to no less than ``draft`` pixels a side (hashes only
    need a thumbnail), which makes hashing cheaper than a full decode.
    """
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on: truncated images would pass as valid")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise ImageRejected("not an image (unrecognised format)") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"too many pixels: {exc}") from exc
    except Exception as exc:  # broken headers raise all sorts of errors
        raise ImageRejected(f"unreadable header: {exc}") from exc
    width, height = img.size
    if width <= 0 or height <= 0 or width * height > max_pixels:
        raise ImageRejected(f"too many pixels: {width}x{height} > {max_pixels}")
    try:
        if draft and img.format == "JPEG":
            img.draft("RGB", (draft, draft))
        img.load()
    except Exception as exc:  # truncated data, bad Huffman tables, ...
        raise ImageRejected(f"corrupt or truncated image data: {exc}") from exc
    return to_rgb(img), width, height


def trim_background(img: Image.Image, tolerance: int = 24, min_area: float = 0.05) -> Image.Image:
    """The image cropped to its content: the bounding box of the pixels darker than white by
    more than ``tolerance`` grey levels (studio shots are on white). Padding and crops that
    only cut background then leave the result unchanged. Returns ``img`` itself when the
    content box is the whole picture or implausibly small."""
    grey = np.asarray(img.convert("L"))
    rows = np.flatnonzero((grey < 255 - tolerance).sum(axis=1) >= 2)
    cols = np.flatnonzero((grey < 255 - tolerance).sum(axis=0) >= 2)
    if len(rows) == 0 or len(cols) == 0:
        return img
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    area = (box[2] - box[0]) * (box[3] - box[1])
    if area >= img.width * img.height or area < min_area * img.width * img.height:
        return img
    return img.crop(box)


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB view of any mode; transparent pixels become white (studio background)."""
    if img.mode == "RGB":
        return img
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")
