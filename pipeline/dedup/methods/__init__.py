"""Per-image signatures: pHash (64-bit search, 256-bit verify), colour, the trimmed view."""
from pipeline.dedup.methods.color import color_matrix, color_signature, hue_distance, lab_distance
from pipeline.dedup.methods.image import trim_background
from pipeline.dedup.methods.phash import fine_matrix, hamming, hamming_fine, phash64, phash256, to_hex

__all__ = [
    "color_matrix", "color_signature", "fine_matrix", "hamming",
    "hamming_fine", "hue_distance", "lab_distance", "phash64", "phash256", "to_hex", "trim_background",
]
