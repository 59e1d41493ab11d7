"""Per-image signatures: safe decoding, pHash (64-bit search, 256-bit verify), colour."""
from pipeline.dedup.methods.color import color_matrix, color_signature, hue_distance, lab_distance
from pipeline.dedup.methods.image import ImageRejected, decode_rgb, trim_background
from pipeline.dedup.methods.phash import fine_matrix, hamming, hamming_fine, phash64, phash256, to_hex

__all__ = [
    "ImageRejected", "color_matrix", "color_signature", "decode_rgb", "fine_matrix", "hamming",
    "hamming_fine", "hue_distance", "lab_distance", "phash64", "phash256", "to_hex", "trim_background",
]
