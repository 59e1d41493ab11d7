"""Where things live: the one place that spells out key layouts and file names.

Tables are Hive-partitioned Parquet under ``tables/<table>/`` (README, "Lake tables");
releases are laid out as README "The release" says. Every stage builds keys through these
helpers instead of formatting strings; the crawl process and the scrape stage agree on the
files of a crawl's output folder through the ``CRAWL_*`` names.
"""

from __future__ import annotations

import re

TABLES = "tables"
RELEASES = "releases"
LATEST = f"{RELEASES}/latest.json"
MODELS = "models/attributes"
PRODUCTION_MODEL = f"{MODELS}/production.json"
STAGING = "staging"
STATE = "state"

# the files of a release (besides its index, whose name comes from the index kind: pipeline.ann)
MANIFEST_FILE = "manifest.json"
ITEMS_FILE = "items.parquet"
ATTRIBUTES_FILE = "attributes.parquet"
INDEX_STATS_FILE = "index.json"  # what the index stage measured, staged next to the index

# the crawl process's output folder (VITRINE_OUTPUT) and the inputs the scrape stage leaves in it
CRAWL_ITEMS = "items.jsonl"
CRAWL_INVALID = "invalid.jsonl"
CRAWL_STATS = "stats.json"
CRAWL_UNCHANGED = "unchanged.json"
KNOWN_IMAGES = "known_images.json"
KNOWN_PAGES = "known_pages.json"


def table(name: str, **partitions: str) -> str:
    """Key prefix of a table or of one of its partitions: ``tables/name/k=v``."""
    parts = [TABLES, name] + [f"{k}={v}" for k, v in partitions.items()]
    return "/".join(parts)


def part(prefix: str, part: str = "0") -> str:
    """Key of one Parquet file of a table or partition: ``<prefix>/part-<part>.parquet``."""
    return f"{prefix}/part-{part}.parquet"


def image_key(sha256: str, ext: str) -> str:
    """Content-addressed key of a stored image (original bytes, original format)."""
    return f"images/{sha256[:2]}/{sha256}.{ext.lstrip('.').lower()}"


# a release id or a release file name: one path segment, never "..", "/" or a hidden name
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def safe_name(value: object, what: str) -> str:
    """``value`` when it is a plain file or folder name (:data:`SAFE_NAME`), else ValueError."""
    if not isinstance(value, str) or not SAFE_NAME.fullmatch(value) or ".." in value:
        raise ValueError(f"{what} {value!r} is not a plain name ([A-Za-z0-9._-], no path separators)")
    return value


def safe_segment(value: str) -> str:
    """Any string (a run id) as one path segment: characters outside ``[A-Za-z0-9._-]`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", value)


def release_prefix(release_id: str) -> str:
    return f"{RELEASES}/{release_id}"


def manifest_key(release_id: str) -> str:
    return f"{release_prefix(release_id)}/{MANIFEST_FILE}"


def model_prefix(version: str) -> str:
    return f"{MODELS}/{version}"


def staging(run_id: str, stage: str) -> str:
    """Per-run scratch space for a stage; safe to overwrite on retry."""
    return f"{STAGING}/{safe_segment(run_id)}/{stage}"
