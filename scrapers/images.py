"""Image checks before anything is stored: sniff the bytes (never trust the extension or the
Content-Type), read the size from the header and refuse decompression bombs before decoding,
then decode once to refuse corrupt or truncated files."""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image

# magic bytes → (format name, file extension)
SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "PNG", "png"),
    (b"GIF87a", "GIF", "gif"),
    (b"GIF89a", "GIF", "gif"),
)


class RejectedImage(ValueError):
    """The bytes are not an acceptable image; the message is the recorded reason."""


@dataclass(frozen=True)
class Limits:
    min_width: int = 50
    min_height: int = 50
    max_pixels: int = 50_000_000
    max_bytes: int = 20 * 1024 * 1024
    verify: bool = True  # decode fully to catch corrupt/truncated files


@dataclass(frozen=True)
class ImageMeta:
    format: str  # JPEG, PNG, GIF, WEBP
    ext: str
    width: int
    height: int
    mode: str


def sniff(data: bytes) -> tuple[str, str] | None:
    """(format, extension) from the magic bytes, or None."""
    for magic, fmt, ext in SIGNATURES:
        if data.startswith(magic):
            return fmt, ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP", "webp"
    return None


def describe(data: bytes) -> str:
    """What a non-image body looks like, for the rejection reason."""
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head:
        return "html"
    if head.startswith((b"<?xml", b"<svg")):
        return "xml/svg"
    if head.startswith((b"{", b"[")):
        return "json"
    return "unknown format"


def inspect(data: bytes, limits: Limits = Limits()) -> ImageMeta:
    """Check ``data`` and describe it, or raise :class:`RejectedImage` with the reason."""
    if not data:
        raise RejectedImage("empty body")
    if len(data) > limits.max_bytes:
        raise RejectedImage(f"too large: {len(data)} bytes")
    sniffed = sniff(data)
    if sniffed is None:
        raise RejectedImage(f"not an image ({describe(data)})")
    fmt, ext = sniffed
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[fmt])  # parses the header only
    except Image.DecompressionBombError as exc:
        raise RejectedImage(f"too many pixels: {exc}") from exc
    except Image.UnidentifiedImageError as exc:  # its message names a BytesIO address: keep reasons stable
        raise RejectedImage(f"corrupt {fmt}: header cannot be parsed") from exc
    except Exception as exc:
        raise RejectedImage(f"corrupt {fmt}: {exc}") from exc
    with img:
        width, height = img.size
        if width * height > limits.max_pixels:
            raise RejectedImage(f"too many pixels: {width}x{height}")
        if width < limits.min_width or height < limits.min_height:
            raise RejectedImage(f"too small: {width}x{height}")
        if limits.verify:
            try:
                img.load()
            except Exception as exc:
                reason = "truncated" if "truncated" in str(exc) else "corrupt"
                raise RejectedImage(f"{reason} {fmt}: {exc}") from exc
        return ImageMeta(fmt, ext, width, height, img.mode)
