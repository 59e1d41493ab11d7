"""What a lake backend is: the protocol every scheme implements, and the errors it raises.

Modelled on Scrapy's ``FilesStoreProtocol``: a backend knows how to store bytes under keys
(lake-relative POSIX paths) and nothing else; :class:`pipeline.lake.Lake` adds addressing and
the JSON / Parquet / table helpers on top. ``tests/test_lake.py`` is the contract suite every
backend passes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class LakeError(RuntimeError):
    """A lake operation failed in a way the caller should report, not retry blindly."""


class PreconditionFailed(LakeError):
    """A conditional write lost a race: the object changed since it was read."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    modified: float = 0.0  # last write, seconds since the epoch (0: unknown)


class Backend(Protocol):
    """Object storage under one root URI. Keys never start with ``/``."""

    #: True when every call is a network round trip (callers keep more requests in flight).
    latency_bound: bool

    def exists(self, key: str) -> bool: ...

    def info(self, key: str) -> ObjectInfo:
        """Size and an opaque version tag; FileNotFoundError when the key is absent."""
        ...

    def read(self, key: str) -> bytes:
        """The object's bytes; FileNotFoundError when the key is absent."""
        ...

    def write(self, key: str, data: bytes, *, content_type: str, if_match: str | None, if_none_match: bool) -> None:
        """Write atomically; with ``if_match`` / ``if_none_match`` raise PreconditionFailed on a lost race."""
        ...

    def put(self, key: str, local: Path, content_type: str) -> None:
        """Upload a local file (atomically: readers see the old object or the whole new one)."""
        ...

    def get(self, key: str, local: Path) -> None:
        """Download a key to a local path; FileNotFoundError when the key is absent."""
        ...

    def iter_keys(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix`` (any order; hidden temporary objects excluded)."""
        ...

    def delete(self, key: str) -> None:
        """Remove a key; no error when it is absent."""
        ...

    def delete_many(self, keys: Iterable[str]) -> None: ...

    def local_path(self, key: str) -> Path | None:
        """A filesystem path holding the key's bytes, or None when the backend is not local."""
        ...
