"""Image views for hashing: the picture trimmed to its content (decoding: :mod:`pipeline.imagegate`)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def trim_background(img: Image.Image, tolerance: int = 24, min_area: float = 0.05) -> Image.Image:
    """The image cropped to its content: the bounding box of the pixels darker than white by
    more than ``tolerance`` grey levels (studio shots are on white). Padding and crops that
    only cut background then leave the result unchanged. Returns ``img`` itself when the
    content box is the whole picture or implausibly small."""
    grey = np.asarray(img.convert("L"))
    rows = np.flatnonzero((grey < 255 - tolerance).sum(axis=1) >= 2)
    cols = np.flatnonzero((grey < 255 - tolerance).sum(axis=0) >= 2)
    if len(rows) == 0 or len(cols) == 0:
        return img
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    area = (box[2] - box[0]) * (box[3] - box[1])
    if area >= img.width * img.height or area < min_area * img.width * img.height:
        return img
    return img.crop(box)
