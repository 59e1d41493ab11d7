"""Model registry in the lake: initial model, register/load round trip, promotion pointer."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import layout
from pipeline.model import build_model
from pipeline.registry import (
    ModelRegistryError,
    ensure_production_model,
    list_versions,
    load_model,
    production_version,
    promote,
    register_model,
)
from pipeline.taxonomy import CONTRACT_VOCABULARIES

VOCAB = {"category": ["a", "b", "c"], "color": ["red", "blue"]}


def _register(lake, seed: int = 0) -> str:
    model = build_model(VOCAB, 32, backbone="compact", embedding_dim=8, seed=seed)
    return register_model(lake, model, attributes=VOCAB, image_size=32, backbone="compact")


def test_ensure_production_model_registers_a_real_initial_model_once(lake) -> None:
    version = ensure_production_model(lake)
    assert production_version(lake) == version
    assert ensure_production_model(lake) == version
    assert list_versions(lake) == [version]
    model = load_model(lake, version)
    for name, values in CONTRACT_VOCABULARIES.items():
        assert model.attributes[name][: len(values)] == list(values)
    x = np.zeros((2, model.image_size, model.image_size, 3), "float32")
    out = model.keras_model(x, training=False)
    assert np.asarray(out["embedding"]).shape == (2, model.embedding_dim)
    meta = lake.read_json(f"{layout.model_prefix(version)}/metadata.json")
    assert meta["trained"] is False and meta["seed"]


def test_register_load_round_trip_and_promote(lake) -> None:
    first, second = _register(lake, 1), _register(lake, 2)
    assert list_versions(lake) == sorted([first, second])
    loaded = load_model(lake, second)
    assert (loaded.version, loaded.image_size, loaded.attributes, loaded.embedding_dim) == (second, 32, VOCAB, 8)
    assert production_version(lake) is None
    promote(lake, first)
    promote(lake, second, reason="better")
    pointer = lake.read_json(layout.PRODUCTION_MODEL)
    assert pointer["version"] == second and pointer["previous"] == first
    with pytest.raises(ModelRegistryError):
        promote(lake, "no-such-version")
    assert production_version(lake) == second


def test_corrupted_model_file_is_detected(lake, tmp_path) -> None:
    version = _register(lake)
    key = f"{layout.model_prefix(version)}/model.keras"
    lake.write_bytes(key, lake.read_bytes(key)[:-10] + b"0123456789")
    with pytest.raises(ModelRegistryError, match="sha256"):
        load_model(lake, version, cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.keras")), "a corrupted download is not kept"


def test_registry_on_s3(s3_lake) -> None:
    version = _register(s3_lake)
    promote(s3_lake, version)
    assert production_version(s3_lake) == version
    assert load_model(s3_lake, version).attributes == VOCAB
