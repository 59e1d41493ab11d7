"""Near-duplicate image detection and grouping into catalog items (imagededup-like layout).

- ``methods``: per-image signatures (safe decode, 64/256-bit pHash, colour signature)
- ``handlers``: search structures (multi-index hashing over 64-bit codes)
- ``grouping``: pair verification, guarded grouping, canonical choice
- ``state``: the hash index persisted in the lake; ``items``: the output tables
- ``catalog.dedup_catalog``: the pipeline stage
"""
from pipeline.dedup.catalog import dedup_catalog

__all__ = ["dedup_catalog"]
