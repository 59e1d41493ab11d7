"""One image gate, one pixel cap: the scraper, dedup, inference (and so the client) refuse
the same bytes for the same reason."""

from __future__ import annotations

import io
import os
import struct
import zlib

import pytest
from PIL import Image

from pipeline import imagegate
from pipeline.dedup.hashing import hash_bytes
from pipeline.imagegate import ImageRejected
from pipeline.imageio import decode_bytes
from scrapers.images import inspect


def _png(width: int, height: int, claim: tuple[int, int] | None = None, mode: str = "RGB") -> bytes:
    """A valid PNG; with ``claim``, a tiny one whose header claims that size."""
    buf = io.BytesIO()
    Image.new(mode, (width, height), (200, 30, 30, 0) if mode == "RGBA" else (200, 30, 30)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    if claim:
        ihdr = struct.pack(">II", *claim) + bytes(data[24:29])
        data[16:29] = ihdr
        data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def _reasons(data: bytes) -> list[str]:
    out = []
    for check in (inspect, lambda d: hash_bytes("x", d).reason or "", lambda d: decode_bytes(d, 16)):
        try:
            out.append(str(check(data)))
        except ImageRejected as exc:
            out.append(str(exc))
    return out


def test_one_pixel_cap_for_every_stage():
    over = (imagegate.MAX_PIXELS // 7000 + 1, 7000)  # just over the cap, under PIL's own bomb limit
    assert _reasons(_png(4, 4, claim=over)) == [f"too many pixels: {over[0]}x{over[1]}"] * 3


def test_bombs_and_non_images_are_refused_before_decoding():
    assert all(r.startswith("too many pixels") for r in _reasons(_png(4, 4, claim=(30000, 30000))))
    with pytest.raises(ImageRejected, match="not an image"):
        imagegate.decode_rgb(b"<html>hello</html>")


def test_transparency_is_white_and_size_is_the_original():
    img, width, height = imagegate.decode_rgb(_png(60, 40, mode="RGBA"))
    assert (img.mode, width, height) == ("RGB", 60, 40)
    assert img.getpixel((5, 5)) == (255, 255, 255)


def test_truncated_data_is_refused_when_loaded():
    buf = io.BytesIO()
    Image.frombytes("RGB", (200, 200), os.urandom(200 * 200 * 3)).save(buf, "PNG")
    data = buf.getvalue()[:3000]
    with pytest.raises(ImageRejected, match="truncated|corrupt"):
        imagegate.decode_rgb(data)
