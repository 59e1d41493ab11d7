"""Publish a release (README, "The release"): versioned prefix, verified files, ``latest.json`` last.

Order of writes, each step idempotent so that a retry of the same run completes the same
release: claim a release id for the run (stored in the run's staging) → upload the index
(``index.ann``), ``items.parquet``, ``attributes.parquet`` (files already uploaded intact by an
earlier attempt are kept) → ``manifest.json`` → re-read every file and check size and
sha256 → a ``releases`` table row → ``latest.json`` with a conditional write (compare-and-swap
on its ETag; it only ever moves forward to a newer release id) → retention. A crash at any
point before ``latest.json`` leaves consumers on the previous complete release.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import ann, layout, schemas
from pipeline.embed import load_table
from pipeline.lake import Lake, LakeError, PreconditionFailed, sha256_file

log = logging.getLogger(__name__)

CAS_ATTEMPTS = 10


class PublishError(RuntimeError):
    """A release could not be published (the message says which file or step)."""


def release_id_for(run_id: str, at: datetime) -> str:
    """Sortable release id: UTC timestamp (µs) + a short hash of the run id."""
    return f"{at.strftime('%Y%m%dT%H%M%S.%fZ')}-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"


def _claim_release(lake: Lake, run_id: str) -> dict:
    """The run's release id and creation time, fixed by the first attempt of the run."""
    key = f"{layout.staging(run_id, 'publish')}/release.json"
    if lake.exists(key):
        return lake.read_json(key)
    now = datetime.now(UTC)
    current = _current_release(lake)
    claim = {
        "release_id": release_id_for(run_id, now),
        "created_at": now.isoformat(),
        "run_id": run_id,
        "sequence": (current[1].get("sequence", 0) if current else 0) + 1,
    }
    try:
        lake.write_json(key, claim, if_none_match=True)
    except PreconditionFailed:  # a concurrent attempt of the same run claimed first
        return lake.read_json(key)
    return claim


def release_attributes(attributes: pa.Table, item_ids: pa.Array) -> pa.Table:
    """Contract attributes table for the release's items (in their order): item_id, A,
    A_confidence (float32); nulls for an item the tagger has no row for."""
    item_ids = item_ids.cast(pa.string())
    names = [c for c in attributes.column_names if f"{c}_confidence" in attributes.column_names]
    by_item = {item: row for row, item in enumerate(attributes.column("item_id").to_pylist())}
    rows = pa.array([by_item.get(item) for item in item_ids.to_pylist()], pa.int64())
    columns = {"item_id": item_ids}
    for name in names:
        columns[name] = attributes.column(name).cast(pa.string()).take(rows)
        columns[f"{name}_confidence"] = attributes.column(f"{name}_confidence").cast(pa.float32()).take(rows)
    return pa.table(columns)


def _local_sha(path: Path) -> dict:
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


def _remote_matches(lake: Lake, key: str, expected: dict, tmp: Path) -> bool:
    """Whether ``key`` exists with exactly the expected size and sha256 (re-read from the lake)."""
    if not lake.exists(key) or lake.info(key).size != expected["bytes"]:
        return False
    local = lake.get_file(key, tmp / f"verify-{Path(key).name}")
    try:
        return sha256_file(local) == expected["sha256"]
    finally:
        local.unlink(missing_ok=True)


