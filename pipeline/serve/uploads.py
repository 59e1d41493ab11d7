"""Uploaded query photos: type sniffed from the bytes, size and pixel limits, crop, model input.

Nothing trusts the file name or the declared content type. The format comes from the bytes
(the image gate, ``pipeline.imagegate``, plus a look for SVG/HTML/text so the error says what was sent),
the pixel count is checked on the header before any pixel is decoded (a 40k×40k PNG header is
refused without allocating 4.8 GB), and decoding errors (a truncated JPEG) become an
``UploadError`` with an HTTP status and a one-line reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from pipeline.imagegate import ImageRejected, load, open_image
from pipeline.imageio import letterbox

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif", "BMP": "image/bmp"}


@dataclass(frozen=True)
class Limits:
    """What one request may upload."""

    max_bytes: int = 8 * 1024 * 1024  # per photo
    max_request_bytes: int = 16 * 1024 * 1024  # per request body, checked before parsing
    max_pixels: int = 40_000_000  # per image, checked on the header
    max_images: int = 8  # photos of one profile
    max_side: int = 20_000


class UploadError(ValueError):
    """An upload the app refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _describe(data: bytes) -> str:
    head = data[:512].lstrip().lower()
    if b"<svg" in head or (head.startswith(b"<?xml") and b"svg" in data[:4096].lower()):
        return "an SVG document"
    if head.startswith((b"<!doctype html", b"<html")):
        return "an HTML document"
    try:
        data[:4096].decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return "data of an unknown type"


def parse_crop(text: str | None) -> tuple[float, float, float, float] | None:
    """``"x0,y0,x1,y1"`` as fractions of the photo (0..1) → a box, or None for no crop."""
    if not text:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in text.split(","))
    except ValueError:
        raise UploadError(422, f"crop must be 'x0,y0,x1,y1' as fractions of the photo, got {text!r}") from None
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise UploadError(422, f"crop {text!r} is not a box inside the photo (0 ≤ x0 < x1 ≤ 1, 0 ≤ y0 < y1 ≤ 1)")
    return x0, y0, x1, y1


def open_upload(data: bytes, limits: Limits, name: str = "image") -> Image.Image:
    """Validate an uploaded photo's bytes and return it opened (header read, pixels not yet)."""
    if not data:
        raise UploadError(422, f"{name}: the upload is empty")
    if len(data) > limits.max_bytes:
        raise UploadError(413, f"{name}: {len(data)} bytes is more than the {limits.max_bytes} allowed")
    try:
        image = open_image(data, formats=list(FORMATS), max_pixels=limits.max_pixels)
    except ImageRejected as exc:
        if str(exc).startswith("too many pixels"):
            raise UploadError(413, f"{name}: {exc} (at most {limits.max_pixels:,} pixels)") from None
        raise UploadError(
            415, f"{name}: {_describe(data)} is not a supported photo (JPEG, PNG, WebP, GIF or BMP)"
        ) from None
    width, height = image.size
    if width * height > limits.max_pixels or max(width, height) > limits.max_side:
        raise UploadError(413, f"{name}: {width}×{height} pixels is more than the {limits.max_pixels:,} allowed")
    return image


def model_input(
    image: Image.Image, image_size: int, crop: tuple[float, float, float, float] | None, name: str = "image"
) -> np.ndarray:
    """Decode (at a reduced JPEG scale where possible), orient, crop and letterbox a photo."""
    span = min(crop[2] - crop[0], crop[3] - crop[1]) if crop else 1.0
    try:
        image = ImageOps.exif_transpose(load(image, draft=max(image_size, int(image_size / max(span, 1e-3)))))
        if crop:
            w, h = image.size
            box = (
                int(crop[0] * w),
                int(crop[1] * h),
                max(int(crop[2] * w), int(crop[0] * w) + 1),
                max(int(crop[3] * h), int(crop[1] * h) + 1),
            )
            image = image.crop(box)
        return letterbox(image, image_size)
    except Exception as exc:  # Pillow raises many types for truncated or corrupt data
        raise UploadError(422, f"{name}: the photo cannot be decoded ({type(exc).__name__}: {exc})") from None
