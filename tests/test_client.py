"""The consumer client on a published release: verified download, queries, the CLI."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from pipeline import client, layout
from pipeline.client import CorruptReleaseError, Release, ReleaseError
from pipeline.index import build_index
from pipeline.publish import publish_release
from tests.support.serve import attributes_uri, embed_all, garment_png, tiny_model, write_catalog

MODEL = tiny_model()


def _publish(lake, run_id: str = "run-1", kind: str = "annoy") -> str:
    items_uri = write_catalog(lake, range(15))
    embed_all(lake, items_uri, MODEL)
    index_uri = build_index(lake, items_uri, MODEL.version, run_id, recall_target=0.95, kind=kind)
    return publish_release(lake, attributes_uri(lake), index_uri, MODEL.version, run_id, retention=5)


def test_queries_return_items_with_offers_and_attributes(lake, tmp_path):
    release_id = _publish(lake)
    release = Release.latest(lake, cache_dir=tmp_path)
    assert release.release_id == release_id and len(release) == 15
    assert (tmp_path / "index.ann").exists() is False  # cached under lake hash / release id
    assert (release.directory / "index.ann").is_file()

    results = release.similar("item-0003", k=5)
    assert len(results) == 5 and "item-0003" not in [r["item_id"] for r in results]
    first = results[0]
    assert set(first) >= {"item_id", "title", "image_key", "offers", "attributes", "distance"}
    assert first["offers"][0]["retailer"] == "acme" and first["attributes"]["category"]["value"]
    assert [r["distance"] for r in results] == sorted(r["distance"] for r in results)

    # the photo of an item finds that item first, at distance ~0
    photo = tmp_path / "query.png"
    photo.write_bytes(garment_png(9))
    by_image = release.similar_to_image(photo, k=3)  # the release's model, from the registry
    assert by_image[0]["item_id"] == "item-0009" and by_image[0]["distance"] < 1e-3

    stored_vector = release.index.vectors()[release._id_of("item-0004")]
    assert release.similar_to_vector(stored_vector, k=1)[0]["item_id"] == "item-0004"
    with pytest.raises(ValueError, match="dimension"):
        release.similar_to_vector([1.0, 0.0], k=1)
    with pytest.raises(KeyError, match="nope"):
        release.similar("nope")


def test_a_release_with_another_index_kind_is_queried_through_the_same_seam(memory_lake, tmp_path):
    """The exact (brute force) kind publishes and answers like Annoy: same neighbours on a
    15-item catalog, where Annoy's tuned search is exhaustive."""
    annoy = Release.load(memory_lake, _publish(memory_lake, "run-a"), cache_dir=tmp_path)
    exact_id = _publish(memory_lake, "run-e", kind="exact")
    exact = Release.load(memory_lake, exact_id, cache_dir=tmp_path)
    assert exact.manifest["index"] == {"kind": "exact", "params": {"metric": "angular"}}
    assert set(exact.manifest["files"]) == {"index.npy", "items.parquet", "attributes.parquet"}
    assert annoy.manifest["index"]["kind"] == "annoy" and "index.ann" in annoy.manifest["files"]
    for item in ("item-0002", "item-0011"):
        got = [(r["item_id"], r["distance"]) for r in exact.similar(item, k=4)]
        want = [(r["item_id"], r["distance"]) for r in annoy.similar(item, k=4)]
        assert [i for i, _ in got] == [i for i, _ in want]
        assert [d for _, d in got] == pytest.approx([d for _, d in want], abs=1e-4)


def test_corrupted_file_in_s3_is_detected(s3_lake, tmp_path):
    release_id = _publish(s3_lake)
    key = f"{layout.release_prefix(release_id)}/items.parquet"
    data = bytearray(s3_lake.read_bytes(key))
    data[len(data) // 2] ^= 0xFF  # same size, one flipped byte
    s3_lake.write_bytes(key, bytes(data))

    with pytest.raises(CorruptReleaseError, match="items.parquet is corrupt"):
        Release.latest(s3_lake, cache_dir=tmp_path)
    assert not list(tmp_path.rglob("items.parquet*"))  # nothing corrupt left in the cache


def test_missing_release_is_a_clear_error(lake, tmp_path):
    with pytest.raises(ReleaseError, match="no release published yet"):
        Release.latest(lake, cache_dir=tmp_path)
    with pytest.raises(ReleaseError, match="not found"):
        Release.load(lake, "20990101T000000.000000Z-deadbeef", cache_dir=tmp_path)


def test_cli_release_show_and_query(lake, monkeypatch, capsys):
    release_id = _publish(lake)
    parser = argparse.ArgumentParser(prog="vitrine")
    client.add_cli(parser.add_subparsers(dest="command", required=True))

    args = parser.parse_args(["release", "show", "--lake", lake.root])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert f"release {release_id}  (latest)" in out and "index.ann" in out and "recall@10" in out

    args = parser.parse_args(["query", "--item", "item-0002", "-k", "3", "--lake", lake.root, "--json"])
    assert args.func(args) == 0
    answer = json.load(io.StringIO(capsys.readouterr().out))
    assert answer["release_id"] == release_id and len(answer["results"]) == 3
    assert answer["query"]["item_id"] == "item-0002"

    args = parser.parse_args(["query", "--item", "item-0002", "-k", "2", "--lake", lake.root])
    assert args.func(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"release {release_id}; query: ") and lines[2].lstrip().startswith("1. ")
