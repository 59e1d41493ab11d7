"""Colour signature: a grid of opponent-colour chroma, to keep colorways apart.

pHash (like every structural imagehash) sees only luminance, so the same garment in another
colour hashes alike. The signature is the mean chroma (a = (R−G)/2, b = ((R+G)/2 − B)/2,
int8) of each cell of a GRID×GRID grid. The distance looks only at *hue* change: per cell,
the chord between the two unit chroma vectors times the smaller chroma. A recolouring
rotates chroma and scores high; brightness, contrast, re-encoding and grey watermarks only
scale or slightly blur it and score near zero. The maximum over cells is taken, so a
recoloured part the size of one cell (1/256 of the picture) is enough to tell colorways apart.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

GRID = 16
CELLS = GRID * GRID
SIZE = 2 * CELLS  # bytes per signature
CHROMA_FLOOR = 4.0  # below this a cell is grey: its hue is noise


def color_signature(img: Image.Image) -> bytes:
    """SIZE bytes (int8): chroma a, b per grid cell, row-major."""
    rgb = np.asarray(img.convert("RGB").resize((GRID, GRID), Image.Resampling.BOX), dtype=np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    chroma = np.stack([(r - g) / 2, ((r + g) / 2 - b) / 2], axis=-1)
    return np.clip(np.rint(chroma), -127, 127).astype(np.int8).tobytes()


def color_matrix(raw: bytes) -> np.ndarray:
    """(N, CELLS, 2) int8 view of concatenated signatures."""
    return np.frombuffer(raw, dtype=np.int8).reshape(-1, CELLS, 2)


def color_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise hue distance of (N, CELLS, 2) signatures (see module docstring)."""
    a = a.astype(np.float32)
    b = b.astype(np.float32)
    ma = np.sqrt((a * a).sum(axis=-1))
    mb = np.sqrt((b * b).sum(axis=-1))
    ua = a / np.maximum(ma, CHROMA_FLOOR)[..., None]
    ub = b / np.maximum(mb, CHROMA_FLOOR)[..., None]
    chord = np.sqrt(((ua - ub) ** 2).sum(axis=-1))
    return (np.minimum(ma, mb) * chord).max(axis=-1)
