"""Publishing releases on a file lake and on S3 (moto server on loopback, through boto3)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipeline import layout, schemas
from pipeline.client import Release
from pipeline.index import build_index
from pipeline.lake import Lake, sha256_bytes
from pipeline.publish import PublishError, _advance_latest, apply_retention, list_releases, publish_release
from tests.support.serve import attributes_uri, embed_all, tiny_model, write_catalog

MODEL = tiny_model()


class Crash(RuntimeError):
    pass


def _crash_after(n: int):
    uploaded: list[str] = []

    def hook(key: str) -> None:
        uploaded.append(key)
        if len(uploaded) >= n:
            raise Crash(f"simulated crash after {key}")

    return hook


def _publish(lake, run_id: str, n_items: int = 12, **kw) -> str:
    items_uri = write_catalog(lake, range(n_items))
    embed_all(lake, items_uri, MODEL)
    index_uri = build_index(lake, items_uri, MODEL.version, run_id, recall_target=0.95, kind="annoy")
    return publish_release(lake, attributes_uri(lake), index_uri, MODEL.version, run_id, retention=5, **kw)


def test_full_publish(any_lake, tmp_path):
    lake = any_lake
    release_id = _publish(lake, "scheduled__2026-01-01")
    prefix = layout.release_prefix(release_id)

    assert lake.read_json(layout.LATEST) == {"release_id": release_id, "manifest": f"{prefix}/manifest.json"}
    manifest = lake.read_json(f"{prefix}/manifest.json")
    assert manifest["index"] == {
        "kind": "annoy",
        "params": {"metric": manifest["metric"], "n_trees": manifest["n_trees"], "search_k": manifest["search_k"]},
    }
    for field in ("release_id", "created_at", "model_version", "n_items", "dim", "metric", "n_trees", "recall_at_10"):
        assert field in manifest
    assert manifest["n_items"] == 12 and manifest["dim"] == MODEL.embedding_dim
    assert manifest["created_at"].endswith("+00:00")
    assert sorted(manifest["files"]) == ["attributes.parquet", "index.ann", "items.parquet"]
    for name, meta in manifest["files"].items():
        data = lake.read_bytes(f"{prefix}/{name}")
        assert meta == {"sha256": sha256_bytes(data), "bytes": len(data)}

    attributes = Release.latest(lake, cache_dir=tmp_path / "cache").attributes
    assert attributes.column_names == ["item_id", "category", "category_confidence"]
    assert attributes.schema.field("category_confidence").type == pa.float32()

    row = lake.read_table(layout.table("releases")).to_pylist()
    assert len(row) == 1 and row[0]["release_id"] == release_id and row[0]["n_items"] == 12
    assert lake.list(layout.staging("scheduled__2026-01-01", "index") + "/") == []  # staging cleaned


def test_a_publish_under_the_same_run_key_replaces_the_release_row(lake):
    first = _publish(lake, "manual__1", run_key="catalog_refresh__20260101T000000Z")
    second = _publish(lake, "manual__2", run_key="catalog_refresh__20260101T000000Z")  # a re-run of that date
    third = _publish(lake, "manual__3", run_key="catalog_refresh__20260102T000000Z")
    rows = lake.read_table(layout.table("releases")).to_pylist()
    assert sorted((r["release_id"], r["run_id"]) for r in rows) == [(second, "manual__2"), (third, "manual__3")]
    assert list_releases(lake) == [first, second, third]  # the earlier release itself stays until retention


def test_crash_mid_publish_keeps_latest_and_retry_completes(any_lake, tmp_path):
    lake = any_lake
    first = _publish(lake, "run-1")

    with pytest.raises(Crash):
        _publish(lake, "run-2", n_items=14, after_upload=_crash_after(2))
    assert lake.read_json(layout.LATEST)["release_id"] == first
    assert len(Release.latest(lake, cache_dir=tmp_path / "c1")) == 12  # consumers still see run-1

    index_uri = lake.uri(layout.staging("run-2", "index"))
    second = publish_release(lake, attributes_uri(lake), index_uri, MODEL.version, "run-2", retention=5)
    assert second > first and lake.read_json(layout.LATEST)["release_id"] == second
    assert len(Release.latest(lake, cache_dir=tmp_path / "c2")) == 14
    assert list_releases(lake) == [first, second]
    # a retry after success finds the release complete (staging is gone) and changes nothing
    assert publish_release(lake, attributes_uri(lake), index_uri, MODEL.version, "run-2", retention=5) == second


def test_crash_before_manifest_verification_is_detected_and_repaired(lake):
    run = "run-x"
    with pytest.raises(Crash):
        _publish(lake, run, after_upload=_crash_after(4))  # all 3 files + manifest, then crash
    assert not lake.exists(layout.LATEST)
    release_id = list_releases(lake)[0]
    lake.write_bytes(f"{layout.release_prefix(release_id)}/items.parquet", b"garbage")
    with pytest.raises(PublishError, match="no complete index staged"):  # staging was never cleaned
        publish_release(lake, "unused", lake.uri("staging/nope/index"), MODEL.version, run, retention=5)
    index_uri = lake.uri(layout.staging(run, "index"))
    assert publish_release(lake, attributes_uri(lake), index_uri, MODEL.version, run, retention=5) == release_id
    assert lake.read_json(layout.LATEST)["release_id"] == release_id


def test_retention_keeps_n_and_never_the_latest(any_lake):
    lake = any_lake
    ids = [_publish(lake, f"run-{i}", n_items=6) for i in range(4)]
    assert list_releases(lake) == ids

    assert apply_retention(lake, 2) == ids[:2]
    assert list_releases(lake) == ids[2:]
    assert lake.read_json(layout.LATEST)["release_id"] == ids[3]

    # latest.json pointing at an older release (e.g. a rollback) protects it
    lake.write_json(layout.LATEST, {"release_id": ids[2], "manifest": f"{layout.release_prefix(ids[2])}/manifest.json"})
    assert apply_retention(lake, 1) == []
    assert list_releases(lake) == ids[2:]


def test_latest_only_moves_forward(lake):
    older = _publish(lake, "run-a")
    newer = _publish(lake, "run-b")
    # a late retry of the older run must not move latest.json back
    lake.delete(f"{layout.release_prefix(older)}/manifest.json")
    items_uri = write_catalog(lake, range(12))
    index_uri = build_index(lake, items_uri, MODEL.version, "run-a", recall_target=0.95, kind="annoy")
    assert publish_release(lake, attributes_uri(lake), index_uri, MODEL.version, "run-a", retention=5) == older
    assert lake.read_json(layout.LATEST)["release_id"] == newer


class _RacingLake(Lake):
    """A real lake where a competing publisher moves latest.json right after we read its ETag."""

    def __init__(self, root: str, competitor: str):
        super().__init__(root)
        self.competitor = competitor
        self.raced = False

    def info(self, key: str):
        result = super().info(key)
        if key == layout.LATEST and not self.raced:
            self.raced = True
            body = {
                "release_id": self.competitor,
                "manifest": f"{layout.release_prefix(self.competitor)}/manifest.json",
            }
            super().write_json(layout.LATEST, body)
        return result


def _complete_release(lake, release_id: str, sequence: int) -> dict:
    """A small complete release (one file) under ``release_id``; returns its manifest."""
    data = b"index bytes of " + release_id.encode()
    lake.write_bytes(f"{layout.release_prefix(release_id)}/index.ann", data)
    manifest = {
        "release_id": release_id,
        "sequence": sequence,
        "files": {"index.ann": {"sha256": sha256_bytes(data), "bytes": len(data)}},
    }
    lake.write_json(f"{layout.release_prefix(release_id)}/manifest.json", manifest)
    return manifest


@pytest.mark.parametrize(
    ("competitor", "we_win"), [("20990101T000000.000000Z-ffffffff", False), ("20000101T000000.000000Z-00000000", True)]
)
def test_concurrent_publishers_cannot_interleave_on_latest(any_lake, competitor, we_win):
    old = "19990101T000000.000000Z-00000000"
    _complete_release(any_lake, old, 1)
    _complete_release(any_lake, competitor, 2)  # claimed from the same base as ours
    ours = _complete_release(any_lake, "20500101T000000.000000Z-12345678", 2)
    any_lake.write_json(layout.LATEST, {"release_id": old, "manifest": f"{layout.release_prefix(old)}/manifest.json"})
    racing = _RacingLake(any_lake.root, competitor)
    assert _advance_latest(racing, ours) is we_win
    assert racing.raced
    assert any_lake.read_json(layout.LATEST)["release_id"] == (ours["release_id"] if we_win else competitor)


def test_large_release_files_go_multipart_and_verify(s3_lake, monkeypatch, tmp_path):
    import numpy as np

    from pipeline.backends import s3 as s3_backend
    from pipeline.embed import embedding_schema

    monkeypatch.setattr(s3_backend, "MULTIPART_THRESHOLD", 5 * 1024 * 1024)  # S3's minimum part size
    n, dim = 12_000, 128
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((50, dim))
    vectors = centres[rng.integers(0, 50, n)] + 0.5 * rng.standard_normal((n, dim))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    ids = [f"item-{i:05d}" for i in range(n)]
    shas = [f"{i:064x}" for i in range(n)]
    schemas.ITEMS.write(
        s3_lake,
        pa.table(
            {
                "item_id": ids,
                "group_id": ids,
                "canonical_sha256": shas,
                "image_key": [f"images/{s}.jpg" for s in shas],
                "title": ids,
            }
        ),
    )
    flat = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)
    s3_lake.write_parquet(
        schemas.EMBEDDINGS.part(model_version="big"),
        pa.Table.from_arrays([pa.array(ids), pa.array(shas), flat], schema=embedding_schema(dim)),
    )
    color = schemas.attributes_table(["color"])
    attributes = s3_lake.uri(
        color.write(
            s3_lake, [{"item_id": i, "color": "red", "color_confidence": 0.9} for i in ids[:5]], model_version="big"
        )
    )
    items_uri = s3_lake.uri(schemas.ITEMS.prefix())
    index_uri = build_index(s3_lake, items_uri, "big", "run-big", recall_target=0.95, kind="annoy")
    with pytest.raises(PublishError, match="no attributes table"):
        publish_release(s3_lake, s3_lake.uri("tables/attributes/none"), index_uri, "big", "run-big", retention=5)
    release_id = publish_release(s3_lake, attributes, index_uri, "big", "run-big", retention=5)

    key = f"{layout.release_prefix(release_id)}/index.ann"
    info = s3_lake.info(key)
    parts = -(-info.size // s3_backend.MULTIPART_THRESHOLD)  # the index's size follows the tuned tree count
    assert parts >= 2 and info.etag.strip('"').endswith(f"-{parts}")  # a multipart upload, one part per 5 MiB
    release = Release.latest(s3_lake, cache_dir=tmp_path)
    assert len(release) == n and release.attributes.num_rows == n  # untagged items: null attributes
    assert release.item("item-00003")["attributes"] == {"color": {"value": "red", "confidence": pytest.approx(0.9)}}
    assert release.item("item-00042")["attributes"] == {}
    assert release.similar("item-00042", k=3)[0]["item_id"] != "item-00042"
