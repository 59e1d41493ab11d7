"""Read a PyTorch state dict in the legacy (non-zip) ``torch.save`` format without PyTorch.

The file is five pickles and raw bytes: magic number, protocol version, system info, the
state dict (tensors refer to storages by a persistent id), the list of storage keys, then
for each key an int64 element count followed by the storage's bytes. The unpickler below
resolves only the few globals a state dict needs and refuses any other, so a crafted file
cannot run code.
"""

from __future__ import annotations

import collections
import pickle
import struct
from pathlib import Path
from typing import IO, Any

import numpy as np

MAGIC = 0x1950A86A20F9469CFC6C
_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class UnsafePickleError(pickle.UnpicklingError):
    """The file names a global a state dict has no business with."""


class _Storage:
    def __init__(self, dtype: Any, numel: int) -> None:
        self.dtype, self.numel = np.dtype(dtype), numel
        self.data: np.ndarray = np.empty(0, self.dtype)  # filled in when the file's storages are read


class _Tensor:
    """A tensor waiting for its storage's bytes (they follow the pickle)."""

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def numpy(self) -> np.ndarray:
        data = self.storage.data
        if not self.size:
            return data[self.offset].copy()
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :], shape=self.size, strides=[s * item for s in self.stride]
        )
        return np.ascontiguousarray(view)


def _rebuild_tensor_v2(storage: _Storage, offset: int, size: tuple, stride: tuple, *_: Any) -> _Tensor:
    return _Tensor(storage, offset, size, stride)


class _StorageType:
    def __init__(self, name: str) -> None:
        self.name = name


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        raise UnsafePickleError(f"refusing to load global {module}.{name} from a state dict")

    def persistent_load(self, pid: Any) -> _Storage:
        kind, storage_type, key, _location, numel, *_ = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise UnsafePickleError(f"unexpected persistent id {pid!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(_DTYPES[storage_type.name], int(numel))
        return self.storages[key]


def _safe_load(file: IO[bytes]) -> Any:
    return _Unpickler(file, {}).load()


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The state dict in ``path`` as name → numpy array (legacy torch.save format only)."""
    with open(path, "rb") as f:
        if f.read(2) == b"PK":
            raise ValueError(f"{path}: a zip-format torch file; only the legacy format is supported")
        f.seek(0)
        if _safe_load(f) != MAGIC:
            raise ValueError(f"{path}: not a legacy torch.save file (bad magic number)")
        _safe_load(f)  # protocol version
        _safe_load(f)  # system info
        storages: dict[str, _Storage] = {}
        state = _Unpickler(f, storages).load()
        keys = _safe_load(f)
        for key in keys:
            storage = storages[key]
            (numel,) = struct.unpack("<q", f.read(8))
            raw = f.read(numel * storage.dtype.itemsize)
            if numel != storage.numel or len(raw) != numel * storage.dtype.itemsize:
                raise ValueError(f"{path}: storage {key} is truncated")
            storage.data = np.frombuffer(raw, storage.dtype)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return {name: t.numpy() for name, t in state.items() if isinstance(t, _Tensor)}
