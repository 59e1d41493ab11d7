"""Uploaded query photos: type sniffed from the bytes, size limit, the image gate, crop, model input.

Nothing trusts the file name or the declared content type. Every photo goes through the
project's one image gate (``pipeline.imagegate``: its format sniffing, its one pixel cap read
from the header before any pixel is decoded, so a 40k×40k PNG header is refused without
allocating 4.8 GB, and its decoder); this module only maps the gate's refusals to an
``UploadError`` with an HTTP status and a one-line reason (413 too large, 415 not a photo,
with a look for SVG/HTML/text so the error says what was sent, 422 undecodable).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.imagegate import MAX_PIXELS, ImageRejected, TooManyPixels, decode_opened, open_image
from pipeline.imageio import letterbox

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif", "BMP": "image/bmp"}


@dataclass(frozen=True)
class Limits:
    """What one request may upload (the pixel cap is the image gate's ``MAX_PIXELS``)."""

    max_bytes: int = 8 * 1024 * 1024  # per photo
    max_request_bytes: int = 16 * 1024 * 1024  # per request body, checked before parsing
    max_images: int = 8  # photos of one profile


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


def model_input(
    data: bytes,
    limits: Limits,
    image_size: int,
    crop: tuple[float, float, float, float] | None = None,
    name: str = "image",
) -> np.ndarray:
    """An uploaded photo's bytes → the model's input: gated, decoded (at a reduced JPEG scale
    where possible), oriented, cropped and letterboxed to uint8 ``(image_size, image_size, 3)``."""
    if not data:
        raise UploadError(422, f"{name}: the upload is empty")
    if len(data) > limits.max_bytes:
        raise UploadError(413, f"{name}: {len(data)} bytes is more than the {limits.max_bytes} allowed")
    try:
        image = open_image(data, formats=list(FORMATS))
    except TooManyPixels as exc:
        raise UploadError(413, f"{name}: {exc} (at most {MAX_PIXELS:,} pixels)") from None
    except ImageRejected:
        raise UploadError(
            415, f"{name}: {_describe(data)} is not a supported photo (JPEG, PNG, WebP, GIF or BMP)"
        ) from None
    span = min(crop[2] - crop[0], crop[3] - crop[1]) if crop else 1.0
    try:
        image = decode_opened(image, max(image_size, int(image_size / max(span, 1e-3))), exif=True)
    except ImageRejected as exc:
        raise UploadError(422, f"{name}: the photo cannot be decoded ({exc})") from None
    if crop:
        w, h = image.size
        x0, y0 = int(crop[0] * w), int(crop[1] * h)
        image = image.crop((x0, y0, max(int(crop[2] * w), x0 + 1), max(int(crop[3] * h), y0 + 1)))
    return letterbox(image, image_size)
