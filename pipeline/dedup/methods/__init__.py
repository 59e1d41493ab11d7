"""Per-image signatures: safe decoding, pHash (64-bit search, 256-bit verify), colour."""
from pipeline.dedup.methods.color import color_distance, color_matrix, color_signature
from pipeline.dedup.methods.image import ImageRejected, decode_rgb
from pipeline.dedup.methods.phash import fine_matrix, hamming, hamming_fine, phash64, phash256, to_hex

__all__ = [
    "ImageRejected", "color_distance", "color_matrix", "color_signature", "decode_rgb", "fine_matrix",
    "hamming", "hamming_fine", "phash64", "phash256", "to_hex",
]
