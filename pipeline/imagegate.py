"""The one gate every untrusted image passes before its pixels are used: scraper, dedup,
inference and the client all decode through here, with one pixel cap and one memory budget.

:func:`open_image` parses the header only and refuses decompression bombs before any pixel
is decoded (:class:`TooManyPixels`). :func:`decode_opened` decodes an opened image to the
size its caller needs, no less than ``size`` pixels a side: JPEGs DCT-scaled while decoding
(``draft``), other formats reduced by an integer factor (``reduce``) as soon as they are
decoded, before any conversion, so that mode conversions, the alpha composite on white
(catalog photos sit on white) and everything downstream work on the small image.
:func:`decode_rgb` does both from bytes; :func:`verify` decodes only to refuse corrupt or
truncated data. Every decode first reserves its estimated peak bytes, from the header, in
the process's :class:`DecodeBudget` (``VITRINE_DECODE_MEMORY_MB``), so the threads of a
stage decode at once only as many large images as fit. Every refusal is an
:class:`ImageRejected` whose message is the recorded reason (stable: no object addresses).
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

# 25 MP: a 5000×5000 or a 6000×4000 camera frame still passes. The catalog's photos are far
# smaller (the fashion-products set: 224×224, 0.05 MP; retailers' zoom images are a few MP),
# and at the cap Pillow's buffer is 100 MB (4 bytes a pixel for RGB), not the 200 MB of 50 MP.
MAX_PIXELS = 25_000_000
WHITE = 255
MB = 1 << 20

REDUCIBLE = frozenset({"L", "LA", "RGB", "RGBA", "CMYK", "YCbCr", "I", "F"})  # modes Image.reduce averages
ALPHA = frozenset({"LA", "PA", "RGBA"})


class ImageRejected(ValueError):
    """The bytes are not a decodable, reasonably sized image; ``str(exc)`` is the reason."""


class TooManyPixels(ImageRejected):
    """The header declares more than the pixel cap (a decompression bomb)."""


class DecodeBudget:
    """A byte-weighted semaphore: decodes whose estimated peak bytes together stay within
    ``limit`` run at once, the others wait; one estimated above the whole budget runs alone.
    ``peak``: the most bytes reserved at once so far."""

    def __init__(self, limit: int):
        self.limit = limit
        self.in_use = 0
        self.peak = 0
        self._cond = threading.Condition()

    @contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        """Hold ``nbytes`` of the budget for the body of the ``with``."""
        with self._cond:
            self._cond.wait_for(lambda: self.in_use == 0 or self.in_use + nbytes <= self.limit)
            self.in_use += nbytes
            self.peak = max(self.peak, self.in_use)
        try:
            yield
        finally:
            with self._cond:
                self.in_use -= nbytes
                self._cond.notify_all()


_budget: DecodeBudget | None = None
_budget_lock = threading.Lock()


def decode_budget() -> DecodeBudget:
    """The process's budget: decoding threads of every stage in a process share its memory.
    ``VITRINE_DECODE_MEMORY_MB`` is read (and validated, :mod:`pipeline.config`) on first use."""
    global _budget
    with _budget_lock:
        if _budget is None:
            from pipeline.config import decode_memory_mb

            _budget = DecodeBudget(decode_memory_mb(os.environ) * MB)
        return _budget


def open_image(data: bytes, *, formats: Sequence[str] | None = None) -> Image.Image:
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
    if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
        img.close()
        raise TooManyPixels(f"too many pixels: {width}x{height}")
    return img


def reduce_factor(width: int, height: int, size: int) -> int:
    """The integer factor that keeps both sides no less than ``size`` (1: no reduction)."""
    return max(1, min(width // size, height // size))


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ALPHA or (img.mode == "P" and "transparency" in img.info)


def buffer_bytes(img: Image.Image, source_pixels: int) -> int:
    """Bytes of decoding ``img`` (header read, a JPEG already drafted from ``source_pixels``):
    Pillow's buffer (1, 2 or 4 bytes a pixel) plus a progressive JPEG's coefficient buffer
    (about 6 bytes per source pixel, whatever the DCT scale)."""
    mode = img.mode
    own = 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4
    progressive = 6 * source_pixels if img.format == "JPEG" and img.info.get("progressive") else 0
    return img.width * img.height * own + progressive


def peak_bytes(img: Image.Image, factor: int, source_pixels: int) -> int:
    """Estimated peak bytes of decoding ``img`` to RGB reduced by ``factor``: its buffer plus the
    full-size 4-byte copies on the way (reduced: a conversion to a mode ``reduce`` averages, the
    premultiplied copy of an alpha image; unreduced: the alpha composite on white, or one
    conversion or EXIF transpose)."""
    if factor > 1:
        copies = (img.mode not in REDUCIBLE) + _has_alpha(img)
    else:
        copies = 4 if _has_alpha(img) else 1
    return buffer_bytes(img, source_pixels) + img.width * img.height * 4 * copies


def _load(img: Image.Image) -> None:
    try:
        img.load()
    except Exception as exc:  # truncated data, bad Huffman tables, ...
        reason = "truncated" if "truncated" in str(exc) else "corrupt"
        raise ImageRejected(f"{reason} {img.format}: {exc}") from exc


def _reduced(img: Image.Image, factor: int) -> Image.Image:
    """``img`` (loaded) reduced by ``factor``, through a mode ``reduce`` averages (palette
    indices are not averaged: converted first)."""
    if img.mode not in REDUCIBLE:
        img = img.convert("RGBA" if _has_alpha(img) else "L" if img.mode == "1" else "RGB")
    return img.reduce(factor)


def decode_opened(img: Image.Image, size: int, *, exif: bool = False) -> Image.Image:
    """An image :func:`open_image` returned, decoded to RGB no less than ``size`` pixels a
    side (fewer only when the original is smaller), within the process's decode budget;
    ``exif`` applies the EXIF orientation. ``img`` is used up: closed once its pixels are copied."""
    source_pixels = img.width * img.height
    if img.format == "JPEG":
        img.draft("RGB", (size, size))  # DCT scaling: the size shrinks before any pixel is decoded
    factor = reduce_factor(img.width, img.height, size)
    with decode_budget().reserve(peak_bytes(img, factor, source_pixels)):
        try:
            _load(img)
            out = _reduced(img, factor) if factor > 1 else img
            if exif:
                try:
                    ImageOps.exif_transpose(out, in_place=True)
                except Exception as exc:  # a broken EXIF block
                    raise ImageRejected(f"corrupt {img.format}: {exc}") from exc
            out = to_rgb(out)
        except BaseException:
            img.close()
            raise
        if out is not img:
            img.close()  # the full-size buffer goes before the reservation does
    return out


def decode_rgb(data: bytes, size: int, *, exif: bool = False) -> tuple[Image.Image, int, int]:
    """Bytes → (RGB image no less than ``size`` a side, original width, height); ``exif`` applies
    the EXIF orientation."""
    img = open_image(data)
    width, height = img.size
    return decode_opened(img, size, exif=exif), width, height


def verify(img: Image.Image) -> None:
    """Decode an opened image only to refuse corrupt or truncated data, within the decode
    budget, and close it. JPEGs decode at 1/8 scale: every byte is still entropy-decoded."""
    source_pixels = img.width * img.height
    if img.format == "JPEG":
        img.draft(img.mode, (1, 1))
    with decode_budget().reserve(buffer_bytes(img, source_pixels)):
        try:
            _load(img)
        finally:
            img.close()


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB view of any mode; transparent pixels become white (studio background)."""
    if img.mode == "RGB":
        return img
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (WHITE,) * 4)
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")
