"""The one gate every untrusted image passes before its pixels are used: scraper, dedup,
inference and the client all decode through here, with one pixel cap.

:func:`open_image` parses the header only and refuses decompression bombs before any pixel
is decoded (:class:`TooManyPixels`); :func:`load` decodes (optionally DCT-scaled for JPEGs,
``draft``) and refuses corrupt or truncated data; :func:`decode_opened` loads an opened image
and returns RGB with transparent pixels composited on white (catalog photos sit on white);
:func:`decode_rgb` does it all from bytes. Every refusal is an :class:`ImageRejected` whose
message is the recorded reason (stable: no object addresses).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

MAX_PIXELS = 50_000_000
WHITE = 255


class ImageRejected(ValueError):
    """The bytes are not a decodable, reasonably sized image; ``str(exc)`` is the reason."""


class TooManyPixels(ImageRejected):
    """The header declares more than the pixel cap (a decompression bomb)."""


def open_image(data: bytes, *, formats: Sequence[str] | None = None, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Parse the header of ``data`` (only ``formats`` when given); refuse bombs and unreadable headers."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on: truncated images would pass as valid")
    named = f" {formats[0]}" if formats else ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=list(formats) if formats else None)
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(f"too many pixels: {exc}") from exc
    except UnidentifiedImageError as exc:  # its message names a BytesIO address: keep reasons stable
        reason = f"corrupt{named}: header cannot be parsed" if formats else "not an image (unrecognised format)"
        raise ImageRejected(reason) from exc
    except Exception as exc:  # broken headers raise all sorts of errors
        raise ImageRejected(f"corrupt{named}: {exc}") from exc
    width, height = img.size
    if width <= 0 or height <= 0 or width * height > max_pixels:
        img.close()
        raise TooManyPixels(f"too many pixels: {width}x{height}")
    return img


def load(img: Image.Image, *, draft: int | None = None) -> Image.Image:
    """Decode the pixels, JPEGs DCT-scaled to no less than ``draft`` pixels a side."""
    try:
        if draft and img.format == "JPEG":
            img.draft("RGB", (draft, draft))
        img.load()
    except Exception as exc:  # truncated data, bad Huffman tables, ...
        reason = "truncated" if "truncated" in str(exc) else "corrupt"
        raise ImageRejected(f"{reason} {img.format}: {exc}") from exc
    return img


def decode_rgb(
    data: bytes, *, draft: int | None = None, exif: bool = False, max_pixels: int = MAX_PIXELS
) -> tuple[Image.Image, int, int]:
    """Bytes → (RGB image, original width, height); ``exif`` applies the EXIF orientation."""
    img = open_image(data, max_pixels=max_pixels)
    width, height = img.size
    return decode_opened(img, draft=draft, exif=exif), width, height


def decode_opened(img: Image.Image, *, draft: int | None = None, exif: bool = False) -> Image.Image:
    """An image :func:`open_image` returned, decoded to RGB (``exif``: EXIF orientation applied)."""
    img = load(img, draft=draft)
    if exif:
        try:
            img = ImageOps.exif_transpose(img)
        except Exception as exc:  # a broken EXIF block
            raise ImageRejected(f"corrupt {img.format}: {exc}") from exc
    return to_rgb(img)


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB view of any mode; transparent pixels become white (studio background)."""
    if img.mode == "RGB":
        return img
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (WHITE,) * 4)
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")
