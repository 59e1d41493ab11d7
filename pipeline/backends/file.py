"""``file:///path`` lakes: a directory tree; atomic writes by rename, conditional writes by lock file."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlparse

from pipeline.backends.base import ObjectInfo, PreconditionFailed


class FileBackend:
    latency_bound = False

    def __init__(self, root: str):
        parsed = urlparse(root)
        self.root = root
        self.base = Path(parsed.netloc + parsed.path if parsed.netloc else parsed.path)
        self.base.mkdir(parents=True, exist_ok=True)

    def local_path(self, key: str) -> Path:
        return self.base / key

    def exists(self, key: str) -> bool:
        return self.local_path(key).is_file()

    def info(self, key: str) -> ObjectInfo:
        st = self.local_path(key).stat()
        return ObjectInfo(key, st.st_size, f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}", st.st_mtime)

    def read(self, key: str) -> bytes:
        return self.local_path(key).read_bytes()

    def write(self, key: str, data: bytes, *, content_type: str, if_match: str | None, if_none_match: bool) -> None:
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
            raise PreconditionFailed(f"{self.root}/{key} is being written concurrently") from exc
        try:
            current = self.info(key).etag if path.exists() else None
            if (if_none_match and current is not None) or (if_match and current != if_match):
                raise PreconditionFailed(f"{self.root}/{key} changed concurrently")
            os.replace(tmp, path)
        finally:
            os.close(lock_fd)
            os.unlink(lock)
            if os.path.exists(tmp):
                os.unlink(tmp)

    def put(self, key: str, local: Path, content_type: str) -> None:
        dest = self.local_path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        # a temp name of its own per writer: concurrent writers of one key each rename a whole copy
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
        try:
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as out, open(local, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
            os.replace(tmp, dest)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def get(self, key: str, local: Path) -> None:
        shutil.copyfile(self.local_path(key), local)

    def iter_keys(self, prefix: str) -> Iterator[str]:
        base = self.local_path(prefix) if prefix else self.base
        if base.is_file():
            yield prefix
            return
        if not base.exists():
            return
        for path in base.rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                yield path.relative_to(self.base).as_posix()

    def delete(self, key: str) -> None:
        self.local_path(key).unlink(missing_ok=True)

    def delete_many(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.delete(key)
