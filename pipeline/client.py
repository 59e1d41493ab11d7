"""The consumer library: load a published release (README, "The release") and query it.

    from pipeline.client import Release
    release = Release.latest(lake)             # or Release.load(lake, "20260101T000000Z-1a2b3c4d")
    release.similar("item-id", k=10)           # items like a catalog item (itself excluded)
    release.similar_to_vector(vector, k=10)    # nearest items to an embedding
    release.similar_to_image("photo.jpg", k=10)  # embeds with the release's model

Files are downloaded once into ``$VITRINE_HOME/cache/releases/`` and checked against the
manifest's sha256 before they are used (a mismatch raises ``CorruptReleaseError`` and nothing
corrupt stays in the cache); the index (:mod:`pipeline.ann`, the kind the manifest names) is
memory-mapped. Every result is a dict with
``item_id``, ``title``, ``image_key``, ``offers``, ``attributes`` ({name: {value,
confidence}}) and ``distance`` (angular: ``sqrt(2 - 2 cos)``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from pipeline import ann, layout
from pipeline.config import settings
from pipeline.lake import Lake, LakeError, add_lake_option, open_lake, sha256_file

log = logging.getLogger(__name__)


class ReleaseError(RuntimeError):
    """A release cannot be found or used."""


class CorruptReleaseError(ReleaseError):
    """A release file does not match the size or sha256 in its manifest."""


class Release:
    """One verified, locally cached release, ready to query."""

    def __init__(self, lake: Lake, manifest: dict, directory: Path):
        self.lake = lake
        self.manifest = manifest
        self.directory = directory
        entry = index_entry(manifest)
        self.index = ann.load(entry, directory / ann.kind_of(entry["kind"]).file_name, int(manifest["dim"]))
        self.items = pq.read_table(directory / layout.ITEMS_FILE)
        self.attributes = pq.read_table(directory / layout.ATTRIBUTES_FILE)
        if len(self.index) != self.items.num_rows:
            raise CorruptReleaseError(
                f"release {self.release_id}: index has {len(self.index)} items, "
                f"{layout.ITEMS_FILE} {self.items.num_rows}"
            )
        self._annoy_id = {item: i for i, item in enumerate(self.items.column("item_id").to_pylist())}
        self._attr_row = {item: i for i, item in enumerate(self.attributes.column("item_id").to_pylist())}
        self._attr_names = [
            c for c in self.attributes.column_names if f"{c}_confidence" in self.attributes.column_names
        ]
        self._model: Any = None

    # -- loading --------------------------------------------------------------------
    @classmethod
    def latest(cls, lake: Lake | None = None, cache_dir: Path | None = None) -> Release:
        """The release ``releases/latest.json`` points to."""
        lake = lake or open_lake()
        return cls.load(lake, latest_release_id(lake), cache_dir)

    @classmethod
    def load(cls, lake: Lake, release_id: str, cache_dir: Path | None = None) -> Release:
        """A release by id: downloaded (or taken from the cache) and verified."""
        release_id = _checked_name(release_id, "release id")
        prefix = layout.release_prefix(release_id)
        manifest_key = layout.manifest_key(release_id)
        if not lake.exists(manifest_key):
            raise ReleaseError(f"release {release_id} not found (no {lake.uri(manifest_key)})")
        try:
            manifest = lake.read_json(manifest_key)
        except LakeError as exc:
            raise CorruptReleaseError(str(exc)) from None
        files = _manifest_files(lake.uri(manifest_key), manifest, release_id)
        root = (cache_dir or settings().cache_dir / "releases").resolve()
        directory = _cache_directory(root, hashlib.sha256(lake.root.encode()).hexdigest()[:12], release_id)
        for name, expected in files.items():
            dest = (directory / name).resolve()
            if dest.parent != directory:  # a plain name cannot leave it; belt and braces
                raise CorruptReleaseError(f"{lake.uri(manifest_key)}: file {name!r} would leave the cache")
            _fetch_verified(lake, f"{prefix}/{name}", dest, expected)
        return cls(lake, manifest, directory)

    # -- properties -----------------------------------------------------------------
    @property
    def release_id(self) -> str:
        return self.manifest["release_id"]

    @property
    def model_version(self) -> str:
        return self.manifest["model_version"]

    def __len__(self) -> int:
        return self.items.num_rows

    # -- queries --------------------------------------------------------------------
    def item(self, item_id: str) -> dict:
        """One item of the release with its offers and attributes."""
        return self._result(self._id_of(item_id), None)

    def similar(self, item_id: str, k: int = 10) -> list[dict]:
        """The k items most similar to a catalog item, the item itself excluded."""
        return [self._result(i, d) for i, d in self.neighbours(item_id, k)]

    def similar_to_vector(self, vector: np.ndarray, k: int = 10) -> list[dict]:
        """The k items nearest to an embedding (normalized here)."""
        return [self._result(i, d) for i, d in self.neighbours_of_vector(vector, k)]

    def neighbours(self, item_id: str, k: int = 10) -> list[tuple[int, float]]:
        """``(annoy_id, distance)`` of the k items nearest a catalog item, itself excluded."""
        annoy_id = self._id_of(item_id)
        ids, dists = self.index.query_item(annoy_id, k + 1)
        return [(i, d) for i, d in zip(ids, dists) if i != annoy_id][:k]

    def neighbours_of_vector(self, vector: np.ndarray, k: int = 10) -> list[tuple[int, float]]:
        """``(annoy_id, distance)`` of the k items nearest an embedding (normalized here)."""
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self.index.dim:
            raise ValueError(f"vector has dimension {vector.shape[0]}, the release's index {self.index.dim}")
        vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        ids, dists = self.index.query_vector(vector, k)
        return list(zip(ids, dists))

    def similar_to_image(self, path: str | Path, k: int = 10, model: Any | None = None) -> list[dict]:
        """The k items most like a photo, embedded with the release's model.

        ``model`` defaults to ``pipeline.registry.load_model(lake, release.model_version)``.
        """
        from pipeline.imageio import decode_bytes

        model = model or self._release_model()
        if model.version != self.model_version:
            raise ValueError(
                f"release {self.release_id} was built with model {self.model_version}, not {model.version}"
            )
        pixels = decode_bytes(Path(path).read_bytes(), model.image_size).astype(np.float32)[None]
        embedding = model.keras_model(pixels, training=False)["embedding"]
        return self.similar_to_vector(np.asarray(embedding)[0], k)

    # -- helpers --------------------------------------------------------------------
    def _release_model(self) -> Any:
        if self._model is None:
            from pipeline.registry import load_model

            self._model = load_model(self.lake, self.model_version)
        return self._model

    def _id_of(self, item_id: str) -> int:
        try:
            return self._annoy_id[item_id]
        except KeyError:
            raise KeyError(f"item {item_id!r} is not in release {self.release_id}") from None

    def _result(self, annoy_id: int, distance: float | None) -> dict:
        row = self.items.slice(annoy_id, 1).to_pylist()[0]
        row["attributes"] = self._attributes_of(row["item_id"])
        if distance is not None:
            row["distance"] = round(float(distance), 6)
        return row

    def _attributes_of(self, item_id: str) -> dict:
        row = self._attr_row.get(item_id)
        if row is None:
            return {}
        values = self.attributes.slice(row, 1).to_pylist()[0]
        return {
            name: {"value": values[name], "confidence": values[f"{name}_confidence"]}
            for name in self._attr_names
            if values[name] is not None
        }


def latest_release_id(lake: Lake) -> str:
    """The release id ``releases/latest.json`` names, checked to be a plain name."""
    if not lake.exists(layout.LATEST):
        raise ReleaseError(f"no release published yet: {lake.uri(layout.LATEST)} does not exist")
    try:
        pointer = lake.read_json(layout.LATEST)
    except LakeError as exc:
        raise ReleaseError(str(exc)) from None
    if not isinstance(pointer, dict) or "release_id" not in pointer:
        raise ReleaseError(f"{lake.uri(layout.LATEST)} has no release_id: {str(pointer)[:200]!r}")
    return _checked_name(pointer["release_id"], f"{lake.uri(layout.LATEST)}: release id")


def _checked_name(value: Any, what: str) -> str:
    try:
        return layout.safe_name(value, what)
    except ValueError as exc:
        raise ReleaseError(str(exc)) from None


def _manifest_files(where: str, manifest: Any, release_id: str) -> dict[str, dict]:
    """The manifest's ``files`` after checking every name, size and digest is well-formed."""
    if not isinstance(manifest, dict) or manifest.get("release_id") != release_id:
        raise CorruptReleaseError(f"{where} is not the manifest of release {release_id}")
    try:
        index_file = ann.kind_of(index_entry(manifest)["kind"]).file_name
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptReleaseError(f"{where}: {exc}") from None
    files = manifest.get("files")
    needed = (index_file, layout.ITEMS_FILE, layout.ATTRIBUTES_FILE)
    if not isinstance(files, dict) or not set(needed) <= set(files):
        raise CorruptReleaseError(f"{where} does not list {', '.join(needed[:2])} and {needed[2]}")
    for name, expected in files.items():
        try:
            layout.safe_name(name, f"{where}: file name")
        except ValueError as exc:
            raise CorruptReleaseError(str(exc)) from None
        if not (
            isinstance(expected, dict)
            and isinstance(expected.get("bytes"), int)
            and isinstance(expected.get("sha256"), str)
            and len(expected["sha256"]) == 64
        ):
            raise CorruptReleaseError(f"{where}: file {name!r} has no valid size and sha256")
    return files


