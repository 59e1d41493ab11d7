"""Per-image signatures: pHash (64-bit search, 256-bit verify), color, the trimmed view."""

from pipeline.dedup.methods.color import color_signature, hue_distance, lab_distance
from pipeline.dedup.methods.image import trim_background
from pipeline.dedup.methods.phash import hamming, hamming_fine, phash64, phash256

__all__ = [
    "color_signature",
    "hamming",
    "hamming_fine",
    "hue_distance",
    "lab_distance",
    "phash64",
    "phash256",
    "trim_background",
]
