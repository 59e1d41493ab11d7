"""The lake: one storage layer for every stage, over a backend chosen by URI scheme.

Keys are lake-relative POSIX paths (``tables/products/retailer=acme/part-0.parquet``).
:class:`Lake` does addressing and the JSON / Parquet / table helpers; the bytes go through a
:class:`~pipeline.backends.base.Backend` looked up in :data:`SCHEMES` (as Scrapy's
``FilesPipeline.STORE_SCHEMES``). A new scheme is one backend module and one line here.
"""

from __future__ import annotations

import argparse
import builtins
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.backends.base import Backend, LakeError, ObjectInfo, PreconditionFailed
from pipeline.backends.file import FileBackend
from pipeline.backends.memory import MemoryBackend
from pipeline.backends.s3 import S3Backend

__all__ = ["SCHEMES", "Backend", "Lake", "LakeError", "ObjectInfo", "PreconditionFailed", "open_lake"]

#: URI scheme -> backend class (constructed with the lake's root URI).
SCHEMES: dict[str, Callable[[str], Backend]] = {"file": FileBackend, "s3": S3Backend, "memory": MemoryBackend}


class Lake:
    """A lake rooted at a URI; all paths below it are keys."""

    def __init__(self, root: str):
        scheme = urlparse(root).scheme
        if scheme not in SCHEMES:
            known = ", ".join(f"{s}://" for s in SCHEMES)
            raise LakeError(f"unsupported lake URI {root!r}: use one of {known}")
        self.root = root.rstrip("/")
        self.backend: Backend = SCHEMES[scheme](self.root)

    # -- addressing ---------------------------------------------------------------
    def uri(self, key: str) -> str:
        return f"{self.root}/{key.lstrip('/')}"

    def key_of(self, uri: str) -> str:
        """The key of a full URI inside this lake (inverse of :meth:`uri`)."""
        if not uri.startswith(self.root + "/"):
            raise LakeError(f"{uri!r} is not inside lake {self.root!r}")
        return uri[len(self.root) + 1 :]

    # -- capabilities ----------------------------------------------------------------
    def local_path(self, key: str) -> Path | None:
        """A filesystem path holding the key's bytes, or None when the backend is not local."""
        return self.backend.local_path(key)

    @property
    def latency_bound(self) -> bool:
        """True when every read is a network round trip (keep many in flight)."""
        return self.backend.latency_bound

    # -- objects --------------------------------------------------------------------
    def exists(self, key: str) -> bool:
        return self.backend.exists(key)

    def info(self, key: str) -> ObjectInfo:
        """Size and an opaque version tag (S3 ETag, or inode+mtime+size for files)."""
        return self.backend.info(key)

    def read_bytes(self, key: str) -> bytes:
        try:
            return self.backend.read(key)
        except FileNotFoundError as exc:
            raise FileNotFoundError(self.uri(key)) from exc

    def write_bytes(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> None:
        """Write atomically. ``if_match``/``if_none_match`` make it a conditional write."""
        self.backend.write(key, data, content_type=content_type, if_match=if_match, if_none_match=if_none_match)

    def put_file(self, key: str, local: Path, content_type: str = "application/octet-stream") -> None:
        """Upload a local file (multipart above 16 MiB on S3)."""
        self.backend.put(key, local, content_type)

    def get_file(self, key: str, local: Path) -> Path:
        """Download a key to a local path and return it."""
        local.parent.mkdir(parents=True, exist_ok=True)
        self.backend.get(key, local)
        return local

    def list(self, prefix: str = "") -> list[str]:
        """All keys under a prefix, sorted (hidden temp files excluded)."""
        return sorted(self.iter_keys(prefix))

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        return self.backend.iter_keys(prefix)

    def delete(self, key: str) -> None:
        self.backend.delete(key)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under a prefix; returns how many were deleted."""
        keys = self.list(prefix)
        self.backend.delete_many(keys)
        return len(keys)

    # -- typed helpers ------------------------------------------------------------
    def read_json(self, key: str) -> Any:
        data = self.read_bytes(key)
        try:
            return json.loads(data)
        except ValueError as exc:  # truncated or garbled: name the object, in one line
            raise LakeError(f"{self.uri(key)} is not valid JSON ({len(data)} bytes): {exc}") from None

    def write_json(self, key: str, obj: Any, **conditions: Any) -> None:
        data = json.dumps(obj, indent=2, sort_keys=True, default=str).encode()
        self.write_bytes(key, data, content_type="application/json", **conditions)

    def write_parquet(self, key: str, table: pa.Table, row_group_size: int | None = None) -> None:
        buf = io.BytesIO()
        pq.write_table(table, buf, row_group_size=row_group_size, compression="zstd")
        self.write_bytes(key, buf.getvalue(), content_type="application/vnd.apache.parquet")

    def read_parquet(self, key: str, columns: builtins.list[str] | None = None) -> pa.Table:
        local = self.local_path(key)
        if local is not None:
            return pq.read_table(local, columns=columns)
        return pq.read_table(io.BytesIO(self.read_bytes(key)), columns=columns)

    def iter_parquet_batches(
        self, key: str, columns: builtins.list[str] | None = None, batch_size: int = 8192
    ) -> Iterator[pa.RecordBatch]:
        """A Parquet file's rows in record batches: read as they go from a local file, from
        the downloaded bytes otherwise."""
        local = self.local_path(key)
        source: Any = local if local is not None else io.BytesIO(self.read_bytes(key))
        yield from pq.ParquetFile(source, memory_map=local is not None).iter_batches(
            batch_size=batch_size, columns=columns
        )

    def table_keys(self, prefix: str, partitions: dict[str, str] | None = None) -> Iterator[tuple[str, dict[str, str]]]:
        """(key, partition values) of each Parquet file of a Hive-partitioned table, in key
        order; ``partitions`` prunes by path (``{"retailer": "acme"}``)."""
        wanted = partitions or {}
        for key in self.list(prefix.rstrip("/") + "/"):
            if not key.endswith(".parquet"):
                continue
            values = dict(seg.split("=", 1) for seg in key[len(prefix) :].strip("/").split("/")[:-1] if "=" in seg)
            if any(values.get(k) != v for k, v in wanted.items()):
                continue
            yield key, values

    def read_table(
        self, prefix: str, *, partitions: dict[str, str] | None = None, columns: builtins.list[str] | None = None
    ) -> pa.Table | None:
        """Read a Hive-partitioned table (``prefix/k=v/.../*.parquet``), partition columns added.

        ``partitions`` prunes by path (``{"retailer": "acme"}``). Returns None if there are no files.
        """
        parts: list[pa.Table] = []
        for key, values in self.table_keys(prefix, partitions):
            table = self.read_parquet(key, columns=columns)
            for name, value in values.items():
                if name not in table.column_names and (columns is None or name in columns):
                    table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
            parts.append(table)
        if not parts:
            return None
        return pa.concat_tables(parts, promote_options="permissive")


def add_lake_option(parser: argparse.ArgumentParser) -> None:
    """``--lake URI``, the option of every command that reads the lake (``open_lake(args.lake)``)."""
    parser.add_argument("--lake", help="lake URI (default: $VITRINE_LAKE)")


def open_lake(root: str | None = None) -> Lake:
    """The configured lake (``VITRINE_LAKE``), or the one at ``root``."""
    if root is None:
        from pipeline.config import settings

        root = settings().lake
    return Lake(root)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
