"""One small storage layer for ``file://`` and ``s3://`` lake URIs, used by every stage.

Keys are lake-relative POSIX paths (``tables/products/retailer=acme/part-0.parquet``).
Parquet goes through pyarrow; S3 goes through boto3 (the standard AWS chain, including
``AWS_ENDPOINT_URL``), or the Airflow ``aws_default`` connection when one is configured.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq

MULTIPART_THRESHOLD = 16 * 1024 * 1024


class LakeError(RuntimeError):
    """A lake operation failed in a way the caller should report, not retry blindly."""


class PreconditionFailed(LakeError):
    """A conditional write lost a race: the object changed since it was read."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str


def _s3_client() -> Any:
    """boto3 S3 client: Airflow's ``aws_default`` connection when set, else the AWS chain."""
    if os.environ.get("AIRFLOW_CONN_AWS_DEFAULT") or os.environ.get("AIRFLOW_CTX_DAG_ID"):
        try:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            return S3Hook(aws_conn_id="aws_default").get_conn()
        except Exception:  # connection not defined: fall back to the standard chain
            pass
    import boto3

    return boto3.client("s3")


class Lake:
    """A lake rooted at a URI; all paths below it are keys."""

    def __init__(self, root: str):
        parsed = urlparse(root)
        if parsed.scheme not in ("file", "s3"):
            raise LakeError(f"unsupported lake URI {root!r}: use file:///path or s3://bucket/prefix")
        self.root = root.rstrip("/")
        self.scheme = parsed.scheme
        if self.scheme == "file":
            self._base = Path(parsed.netloc + parsed.path if parsed.netloc else parsed.path)
            self._base.mkdir(parents=True, exist_ok=True)
        else:
            self.bucket = parsed.netloc
            self.prefix = parsed.path.strip("/")
            self._client: Any = None

    # -- addressing ---------------------------------------------------------------
    def uri(self, key: str) -> str:
        return f"{self.root}/{key.lstrip('/')}"

    def key_of(self, uri: str) -> str:
        """The key of a full URI inside this lake (inverse of :meth:`uri`)."""
        if not uri.startswith(self.root + "/"):
            raise LakeError(f"{uri!r} is not inside lake {self.root!r}")
        return uri[len(self.root) + 1 :]

    def local_path(self, key: str) -> Path:
        """Filesystem path of a key (file:// lakes only)."""
        if self.scheme != "file":
            raise LakeError("local_path() is only defined for file:// lakes")
        return self._base / key

    @property
    def s3(self) -> Any:
        if self._client is None:
            self._client = _s3_client()
        return self._client

    def _s3_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    # -- objects --------------------------------------------------------------------
    def exists(self, key: str) -> bool:
        if self.scheme == "file":
            return self.local_path(key).is_file()
        try:
            self.s3.head_object(Bucket=self.bucket, Key=self._s3_key(key))
            return True
        except self.s3.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def info(self, key: str) -> ObjectInfo:
        """Size and an opaque version tag (S3 ETag, or inode+mtime+size for files)."""
        if self.scheme == "file":
            st = self.local_path(key).stat()
            return ObjectInfo(key, st.st_size, f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}")
        head = self.s3.head_object(Bucket=self.bucket, Key=self._s3_key(key))
        return ObjectInfo(key, head["ContentLength"], head["ETag"])

    def read_bytes(self, key: str) -> bytes:
        if self.scheme == "file":
            try:
                return self.local_path(key).read_bytes()
            except FileNotFoundError as exc:
                raise FileNotFoundError(self.uri(key)) from exc
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=self._s3_key(key))["Body"].read()
        except self.s3.exceptions.NoSuchKey as exc:
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
        if self.scheme == "file":
            self._write_file_conditional(key, data, if_match, if_none_match)
            return
        extra: dict[str, str] = {}
        if if_match:
            extra["IfMatch"] = if_match
        if if_none_match:
            extra["IfNoneMatch"] = "*"
        try:
            self.s3.put_object(
                Bucket=self.bucket, Key=self._s3_key(key), Body=data, ContentType=content_type, **extra
            )
        except self.s3.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise PreconditionFailed(f"{self.uri(key)} changed concurrently") from exc
            raise

    def _write_file_conditional(
        self, key: str, data: bytes, if_match: str | None, if_none_match: bool
    ) -> None:
        path = self.local_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        os.fchmod(fd, 0o644)  # mkstemp creates 0600; lake files are meant to be shared
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if not (if_match or if_none_match):
            os.replace(tmp, path)
            return
        lock = path.with_name(f".{path.name}.lock")
        try:
            lock_fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError as exc:
            os.unlink(tmp)
            raise PreconditionFailed(f"{self.uri(key)} is being written concurrently") from exc
        try:
            current = self.info(key).etag if path.exists() else None
            if (if_none_match and current is not None) or (if_match and current != if_match):
                raise PreconditionFailed(f"{self.uri(key)} changed concurrently")
            os.replace(tmp, path)
        finally:
            os.close(lock_fd)
            os.unlink(lock)
            if os.path.exists(tmp):
                os.unlink(tmp)

    def put_file(self, key: str, local: Path, content_type: str = "application/octet-stream") -> None:
        """Upload a local file (multipart above 16 MiB on S3)."""
        if self.scheme == "file":
            dest = self.local_path(key)
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.tmp")
            shutil.copyfile(local, tmp)
            os.replace(tmp, dest)
            return
        from boto3.s3.transfer import TransferConfig

        cfg = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD)
        self.s3.upload_file(
            str(local), self.bucket, self._s3_key(key), ExtraArgs={"ContentType": content_type}, Config=cfg
        )

    def get_file(self, key: str, local: Path) -> Path:
        """Download a key to a local path and return it."""
        local.parent.mkdir(parents=True, exist_ok=True)
        if self.scheme == "file":
            shutil.copyfile(self.local_path(key), local)
        else:
            self.s3.download_file(self.bucket, self._s3_key(key), str(local))
        return local

    def list(self, prefix: str = "") -> list[str]:
        """All keys under a prefix, sorted (hidden temp files excluded)."""
        return sorted(self.iter_keys(prefix))

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        if self.scheme == "file":
            base = self.local_path(prefix) if prefix else self._base
            if base.is_file():
                yield prefix
                return
            if not base.exists():
                return
            for path in base.rglob("*"):
                if path.is_file() and not path.name.startswith("."):
                    yield path.relative_to(self._base).as_posix()
            return
        paginator = self.s3.get_paginator("list_objects_v2")
        full = self._s3_key(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            for obj in page.get("Contents", []):
                yield obj["Key"][strip:]

    def delete(self, key: str) -> None:
        if self.scheme == "file":
            self.local_path(key).unlink(missing_ok=True)
        else:
            self.s3.delete_object(Bucket=self.bucket, Key=self._s3_key(key))

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under a prefix; returns how many were deleted."""
        keys = self.list(prefix)
        if self.scheme == "file":
            for key in keys:
                self.delete(key)
            return len(keys)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": self._s3_key(k)} for k in keys[start : start + 1000]]
            self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
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

    def read_parquet(self, key: str, columns: list[str] | None = None) -> pa.Table:
        if self.scheme == "file":
            return pq.read_table(self.local_path(key), columns=columns)
        return pq.read_table(io.BytesIO(self.read_bytes(key)), columns=columns)

    def read_table(
        self, prefix: str, *, partitions: dict[str, str] | None = None, columns: list[str] | None = None
    ) -> pa.Table | None:
        """Read a Hive-partitioned table (``prefix/k=v/.../*.parquet``), partition columns added.

        ``partitions`` prunes by path (``{"retailer": "acme"}``). Returns None if there are no files.
        """
        wanted = partitions or {}
        parts: list[pa.Table] = []
        for key in self.list(prefix.rstrip("/") + "/"):
            if not key.endswith(".parquet"):
                continue
            values = dict(
                seg.split("=", 1) for seg in key[len(prefix) :].strip("/").split("/")[:-1] if "=" in seg
            )
            if any(values.get(k) != v for k, v in wanted.items()):
                continue
            table = self.read_parquet(key, columns=columns)
            for name, value in values.items():
                if name not in table.column_names and (columns is None or name in columns):
                    table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
            parts.append(table)
        if not parts:
            return None
        return pa.concat_tables(parts, promote_options="permissive")


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