def publish_release(
    lake: Lake,
    attributes_uri: str,
    index_uri: str,
    model_version: str,
    run_id: str,
    *,
    retention: int,
    after_upload: Callable[[str], None] | None = None,
    run_key: str | None = None,
) -> str:
    """Publish the staged index with its items and attributes; returns the release id. Then
    keep only the ``retention`` newest releases (:func:`apply_retention`).

    The release's row in the ``releases`` table is filed under ``run_key`` (default: the release
    id): a later publish with the same key, such as a re-run of a DAG's logical date, replaces that row.

    ``after_upload(key)`` is called after each release file is uploaded (tests use it to
    simulate a crash half-way).
    """
    if retention < 1:  # before anything moves
        raise PublishError(f"release retention must be at least 1, got {retention}")
    claim = _claim_release(lake, run_id)
    release_id = claim["release_id"]
    prefix = layout.release_prefix(release_id)
    manifest_key = layout.manifest_key(release_id)
    with tempfile.TemporaryDirectory(prefix="vitrine-publish-") as tmp_name:
        tmp = Path(tmp_name)
        if not (lake.exists(manifest_key) and _verify(lake, lake.read_json(manifest_key), tmp, quiet=True)):
            manifest = _stage_files(lake, attributes_uri, index_uri, model_version, claim, tmp)
            for name, expected in sorted(manifest["files"].items()):
                key = f"{prefix}/{name}"
                if _remote_matches(lake, key, expected, tmp):
                    log.info("%s already uploaded intact", lake.uri(key))
                    continue
                lake.put_file(key, tmp / name)
                if after_upload is not None:
                    after_upload(key)
            lake.write_json(manifest_key, manifest)
            if after_upload is not None:
                after_upload(manifest_key)
            _verify(lake, manifest, tmp, quiet=False)
        manifest = lake.read_json(manifest_key)
    _write_release_row(lake, manifest, run_key or release_id)
    moved = _advance_latest(lake, manifest)
    log.info(
        "release %s complete (%d items); latest.json %s",
        release_id,
        manifest["n_items"],
        "now points to it" if moved else "kept on a newer release",
    )
    apply_retention(lake, retention)
    lake.delete_prefix(lake.key_of(index_uri).rstrip("/") + "/")
    return release_id


def _stage_files(lake: Lake, attributes_uri: str, index_uri: str, model_version: str, claim: dict, tmp: Path) -> dict:
    """Download/derive the release files into ``tmp`` and return the manifest for them."""
    staged = lake.key_of(index_uri).rstrip("/")
    stats_key = f"{staged}/{layout.INDEX_STATS_FILE}"
    if not lake.exists(stats_key):
        raise PublishError(f"no complete index staged at {index_uri} (missing {layout.INDEX_STATS_FILE})")
    stats = lake.read_json(stats_key)
    if stats["model_version"] != model_version:
        raise PublishError(f"index at {index_uri} is for model {stats['model_version']}, not {model_version}")
    index_file = ann.kind_of(stats["index"]["kind"]).file_name
    names = (index_file, layout.ITEMS_FILE, layout.ATTRIBUTES_FILE)
    lake.get_file(f"{staged}/{index_file}", tmp / index_file)
    lake.get_file(f"{staged}/{layout.ITEMS_FILE}", tmp / layout.ITEMS_FILE)
    items = lake.read_parquet(f"{staged}/{layout.ITEMS_FILE}", columns=["item_id"])
    tagged = load_table(lake, attributes_uri)
    if tagged is None:
        raise PublishError(f"no attributes table at {attributes_uri}")
    attributes = release_attributes(tagged, items.column("item_id").combine_chunks())
    pq.write_table(attributes, tmp / layout.ATTRIBUTES_FILE, compression="zstd")
    return {
        "release_id": claim["release_id"],
        "created_at": claim["created_at"],
        "run_id": claim["run_id"],
        "sequence": claim.get("sequence", 0),
        "model_version": model_version,
        "n_items": stats["n_items"],
        "dim": stats["dim"],
        "metric": stats["metric"],
        "n_trees": stats["n_trees"],
        "search_k": stats["search_k"],
        "recall_at_10": stats["recall_at_10"],
        "index": stats["index"],
        "files": {name: _local_sha(tmp / name) for name in names},
    }


def _verify(lake: Lake, manifest: dict, tmp: Path, quiet: bool) -> bool:
    """Re-read every file of a release; False (quiet) or PublishError on any mismatch."""
    prefix = layout.release_prefix(manifest["release_id"])
    for name, expected in sorted(manifest["files"].items()):
        if not _remote_matches(lake, f"{prefix}/{name}", expected, tmp):
            if quiet:
                return False
            raise PublishError(f"verification failed for {lake.uri(prefix + '/' + name)}: size or sha256 differs")
    return True


