"""Model registry in the lake: ``models/attributes/<version>/`` and a production pointer.

A version folder holds ``model.keras`` and ``metadata.json`` (written last: a version is
complete once its metadata exists). ``models/attributes/production.json`` names the
production version and is written last of all, with a conditional write, so a reader never
sees a pointer to a half-registered model and two promoters cannot interleave.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import layout
from pipeline.config import Settings
from pipeline.lake import Lake, PreconditionFailed

if TYPE_CHECKING:
    import keras

#: The Airflow Asset a promotion emits (``attribute_model_retrain``) and ``catalog_reembed`` is scheduled on.
PRODUCTION_MODEL_ASSET_URI = "vitrine://models/attributes/production"
MODEL_FILE = "model.keras"
METADATA_FILE = "metadata.json"
INITIAL_SEED = 20260101
_LOADED: dict[tuple[str, str], LoadedModel] = {}


class ModelRegistryError(LookupError):
    """A model version or the production pointer is missing or inconsistent."""


@dataclass
class LoadedModel:
    """A registered model, ready for inference."""

    version: str
    image_size: int
    attributes: dict[str, list[str]]
    embedding_dim: int
    backbone: str
    keras_model: keras.Model
    metadata: dict[str, Any] = field(default_factory=dict)


def new_version(now: datetime | None = None) -> str:
    """A sortable, unique version id: ``20260314T021500Z-3fa9c1``."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _metadata_key(version: str) -> str:
    return f"{layout.model_prefix(version)}/{METADATA_FILE}"


def exists(lake: Lake, version: str) -> bool:
    return lake.exists(_metadata_key(version))


def read_metadata(lake: Lake, version: str) -> dict[str, Any]:
    if not exists(lake, version):
        raise ModelRegistryError(f"model version {version!r} is not registered in {lake.root}")
    return lake.read_json(_metadata_key(version))


def list_versions(lake: Lake) -> list[str]:
    """Every completely registered version, oldest first."""
    prefix = layout.MODELS + "/"
    return sorted(key[len(prefix) :].split("/")[0] for key in lake.list(prefix) if key.endswith("/" + METADATA_FILE))


def register_model(
    lake: Lake,
    model: keras.Model,
    *,
    attributes: dict[str, list[str]],
    image_size: int,
    backbone: str,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    version: str | None = None,
) -> str:
    """Save a model as a new version (model file first, metadata last); returns the version.
    The metadata's ``embedding_dim`` is the length of the model's ``embedding`` output."""
    from pipeline.model import embedding_dim_of

    version = version or new_version()
    prefix = layout.model_prefix(version)
    with tempfile.TemporaryDirectory(prefix="vitrine-model-") as tmp:
        path = Path(tmp) / MODEL_FILE
        model.save(path)
        data = path.read_bytes()
    lake.write_bytes(f"{prefix}/{MODEL_FILE}", data)
    metadata = {
        "version": version,
        "attributes": attributes,
        "image_size": image_size,
        "embedding_dim": embedding_dim_of(model),
        "backbone": backbone,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "metrics": metrics or {},
        "files": {MODEL_FILE: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}},
        **(extra or {}),
    }
    lake.write_json(_metadata_key(version), metadata)
    _refresh_models_table(lake)
    return version


def production_version(lake: Lake) -> str | None:
    """The version ``production.json`` points at, or None when nothing is in production."""
    if not lake.exists(layout.PRODUCTION_MODEL):
        return None
    return lake.read_json(layout.PRODUCTION_MODEL)["version"]


def promote(lake: Lake, version: str, *, reason: str = "", metrics: dict[str, Any] | None = None) -> None:
    """Point production at a registered version (conditional write of ``production.json``)."""
    read_metadata(lake, version)  # refuses unregistered versions
    current = lake.info(layout.PRODUCTION_MODEL) if lake.exists(layout.PRODUCTION_MODEL) else None
    pointer = {
        "version": version,
        "previous": production_version(lake) if current else None,
        "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "reason": reason,
        "metrics": metrics or {},
    }
    if current is None:
        lake.write_json(layout.PRODUCTION_MODEL, pointer, if_none_match=True)
    else:
        lake.write_json(layout.PRODUCTION_MODEL, pointer, if_match=current.etag)
    _refresh_models_table(lake)


