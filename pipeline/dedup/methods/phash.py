"""Perceptual hashes (imagehash's DCT pHash): 64-bit for search, 256-bit for verification.

The 64-bit hash is what the multi-index search runs on. On studio product shots (white
background, similar silhouettes) many *different* products are within a few bits of each
other, so candidate pairs are verified with the finer 256-bit pHash (16×16 DCT
coefficients), which keeps the detail that tells two black sneakers apart.
"""

from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image

FINE_BYTES = 32


def _packed(img: Image.Image, hash_size: int) -> bytes:
    bits = np.asarray(imagehash.phash(img, hash_size=hash_size).hash, dtype=bool).reshape(-1)
    return np.packbits(bits).tobytes()


def phash64(img: Image.Image) -> int:
    """imagehash.phash packed big-endian into an int (same bit order as its hex string)."""
    return int.from_bytes(_packed(img, 8), "big")


def phash256(img: Image.Image) -> bytes:
    """imagehash.phash with hash_size=16, packed into 32 bytes."""
    return _packed(img, 16)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise Hamming distance of uint64 arrays (broadcasting)."""
    return np.bitwise_count(np.bitwise_xor(a, b)).astype(np.int16)


def hamming_fine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Hamming distance of (N, 4) uint64 views of 256-bit hashes."""
    return np.bitwise_count(np.bitwise_xor(a, b)).sum(axis=-1).astype(np.int16)
