"""The one configuration object, read from the environment once (contract §2)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Where Vitrine keeps its state and data, and the knobs every stage shares."""

    home: Path
    lake: str
    retailers_path: Path
    dags_folder: Path = REPO_ROOT / "dags"
    image_size: int = 96
    embed_batch_size: int = 64
    dedup_max_distance: int = 8
    index_kind: str = "annoy"  # a kind of pipeline.ann.KINDS
    index_recall_target: float = 0.95
    release_retention: int = 5

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"


def _lake_default(home: Path) -> str:
    return f"file://{home / 'lake'}"


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from environment variables (contract §2); no side effects."""
    env = os.environ if environ is None else environ
    home = Path(env.get("VITRINE_HOME") or "./.vitrine").expanduser().resolve()
    lake = env.get("VITRINE_LAKE") or _lake_default(home)
    retailers = Path(env.get("VITRINE_RETAILERS") or REPO_ROOT / "config" / "retailers.yaml")
    if not retailers.is_absolute():
        retailers = (Path.cwd() / retailers).resolve()
    return Settings(
        home=home,
        lake=lake.rstrip("/"),
        retailers_path=retailers,
        image_size=int(env.get("VITRINE_IMAGE_SIZE", 96)),
        embed_batch_size=int(env.get("VITRINE_EMBED_BATCH_SIZE", 64)),
        dedup_max_distance=int(env.get("VITRINE_DEDUP_MAX_DISTANCE", 8)),
        index_kind=env.get("VITRINE_INDEX_KIND") or "annoy",
        # VITRINE_ANNOY_RECALL_TARGET: the name before index kinds existed, still read
        index_recall_target=float(
            env.get("VITRINE_INDEX_RECALL_TARGET") or env.get("VITRINE_ANNOY_RECALL_TARGET") or 0.95
        ),
        release_retention=int(env.get("VITRINE_RELEASE_RETENTION", 5)),
    )


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
