"""Image checks before anything is stored: sniff the bytes (never trust the extension or the
Content-Type), then pass them through the image gate (:mod:`pipeline.imagegate`): the size
from the header, decompression bombs refused before decoding, then one decode to refuse
corrupt or truncated files (within the decode memory budget, JPEGs at 1/8 scale)."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.imagegate import ImageRejected, open_image, verify

UNSUPPORTED_SCHEME = "unsupported scheme"  # an image URL that is not http(s): never requested

# rejections that depend on the bytes behind a URL (this module, the image gate and the media
# pipeline produce them) or on the URL itself: not fetched again next run
CONTENT_REASONS = (
    UNSUPPORTED_SCHEME,
    "not an image",
    "corrupt",
    "truncated",
    "too many pixels",
    "too small",
    "too large",
    "noimageindex",
    "empty body",
)

# magic bytes → (format name, file extension)
SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "PNG", "png"),
    (b"GIF87a", "GIF", "gif"),
    (b"GIF89a", "GIF", "gif"),
)


@dataclass(frozen=True)
class Limits:
    min_width: int = 50
    min_height: int = 50
    max_bytes: int = 20 * 1024 * 1024
    verify: bool = True  # decode fully to catch corrupt/truncated files


@dataclass(frozen=True)
class ImageMeta:
    format: str  # JPEG, PNG, GIF, WEBP
    ext: str
    width: int
    height: int
    mode: str


def reason_key(reason: str) -> str:
    """The category of a rejection reason, for counts (``"too small: 22x22"`` → ``too small``)."""
    return reason.split(":", 1)[0].split(" (", 1)[0].strip()


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
    """Check ``data`` and describe it, or raise :class:`ImageRejected` with the reason."""
    if not data:
        raise ImageRejected("empty body")
    if len(data) > limits.max_bytes:
        raise ImageRejected(f"too large: {len(data)} bytes")
    sniffed = sniff(data)
    if sniffed is None:
        raise ImageRejected(f"not an image ({describe(data)})")
    fmt, ext = sniffed
    with open_image(data, formats=[fmt]) as img:  # the header only
        width, height, mode = *img.size, img.mode
        if width < limits.min_width or height < limits.min_height:
            raise ImageRejected(f"too small: {width}x{height}")
        if limits.verify:
            verify(img)
        return ImageMeta(fmt, ext, width, height, mode)
