"""``s3://bucket/prefix`` lakes through boto3: the standard AWS chain (including
``AWS_ENDPOINT_URL``), or the Airflow ``aws_default`` connection when one is configured."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pipeline.backends.base import ObjectInfo, PreconditionFailed

MULTIPART_THRESHOLD = 16 * 1024 * 1024
_MISSING = ("404", "NoSuchKey", "NotFound")


MAX_ATTEMPTS = 10  # botocore's default is 3: a burst of 5xx/SlowDown would fail a task
BODY_READ_ATTEMPTS = 5


def client_config() -> Any:
    """botocore retries: standard mode (exponential backoff with jitter, throttling and 5xx
    retried) with :data:`MAX_ATTEMPTS`, unless ``AWS_RETRY_MODE``/``AWS_MAX_ATTEMPTS`` say otherwise."""
    from botocore.config import Config

    return Config(
        retries={
            "mode": os.environ.get("AWS_RETRY_MODE", "standard"),
            "max_attempts": int(os.environ.get("AWS_MAX_ATTEMPTS", MAX_ATTEMPTS)),
        }
    )


def s3_client() -> Any:
    """boto3 S3 client: Airflow's ``aws_default`` connection when set, else the AWS chain."""
    if os.environ.get("AIRFLOW_CONN_AWS_DEFAULT") or os.environ.get("AIRFLOW_CTX_DAG_ID"):
        try:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            return S3Hook(aws_conn_id="aws_default", config=client_config()).get_conn()
        except Exception:  # connection not defined: fall back to the standard chain
            pass
    import boto3

    return boto3.client("s3", config=client_config())


def _body_errors() -> tuple[type[Exception], ...]:
    """What a GET whose body broke off raises (botocore retries the request, not the read)."""
    from botocore.exceptions import ConnectionClosedError, IncompleteReadError, ReadTimeoutError, ResponseStreamingError

    return ResponseStreamingError, IncompleteReadError, ReadTimeoutError, ConnectionClosedError


class S3Backend:
    latency_bound = True

    def __init__(self, root: str):
        parsed = urlparse(root)
        self.root = root
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self._client: Any = None

    @property
    def s3(self) -> Any:
        if self._client is None:
            self._client = s3_client()
        return self._client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _missing(self, exc: Exception) -> bool:
        return isinstance(exc, self.s3.exceptions.ClientError) and exc.response["Error"]["Code"] in _MISSING

    def local_path(self, key: str) -> None:
        return None

    def exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except self.s3.exceptions.ClientError as exc:
            if self._missing(exc):
                return False
            raise

    def info(self, key: str) -> ObjectInfo:
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=self._key(key))
        except self.s3.exceptions.ClientError as exc:
            if self._missing(exc):
                raise FileNotFoundError(f"{self.root}/{key}") from exc
            raise
        return ObjectInfo(key, head["ContentLength"], head["ETag"], head["LastModified"].timestamp())

    def read(self, key: str) -> bytes:
        """The object's bytes; a body that breaks off (or comes short of its length) is read again."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._read_once(key)
            except _body_errors() as exc:
                if attempt >= BODY_READ_ATTEMPTS:
                    raise OSError(f"{self.root}/{key}: body read failed {attempt} times: {exc}") from exc
                time.sleep(min(2.0, 0.1 * 2**attempt))

    def _read_once(self, key: str) -> bytes:
        try:
            reply = self.s3.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.s3.exceptions.NoSuchKey as exc:
            raise FileNotFoundError(f"{self.root}/{key}") from exc
        data = reply["Body"].read()
        if len(data) != reply["ContentLength"]:
            from botocore.exceptions import IncompleteReadError

            raise IncompleteReadError(actual_bytes=len(data), expected_bytes=reply["ContentLength"])
        return data

    def write(self, key: str, data: bytes, *, content_type: str, if_match: str | None, if_none_match: bool) -> None:
        extra: dict[str, str] = {}
        if if_match:
            extra["IfMatch"] = if_match
        if if_none_match:
            extra["IfNoneMatch"] = "*"
        try:
            self.s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type, **extra)
        except self.s3.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise PreconditionFailed(f"{self.root}/{key} changed concurrently") from exc
            raise

    def put(self, key: str, local: Path, content_type: str) -> None:
        """Upload (multipart above :data:`MULTIPART_THRESHOLD`)."""
        from boto3.s3.transfer import TransferConfig

        cfg = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD)
        self.s3.upload_file(
            str(local), self.bucket, self._key(key), ExtraArgs={"ContentType": content_type}, Config=cfg
        )

    def get(self, key: str, local: Path) -> None:
        try:
            self.s3.download_file(self.bucket, self._key(key), str(local))
        except self.s3.exceptions.ClientError as exc:
            if self._missing(exc):
                raise FileNotFoundError(f"{self.root}/{key}") from exc
            raise

    def iter_keys(self, prefix: str) -> Iterator[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        strip = len(self.prefix) + 1 if self.prefix else 0
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            for obj in page.get("Contents", []):
                yield obj["Key"][strip:]

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self._key(key))

    def delete_many(self, keys: Iterable[str]) -> None:
        batch: list[dict[str, str]] = []
        for key in keys:
            batch.append({"Key": self._key(key)})
            if len(batch) == 1000:
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                batch = []
        if batch:
            self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