def index_entry(manifest: dict) -> dict[str, Any]:
    """The manifest's ``index`` entry; releases published before it existed are Annoy indexes
    described by the top-level ``metric``/``n_trees``/``search_k``."""
    entry = manifest.get("index")
    if entry is None:
        params = {
            "metric": manifest["metric"],
            "n_trees": manifest["n_trees"],
            "search_k": manifest.get("search_k", -1),
        }
        return {"kind": "annoy", "params": params}
    if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
        raise ValueError(f"index entry {str(entry)[:200]!r} has no kind")
    return entry


def _cache_directory(root: Path, *names: str) -> Path:
    """``root/names...``, made rwxr-xr-x whatever the umask (nobody else may write the cache)."""
    paths = [root]
    for name in names:
        paths.append(paths[-1] / name)
    for path in paths:
        path.mkdir(parents=True, exist_ok=True)
        if path.stat().st_uid == os.getuid():
            path.chmod(0o755)
    return paths[-1]


# cached files whose sha256 was checked in this process: path → (size, mtime_ns, inode)
_verified: dict[str, tuple[int, int, int]] = {}


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ino


def _fetch_verified(lake: Lake, key: str, dest: Path, expected: dict) -> None:
    """Make ``dest`` a verified copy of ``key``: a cached copy is re-hashed the first time this
    process uses it (a same-size corruption is caught) and fetched again on a mismatch."""
    if dest.is_file() and dest.stat().st_size == expected["bytes"]:
        if _verified.get(str(dest)) == _stamp(dest):
            return
        if sha256_file(dest) == expected["sha256"]:
            _verified[str(dest)] = _stamp(dest)
            return
        log.warning("cached %s does not match its sha256; fetching it again", dest)
    dest.unlink(missing_ok=True)
    part = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        lake.get_file(key, part)
        size, digest = part.stat().st_size, sha256_file(part)
        if size != expected["bytes"] or digest != expected["sha256"]:
            raise CorruptReleaseError(
                f"{lake.uri(key)} is corrupt: {size} bytes, sha256 {digest}; "
                f"manifest says {expected['bytes']} bytes, sha256 {expected['sha256']}"
            )
        part.chmod(0o644)  # whatever the umask: readable by all, writable only by us
        os.replace(part, dest)
        _verified[str(dest)] = _stamp(dest)
    finally:
        part.unlink(missing_ok=True)


