"""latest.json only ever points to a complete release (issue 18 §4): a pointer to a missing
release, to one from a publisher whose clock ran ahead, or a truncated latest.json is
repaired by the next publish (and said so); bad retention fails before anything moves."""

from __future__ import annotations

import json
import logging

import pytest

from pipeline import layout
from pipeline.client import Release
from pipeline.config import load_settings
from pipeline.index import build_index
from pipeline.publish import publish_release
from tests.support.serve import attributes_uri, embed_all, tiny_model, write_catalog

MODEL = tiny_model()


def _publish(lake, run_id: str) -> str:
    items_uri = write_catalog(lake, range(12))
    embed_all(lake, items_uri, MODEL)
    index_uri = build_index(lake, items_uri, MODEL.version, run_id, recall_target=0.95, kind="annoy")
    return publish_release(lake, attributes_uri(lake), index_uri, MODEL.version, run_id, retention=5)


def test_pointer_to_a_missing_newer_release_is_repaired(lake, tmp_path, caplog):
    _publish(lake, "run-1")
    ghost = "29990101T000000.000000Z-deadbeef"
    lake.write_json(layout.LATEST, {"release_id": ghost, "manifest": f"{layout.release_prefix(ghost)}/manifest.json"})
    with caplog.at_level(logging.WARNING, "pipeline.publish"):
        second = _publish(lake, "run-2")
    assert lake.read_json(layout.LATEST)["release_id"] == second
    assert "repairing" in caplog.text and ghost in caplog.text
    assert Release.latest(lake, cache_dir=tmp_path).release_id == second


def test_a_release_from_a_clock_that_ran_ahead_is_replaced_by_the_next_publish(lake, tmp_path):
    first = _publish(lake, "run-1")
    # a publisher whose clock is 900 years ahead published a complete release
    prefix = layout.release_prefix(first)
    ahead = "29260101T000000.000000Z-0000aaaa"
    for name in ("index.ann", "items.parquet", "attributes.parquet"):
        lake.write_bytes(f"{layout.release_prefix(ahead)}/{name}", lake.read_bytes(f"{prefix}/{name}"))
    manifest = {**lake.read_json(f"{prefix}/manifest.json"), "release_id": ahead, "sequence": 2}
    lake.write_json(f"{layout.release_prefix(ahead)}/manifest.json", manifest)
    lake.write_json(layout.LATEST, {"release_id": ahead, "manifest": f"{layout.release_prefix(ahead)}/manifest.json"})
    third = _publish(lake, "run-3")  # claimed after the clock-ahead release was current
    assert third < ahead and lake.read_json(layout.LATEST)["release_id"] == third


def test_truncated_latest_json_is_repaired(lake):
    _publish(lake, "run-1")
    data = lake.read_bytes(layout.LATEST)
    lake.write_bytes(layout.LATEST, data[:10])
    second = _publish(lake, "run-2")
    assert json.loads(lake.read_bytes(layout.LATEST))["release_id"] == second


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VITRINE_RELEASE_RETENTION": "0"}, "VITRINE_RELEASE_RETENTION"),
        ({"VITRINE_EMBED_BATCH_SIZE": "0"}, "VITRINE_EMBED_BATCH_SIZE"),
        ({"VITRINE_IMAGE_SIZE": "abc"}, "VITRINE_IMAGE_SIZE"),
        ({"VITRINE_DEDUP_MAX_DISTANCE": "-1"}, "VITRINE_DEDUP_MAX_DISTANCE"),
        ({"VITRINE_ANNOY_RECALL_TARGET": "1.5"}, "VITRINE_ANNOY_RECALL_TARGET"),
        ({"VITRINE_MAX_UNAVAILABLE_SHARE": "2"}, "VITRINE_MAX_UNAVAILABLE_SHARE"),
        ({"VITRINE_DECODE_MEMORY_MB": "0"}, "VITRINE_DECODE_MEMORY_MB"),
        ({"VITRINE_LAKE": "file:relative/lake"}, "VITRINE_LAKE"),
        ({"VITRINE_LAKE": "ftp://host/x"}, "VITRINE_LAKE"),
    ],
)
def test_bad_configuration_is_one_line_naming_the_variable(env, message):
    from pipeline.config import ConfigError

    with pytest.raises(ConfigError) as err:
        load_settings({"VITRINE_HOME": "/tmp/vitrine-config-test", **env})
    assert message in str(err.value) and "\n" not in str(err.value)
