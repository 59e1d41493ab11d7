"""Where things live in the lake: the one place that spells out key layouts.

Tables are Hive-partitioned Parquet under ``tables/<table>/`` (contract §6); releases follow
contract §5. Every stage builds keys through these helpers instead of formatting strings.
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


def release_prefix(release_id: str) -> str:
    return f"{RELEASES}/{release_id}"


def model_prefix(version: str) -> str:
    return f"{MODELS}/{version}"


def staging(run_id: str, stage: str) -> str:
    """Per-run scratch space for a stage; safe to overwrite on retry."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    return f"{STAGING}/{safe}/{stage}"
