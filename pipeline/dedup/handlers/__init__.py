"""Search structures over 64-bit hashes."""

from pipeline.dedup.handlers.mih import MultiIndexHash, pairs_with, plan_parts, self_pairs

__all__ = ["MultiIndexHash", "pairs_with", "plan_parts", "self_pairs"]
