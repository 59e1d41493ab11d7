"""Hostile images for the image gate's tests and bench: large in pixels, small in bytes."""

from __future__ import annotations

import struct
import zlib

MODES = {"L": (0, 1), "RGB": (2, 3), "RGBA": (6, 4)}  # PNG colour type, bytes a pixel


def large_png(width: int, height: int, mode: str = "RGB") -> bytes:
    """A valid ``width``×``height`` PNG: a dark square in the middle of a white picture (so a
    background trim has something to find), written row by row: no full-size buffer, and a
    7000×7000 RGB one is about 200 KB."""
    color_type, channels = MODES[mode]
    white, dark = b"\xff" * channels, (b"\x40" * min(channels, 3) + b"\xff" * (channels > 3))[:channels]
    left, right = width // 4, width - width // 4
    plain = b"\x00" + white * width  # filter byte 0, then the pixels
    content = b"\x00" + white * left + dark * (right - left) + white * (width - right)
    packer = zlib.compressobj(9)
    idat = [packer.compress(content if height // 4 <= y < height - height // 4 else plain) for y in range(height)]
    idat.append(packer.flush())

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(idat)) + chunk(b"IEND", b"")