def _write_release_row(lake: Lake, manifest: dict, run_key: str) -> None:
    row = {
        **{
            k: manifest[k]
            for k in ("run_id", "model_version", "n_items", "dim", "metric", "n_trees", "search_k", "recall_at_10")
        },
        "created_at": datetime.fromisoformat(manifest["created_at"]),
        "bytes": sum(f["bytes"] for f in manifest["files"].values()),
        "manifest": layout.manifest_key(manifest["release_id"]),
    }
    schemas.RELEASES.write(lake, [{**row, "release_id": manifest["release_id"]}], part=run_key)


def _current_release(lake: Lake) -> tuple[str, dict] | None:
    """(release id, manifest) of the release ``latest.json`` points to, or None when there is
    none or it is not a complete release (missing, unreadable, a file gone or the wrong size)."""
    return _pointer_target(lake)[0]


def _pointer_target(lake: Lake) -> tuple[tuple[str, dict] | None, str]:
    if not lake.exists(layout.LATEST):
        return None, "no latest.json"
    try:
        release_id = layout.safe_name(lake.read_json(layout.LATEST).get("release_id"), "release id")
        manifest = lake.read_json(layout.manifest_key(release_id))
    except (LakeError, ValueError, AttributeError, FileNotFoundError) as exc:
        return None, str(exc)
    if not isinstance(manifest, dict) or manifest.get("release_id") != release_id:
        return None, f"{lake.uri(layout.manifest_key(release_id))} is not the manifest of {release_id}"
    for name, expected in (manifest.get("files") or {}).items():
        key = f"{layout.release_prefix(release_id)}/{name}"
        if not lake.exists(key) or lake.info(key).size != expected.get("bytes"):
            return None, f"{lake.uri(key)} is missing or not {expected.get('bytes')} bytes"
    return (release_id, manifest), ""


def _order(manifest: dict) -> tuple[int, str]:
    """Newer releases sort later: by publish sequence (claimed as one more than the release
    that was current), then by id (its claim time) between concurrent publishers."""
    return int(manifest.get("sequence", 0)), manifest["release_id"]


def _advance_latest(lake: Lake, manifest: dict) -> bool:
    """Point latest.json at this verified release unless it points to a newer complete one
    (CAS loop). A pointer to a missing or incomplete release is repaired, with a warning."""
    release_id = manifest["release_id"]
    body = {"release_id": release_id, "manifest": layout.manifest_key(release_id)}
    for _ in range(CAS_ATTEMPTS):
        try:
            if not lake.exists(layout.LATEST):
                lake.write_json(layout.LATEST, body, if_none_match=True)
                return True
            etag = lake.info(layout.LATEST).etag
            current, why = _pointer_target(lake)
            if current is None:
                log.warning(
                    "%s does not point to a complete release (%s); repairing it to point to %s",
                    lake.uri(layout.LATEST),
                    why,
                    release_id,
                )
            elif _order(current[1]) >= _order(manifest):
                return current[0] == release_id
            lake.write_json(layout.LATEST, body, if_match=etag)
            return True
        except (PreconditionFailed, FileNotFoundError):
            log.info("latest.json changed concurrently; re-reading")
    raise PublishError(f"could not update {lake.uri(layout.LATEST)} after {CAS_ATTEMPTS} attempts")


def list_releases(lake: Lake) -> list[str]:
    """Release ids present in the lake (complete or not), oldest first."""
    ids = {key.split("/")[1] for key in lake.iter_keys(f"{layout.RELEASES}/") if key.count("/") >= 2}
    return sorted(ids)


def apply_retention(lake: Lake, keep: int) -> list[str]:
    """Delete all but the ``keep`` newest complete releases; never the latest or newer ones."""
    if keep < 1:
        raise ValueError(f"release retention must be ≥ 1, got {keep}")
    if not lake.exists(layout.LATEST):
        return []
    latest = lake.read_json(layout.LATEST)["release_id"]
    releases = list_releases(lake)
    complete = [r for r in releases if lake.exists(layout.manifest_key(r))]
    kept = set(complete[-keep:]) | {latest} | {r for r in releases if r > latest}
    doomed = [r for r in releases if r not in kept]
    for release_id in doomed:
        lake.delete_prefix(layout.release_prefix(release_id) + "/")
        log.info("retention: deleted release %s", release_id)
    return doomed
