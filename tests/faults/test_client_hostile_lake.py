"""The consumer client reads a lake it does not control: ids and file names from the lake
never take a path outside ``releases/`` or outside the cache, and a cached file is trusted by
its sha256, not by its size."""

from __future__ import annotations

import json
import os
import stat

import pytest

from pipeline import client, layout
from pipeline.client import CorruptReleaseError, Release, ReleaseError
from pipeline.index import build_index
from pipeline.lake import sha256_bytes
from pipeline.publish import publish_release
from tests.support.serve import attributes_uri, embed_all, tiny_model, write_catalog

MODEL = tiny_model()


def _publish(lake, run_id: str = "run-1") -> str:
    items_uri = write_catalog(lake, range(12))
    embed_all(lake, items_uri, MODEL)
    index_uri = build_index(lake, items_uri, MODEL.version, run_id, recall_target=0.95, kind="annoy")
    return publish_release(lake, attributes_uri(lake), index_uri, MODEL.version, run_id, retention=5)


@pytest.fixture(params=["file", "s3"])
def any_lake(request):
    return request.getfixturevalue("lake" if request.param == "file" else "s3_lake")


def _files_under(path):
    return sorted(p for p in path.rglob("*") if p.is_file())


def test_release_id_with_dot_dot_in_latest_json_is_refused(any_lake, tmp_path):
    lake = any_lake
    release_id = _publish(lake)
    # a complete release copied to "outside" (beside releases/), and latest.json aimed at it
    for name in ("manifest.json", "index.ann", "items.parquet", "attributes.parquet"):
        data = lake.read_bytes(f"{layout.release_prefix(release_id)}/{name}")
        if name == "manifest.json":
            data = json.dumps({**json.loads(data), "release_id": "../../outside"}).encode()
        lake.write_bytes(f"outside/{name}", data)
    lake.write_json(layout.LATEST, {"release_id": "../../outside", "manifest": "outside/manifest.json"})
    cache = tmp_path / "cache" / "releases"
    with pytest.raises(ReleaseError, match="not a plain name"):
        Release.latest(lake, cache_dir=cache)
    assert not (tmp_path / "cache").exists() or _files_under(tmp_path / "cache") == []
    with pytest.raises(ReleaseError, match="not a plain name"):
        Release.load(lake, "a/../../b", cache_dir=cache)


def test_manifest_file_name_with_dot_dot_writes_nothing_outside_the_cache(any_lake, tmp_path):
    lake = any_lake
    release_id = _publish(lake)
    manifest_key = f"{layout.release_prefix(release_id)}/manifest.json"
    manifest = lake.read_json(manifest_key)
    payload = b"#!/bin/sh\necho owned\n"
    name = "../../../escaped.sh"  # from the cache's release folder: three levels up, outside the cache
    if lake.local_path("") is not None:
        (tmp_path / "escaped.sh").write_bytes(payload)  # where releases/<id>/../../../ lands
    else:  # object stores keep the key literally
        lake.write_bytes(f"{layout.release_prefix(release_id)}/{name}", payload)
    manifest["files"][name] = {"sha256": sha256_bytes(payload), "bytes": len(payload)}
    lake.write_json(manifest_key, manifest)
    cache = tmp_path / "deep" / "er" / "cache"
    with pytest.raises(CorruptReleaseError, match="not a plain name"):
        Release.latest(lake, cache_dir=cache)
    assert not list((tmp_path / "deep").rglob("escaped.sh*"))


def test_truncated_latest_json_is_one_line_naming_the_file(lake, tmp_path):
    _publish(lake)
    data = lake.read_bytes(layout.LATEST)
    lake.write_bytes(layout.LATEST, data[: len(data) // 2])
    with pytest.raises(ReleaseError) as err:
        Release.latest(lake, cache_dir=tmp_path)
    message = str(err.value)
    assert "\n" not in message and lake.uri(layout.LATEST) in message and "not valid JSON" in message


def test_same_size_corruption_of_a_cached_index_is_caught_and_refetched(lake, tmp_path):
    _publish(lake)
    first = Release.latest(lake, cache_dir=tmp_path)
    expected = first.similar("item-0003", k=5)
    cached = first.directory / "index.ann"
    del first
    data = bytearray(cached.read_bytes())
    data[len(data) // 3 : len(data) // 3 + 64] = bytes(64)  # same size, zeroed vectors
    cached.write_bytes(bytes(data))
    client._verified.clear()  # a new process: nothing verified yet
    again = Release.latest(lake, cache_dir=tmp_path)
    assert again.similar("item-0003", k=5) == expected
    assert client.sha256_file(cached) == again.manifest["files"]["index.ann"]["sha256"]


def test_cache_files_are_not_world_writable_under_any_umask(lake, tmp_path):
    _publish(lake)
    old = os.umask(0)
    try:
        release = Release.latest(lake, cache_dir=tmp_path / "cache")
    finally:
        os.umask(old)
    for path in [release.directory, release.directory.parent, *_files_under(release.directory)]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert not mode & (stat.S_IWOTH | stat.S_IWGRP), (path, oct(mode))


def test_cli_reports_a_truncated_latest_json_in_one_line(lake, capsys):
    lake.write_bytes(layout.LATEST, b'{"release_id": "2026')
    from pipeline.cli import main

    assert main(["release", "show", "--lake", lake.root]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and lake.uri(layout.LATEST) in err and "not valid JSON" in err
