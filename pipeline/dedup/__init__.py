"""Near-duplicate image detection and grouping into catalog items (imagededup-like layout).

- ``methods``: per-image signatures (safe decode, 64/256-bit pHash, color signature)
- ``handlers``: search structures (multi-index hashing over 64-bit codes)
- ``grouping``: pair verification, guarded grouping, canonical choice
- ``state``: the hash index persisted in the lake; ``items``: the output tables
- ``catalog.dedup_catalog``: the pipeline stage; ``eval`` + ``cli.add_cli``: ``vitrine dedup-eval``
"""

from pipeline.dedup.catalog import dedup_catalog
from pipeline.dedup.cli import add_cli

__all__ = ["add_cli", "dedup_catalog"]
