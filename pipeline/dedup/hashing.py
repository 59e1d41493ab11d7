"""Hash images: 64/256-bit pHash and color signature of the full picture and of the picture
trimmed to its content (``trim_background``), or the reason it could not be decoded."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image

from pipeline.dedup.methods import color_signature, phash64, phash256, trim_background
from pipeline.imagegate import ImageRejected, decode_rgb

# images are decoded to no less than this many pixels a side (JPEGs DCT-scaled, others
# reduced, pipeline.imagegate): pHash reads 32×32 or 64×64, the colour signature and the
# background trim need no more, and a 7000×7000 PNG is never converted at full size
HASH_INPUT_SIZE = 128


@dataclass(frozen=True)
class ImageHashes:
    """Signatures of one image (``t*``: of its trimmed view); ``reason`` is set and the rest
    None when it was rejected."""

    sha256: str
    phash: int | None
    phash256: bytes | None
    color: bytes | None
    tphash: int | None
    tphash256: bytes | None
    tcolor: bytes | None
    width: int | None
    height: int | None
    reason: str | None = None


def signatures(img: Image.Image) -> tuple[int, bytes, bytes]:
    """(64-bit pHash, 256-bit pHash, color signature) of one view."""
    return phash64(img), phash256(img), color_signature(img)


def hash_bytes(sha256: str, data: bytes) -> ImageHashes:
    """Signatures of encoded image bytes; undecodable images come back with a reason."""
    try:
        img, width, height = decode_rgb(data, HASH_INPUT_SIZE)
    except ImageRejected as exc:
        return ImageHashes(sha256, None, None, None, None, None, None, None, None, str(exc))
    full = signatures(img)
    trimmed = trim_background(img)
    return ImageHashes(sha256, *full, *(full if trimmed is img else signatures(trimmed)), width, height)


def hash_many(
    jobs: Iterable[tuple[str, str]], read: Callable[[str], bytes], workers: int | None = None
) -> list[ImageHashes]:
    """Hash (sha256, key) pairs, reading bytes with ``read``, in threads (PIL decodes and
    resizes without the GIL; S3 reads overlap). Order of results follows ``jobs``."""

    def one(job: tuple[str, str]) -> ImageHashes:
        sha, key = job
        try:
            data = read(key)
        except FileNotFoundError:
            return ImageHashes(sha, None, None, None, None, None, None, None, None, f"missing from the lake: {key}")
        return hash_bytes(sha, data)

    workers = workers or min(8, 2 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, jobs, chunksize=16))
