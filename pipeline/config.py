"""The one configuration object, read from the environment once (README: Configuration)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parent.parent
USER_AGENT = "VitrineBot/0.1 (+https://github.com/vitrine-catalog/vitrine; catalog indexing)"


@dataclass(frozen=True)
class Settings:
    """Where Vitrine keeps its state and data, and the knobs every stage shares."""

    home: Path
    lake: str
    retailers_path: Path
    dags_folder: Path = REPO_ROOT / "dags"
    plugins_folder: Path = REPO_ROOT / "plugins"
    image_size: int = 96
    embed_batch_size: int = 64
    dedup_max_distance: int = 8
    index_kind: str = "annoy"  # a kind of pipeline.ann.KINDS
    index_recall_target: float = 0.95
    release_retention: int = 5
    max_unavailable_share: float = 0.5
    scrape_pool_slots: int = 4
    retry_delay_s: int = 120
    decode_memory_mb: int = 512  # decoded pixels in flight at once, per process (pipeline.imagegate)
    refresh_schedule: str | None = "@daily"
    retrain_schedule: str | None = "@weekly"
    embed_queue: str = "default"  # Celery queue of the embed tasks: "gpu" on a cluster with GPU workers
    train_queue: str = "gpu"  # Celery queue of the retrain DAG's train task
    user_agent: str = USER_AGENT  # what the crawls identify as (a retailer's settings may override it)

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"


class ConfigError(ValueError):
    """A configuration value is wrong; the message (one line) names the variable."""


def _lake_default(home: Path) -> str:
    return f"file://{home / 'lake'}"


def _number(env: Any, name: str, default: float, kind: type, low: float, high: float | None = None) -> Any:
    """``env[name]`` as ``kind`` within [low, high], else ConfigError naming it."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not {'an integer' if kind is int else 'a number'}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise ConfigError(f"{name}={raw!r} must be {bound}")
    return value


def check_lake_uri(uri: str, name: str = "VITRINE_LAKE") -> str:
    """An absolute ``file:///path``, ``s3://bucket[/prefix]`` or ``memory://name``; else ConfigError."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost") or not parsed.path.startswith("/"):
            raise ConfigError(
                f"{name}={uri!r} must be an absolute file:///path (a relative lake splits between working directories)"
            )
    elif parsed.scheme == "s3":
        if not parsed.netloc:
            raise ConfigError(f"{name}={uri!r} names no bucket: use s3://bucket/prefix")
    elif parsed.scheme != "memory":
        raise ConfigError(f"{name}={uri!r}: use file:///path or s3://bucket/prefix")
    return uri.rstrip("/")


def decode_memory_mb(env: Any) -> int:
    """``VITRINE_DECODE_MEMORY_MB``: the image gate reads it on first use, ``load_settings`` checks it."""
    return _number(env, "VITRINE_DECODE_MEMORY_MB", Settings.decode_memory_mb, int, 16, 1 << 20)


def _schedule(value: str) -> str | None:
    """A cron expression or preset; ``none`` for manual (and Asset) runs only."""
    return None if value.strip().lower() in ("", "none") else value.strip()


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build and validate settings from environment variables (README: Configuration); no side effects.
    Raises :class:`ConfigError` (one line, naming the variable) for a bad value."""
    env = os.environ if environ is None else environ
    home = Path(env.get("VITRINE_HOME") or "./.vitrine").expanduser().resolve()
    lake = check_lake_uri(env.get("VITRINE_LAKE") or _lake_default(home))
    retailers = Path(env.get("VITRINE_RETAILERS") or REPO_ROOT / "config" / "retailers.yaml")
    if not retailers.is_absolute():
        retailers = (Path.cwd() / retailers).resolve()
    recall_name = (
        "VITRINE_INDEX_RECALL_TARGET" if env.get("VITRINE_INDEX_RECALL_TARGET") else "VITRINE_ANNOY_RECALL_TARGET"
    )
    d = Settings  # the defaults
    return Settings(
        home=home,
        lake=lake,
        retailers_path=retailers,
        image_size=_number(env, "VITRINE_IMAGE_SIZE", d.image_size, int, 8, 4096),
        embed_batch_size=_number(env, "VITRINE_EMBED_BATCH_SIZE", d.embed_batch_size, int, 1, 65536),
        dedup_max_distance=_number(env, "VITRINE_DEDUP_MAX_DISTANCE", d.dedup_max_distance, int, 0, 64),
        index_kind=env.get("VITRINE_INDEX_KIND") or d.index_kind,
        # VITRINE_ANNOY_RECALL_TARGET: the name before index kinds existed, still read
        index_recall_target=_number(env, recall_name, d.index_recall_target, float, 0.0, 1.0),
        release_retention=_number(env, "VITRINE_RELEASE_RETENTION", d.release_retention, int, 1),
        max_unavailable_share=_number(env, "VITRINE_MAX_UNAVAILABLE_SHARE", d.max_unavailable_share, float, 0.0, 1.0),
        scrape_pool_slots=_number(env, "VITRINE_SCRAPE_POOL_SLOTS", d.scrape_pool_slots, int, 1),
        retry_delay_s=_number(env, "VITRINE_RETRY_DELAY_S", d.retry_delay_s, int, 0),
        decode_memory_mb=decode_memory_mb(env),
        refresh_schedule=_schedule(env.get("VITRINE_REFRESH_SCHEDULE", d.refresh_schedule or "none")),
        retrain_schedule=_schedule(env.get("VITRINE_RETRAIN_SCHEDULE", d.retrain_schedule or "none")),
        embed_queue=env.get("VITRINE_EMBED_QUEUE") or d.embed_queue,
        train_queue=env.get("VITRINE_TRAIN_QUEUE") or d.train_queue,
        user_agent=env.get("VITRINE_USER_AGENT") or d.user_agent,
    )


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
