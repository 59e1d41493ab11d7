"""Color signature: mean RGB of each cell of a GRID×GRID grid (uint8), and two distances.

pHash (like every structural imagehash) sees only luminance, so the same garment in another
color hashes alike. Two distances on the signature keep colorways apart:

- ``hue_distance``: per cell, the chord between the unit opponent-chroma vectors
  (a = (R−G)/2, b = ((R+G)/2 − B)/2) times the smaller chroma; maximum over cells. A
  recoloring rotates chroma and scores high even when it covers one cell (1/256 of the
  picture); brightness, re-encoding and grey watermarks only scale chroma and score ~0.
- ``lab_distance``: per cell CIE76 ΔE in CIELAB after one least-squares gain (brightness),
  95th percentile over cells. It catches what hue cannot: black vs brown, navy vs black,
  white vs cream, where chroma or lightness change rather than hue.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

GRID = 16
CELLS = GRID * GRID
SIZE = 3 * CELLS  # bytes per signature
CHROMA_FLOOR = 4.0  # below this a cell is grey: its hue is noise
GAIN_RANGE = (0.85, 1.18)  # brightness changes the Lab distance forgives
LAB_PERCENTILE = 95  # of cells: a watermark or a border touching a few cells is not a colorway

_RGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]], dtype=np.float32)
_WHITE = np.array([0.9505, 1.0, 1.089], dtype=np.float32)


def color_signature(img: Image.Image) -> bytes:
    """SIZE bytes: mean R, G, B of each grid cell, row-major."""
    return np.asarray(img.convert("RGB").resize((GRID, GRID), Image.Resampling.BOX), dtype=np.uint8).tobytes()


def hue_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise hue distance of (N, CELLS, 3) RGB signatures."""
    ca, cb = _chroma(a), _chroma(b)
    ma = np.sqrt((ca * ca).sum(axis=-1))
    mb = np.sqrt((cb * cb).sum(axis=-1))
    ua = ca / np.maximum(ma, CHROMA_FLOOR)[..., None]
    ub = cb / np.maximum(mb, CHROMA_FLOOR)[..., None]
    chord = np.sqrt(((ua - ub) ** 2).sum(axis=-1))
    return (np.minimum(ma, mb) * chord).max(axis=-1)


def lab_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise brightness-compensated ΔE (95th percentile of cells) of RGB signatures."""
    la, lb = _lab(a), _lab(b)
    gain = (la * lb).sum(axis=(1, 2)) / np.maximum((lb * lb).sum(axis=(1, 2)), 1e-6)
    lb *= np.clip(gain, *GAIN_RANGE)[:, None, None]
    delta = np.sqrt(((la - lb) ** 2).sum(axis=-1))
    return np.percentile(delta, LAB_PERCENTILE, axis=-1).astype(np.float32)


def _chroma(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.stack([(r - g) / 2, ((r + g) / 2 - b) / 2], axis=-1)


def _lab(rgb: np.ndarray) -> np.ndarray:
    c = rgb.astype(np.float32) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = (c @ _RGB_TO_XYZ.T) / _WHITE
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1
    ).astype(np.float32)
