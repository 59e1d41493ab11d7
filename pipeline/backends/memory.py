"""``memory://name/prefix`` lakes: objects in this process's memory, shared by every Lake with
the same name. For tests and throwaway runs; nothing survives the process."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlparse

from pipeline.backends.base import ObjectInfo, PreconditionFailed

_STORES: dict[str, dict[str, tuple[bytes, str]]] = {}
_LOCK = threading.Lock()
_VERSIONS = itertools.count(1)


class MemoryBackend:
    latency_bound = False

    def __init__(self, root: str):
        parsed = urlparse(root)
        self.root = root
        self.prefix = parsed.path.strip("/")
        with _LOCK:
            self._objects = _STORES.setdefault(parsed.netloc, {})

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _get(self, key: str) -> tuple[bytes, str]:
        try:
            return self._objects[self._key(key)]
        except KeyError:
            raise FileNotFoundError(f"{self.root}/{key}") from None

    def local_path(self, key: str) -> None:
        return None

    def exists(self, key: str) -> bool:
        return self._key(key) in self._objects

    def info(self, key: str) -> ObjectInfo:
        data, etag = self._get(key)
        return ObjectInfo(key, len(data), etag)

    def read(self, key: str) -> bytes:
        return self._get(key)[0]

    def write(self, key: str, data: bytes, *, content_type: str, if_match: str | None, if_none_match: bool) -> None:
        with _LOCK:
            current = self._objects.get(self._key(key))
            if (if_none_match and current is not None) or (if_match and (current is None or current[1] != if_match)):
                raise PreconditionFailed(f"{self.root}/{key} changed concurrently")
            self._objects[self._key(key)] = (bytes(data), f"v{next(_VERSIONS)}")

    def put(self, key: str, local: Path, content_type: str) -> None:
        self.write(key, Path(local).read_bytes(), content_type=content_type, if_match=None, if_none_match=False)

    def get(self, key: str, local: Path) -> None:
        data = self.read(key)
        with open(local, "wb") as fh:
            fh.write(data)

    def iter_keys(self, prefix: str) -> Iterator[str]:
        full, strip = self._key(prefix), len(self.prefix) + 1 if self.prefix else 0
        with _LOCK:
            keys = [k for k in self._objects if k.startswith(full)]
        return iter([k[strip:] for k in keys])

    def delete(self, key: str) -> None:
        with _LOCK:
            self._objects.pop(self._key(key), None)

    def delete_many(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.delete(key)