# -- CLI ------------------------------------------------------------------------------
def _release(args: argparse.Namespace) -> Release:
    lake = open_lake(args.lake)
    return Release.load(lake, args.release) if args.release else Release.latest(lake)


def cmd_release_show(args: argparse.Namespace) -> int:
    lake = open_lake(args.lake)
    release = _release(args)
    latest = latest_release_id(lake) if lake.exists(layout.LATEST) else None
    m = release.manifest
    print(f"release {release.release_id}{'  (latest)' if release.release_id == latest else ''}")
    print(f"  location      {lake.uri(layout.release_prefix(release.release_id))}/")
    print(f"  created_at    {m['created_at']}")
    print(f"  model_version {m['model_version']}")
    print(f"  items         {m['n_items']}")
    entry = index_entry(m)
    params = ", ".join(f"{k} {v}" for k, v in sorted(entry["params"].items()))
    print(f"  index         {entry['kind']}: dim {m['dim']}, {params}, recall@10 {m['recall_at_10']}")
    print("  files (verified)")
    for name, f in sorted(m["files"].items()):
        print(f"    {name:<20} {f['bytes']:>12} bytes  sha256 {f['sha256']}")
    print(f"  cached at     {release.directory}")
    return 0


def _describe(result: dict) -> str:
    attrs = ", ".join(f"{k}={v['value']} ({v['confidence']:.2f})" for k, v in result["attributes"].items())
    offers = "; ".join(
        f"{o['retailer']} {o['price']:.2f} {o['currency']}" if o.get("price") is not None else o["retailer"]
        for o in result["offers"] or []
    )
    dist = f"{result['distance']:.4f}  " if "distance" in result else ""
    return f"{dist}{result['item_id']}  {result['title']!r}\n        [{attrs}]  offers: {offers or '-'}"


def cmd_query(args: argparse.Namespace) -> int:
    release = _release(args)
    if args.item:
        query = release.item(args.item)
        results = release.similar(args.item, args.k)
    else:
        query = {"image": str(args.image)}
        results = release.similar_to_image(args.image, args.k)
    if args.json:
        print(json.dumps({"release_id": release.release_id, "query": query, "results": results}, indent=2, default=str))
        return 0
    print(f"release {release.release_id}; query: " + (_describe(query) if args.item else str(args.image)))
    for rank, result in enumerate(results, 1):
        print(f"{rank:>3}. {_describe(result)}")
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """``vitrine release show`` and ``vitrine query``."""
    p = subparsers.add_parser("release", help="inspect published releases")
    sub = p.add_subparsers(dest="release_command", required=True, metavar="ACTION")
    show = sub.add_parser("show", help="show the latest (or a given) release, verified")
    add_lake_option(show)
    show.add_argument("--release", help="release id (default: latest)")
    show.set_defaults(func=cmd_release_show)

    q = subparsers.add_parser("query", help="similar items from the latest release")
    what = q.add_mutually_exclusive_group(required=True)
    what.add_argument("--item", help="item id of the release")
    what.add_argument("--image", type=Path, help="path of a photo")
    q.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    add_lake_option(q)
    q.add_argument("--release", help="release id (default: latest)")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=cmd_query)