def _refresh_models_table(lake: Lake) -> None:
    """Keep the analysts' ``models`` table in step with the registry."""
    from pipeline.tables import refresh_models_table

    refresh_models_table(lake)


def rollback(lake: Lake) -> str:
    """Point production back at the version the current one replaced; returns it."""
    if not lake.exists(layout.PRODUCTION_MODEL):
        raise ModelRegistryError("no production model to roll back")
    pointer = lake.read_json(layout.PRODUCTION_MODEL)
    previous = pointer.get("previous")
    if not previous:
        raise ModelRegistryError(
            f"production {pointer['version']} replaced no earlier version: nothing to roll back to"
        )
    promote(lake, previous, reason=f"rollback from {pointer['version']}")
    return previous


def _initial_config(image_size: int) -> dict[str, Any]:
    from pipeline.model import DEFAULT_BACKBONE, DEFAULT_EMBEDDING_DIM
    from pipeline.taxonomy import load_taxonomy

    return {
        "attributes": load_taxonomy().vocabularies(),
        "image_size": image_size,
        "backbone": DEFAULT_BACKBONE,
        "embedding_dim": DEFAULT_EMBEDDING_DIM,
        "seed": INITIAL_SEED,
    }


def ensure_production_model(lake: Lake, image_size: int = Settings.image_size) -> str:
    """The production version; registers and promotes an initial (untrained, seeded) model of
    ``image_size`` pixels (adapters pass ``VITRINE_IMAGE_SIZE``) when the lake has none yet. Safe to call concurrently: the version name is derived from
    the configuration, and the first promotion wins."""
    current = production_version(lake)
    if current:
        return current
    from pipeline.model import build_model

    config = _initial_config(image_size)
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]
    version = f"initial-{digest}"
    if not exists(lake, version):
        model = build_model(
            config["attributes"],
            config["image_size"],
            backbone=config["backbone"],
            embedding_dim=config["embedding_dim"],
            seed=config["seed"],
        )
        register_model(
            lake,
            model,
            attributes=config["attributes"],
            image_size=config["image_size"],
            backbone=config["backbone"],
            extra={"trained": False, "seed": config["seed"]},
            version=version,
        )
    try:
        promote(lake, version, reason="initial untrained model (no production model existed)")
    except PreconditionFailed:
        pass  # another process promoted first: theirs is production
    return production_version(lake) or version


def _cached_file(lake: Lake, version: str, metadata: dict[str, Any], cache_dir: Path) -> Path:
    """The model file under ``cache_dir``, downloaded and checksum-verified when missing."""
    expected = metadata.get("files", {}).get(MODEL_FILE, {}).get("sha256")
    path = cache_dir / "models" / version / MODEL_FILE
    if path.exists() and (expected is None or _sha256(path) == expected):
        return path
    tmp = path.with_name(f".{MODEL_FILE}.{secrets.token_hex(4)}.tmp")
    lake.get_file(f"{layout.model_prefix(version)}/{MODEL_FILE}", tmp)
    if expected and _sha256(tmp) != expected:
        tmp.unlink()
        raise ModelRegistryError(f"model {version}: {MODEL_FILE} does not match its sha256 in {METADATA_FILE}")
    tmp.replace(path)
    return path


def _sha256(path: Path) -> str:
    from pipeline.lake import sha256_file

    return sha256_file(path)


def load_model(lake: Lake, version: str, cache_dir: Path | None = None) -> LoadedModel:
    """Load a registered version, kept in this process. ``cache_dir`` (the settings' cache
    folder, passed by an adapter) keeps the model file for later processes; None: a temporary
    copy, removed once loaded."""
    key = (lake.root, version)
    if key in _LOADED:
        return _LOADED[key]
    import keras

    metadata = read_metadata(lake, version)
    if cache_dir is None:
        with tempfile.TemporaryDirectory(prefix="vitrine-model-") as tmp:
            model = keras.models.load_model(_cached_file(lake, version, metadata, Path(tmp)), compile=False)
    else:
        model = keras.models.load_model(_cached_file(lake, version, metadata, cache_dir), compile=False)
    loaded = LoadedModel(
        version=version,
        image_size=int(metadata["image_size"]),
        attributes={k: list(v) for k, v in metadata["attributes"].items()},
        embedding_dim=int(metadata["embedding_dim"]),
        backbone=metadata.get("backbone", ""),
        keras_model=model,
        metadata=metadata,
    )
    _LOADED[key] = loaded
    return loaded
