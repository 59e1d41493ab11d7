"""Keep TensorFlow's C++ start-up notices off stderr, wherever TensorFlow is first imported.

``import tensorflow`` (directly, or through Keras) prints absl's "All log messages before
absl::InitializeLog()" and the oneDNN notice on stderr, even with ``TF_CPP_MIN_LOG_LEVEL=2``
(TensorFlow 2.21). Airflow records a task's stderr as error lines, so every successful task that
touched a model logged errors, and the CLI started with four lines of noise.

:func:`install` adds an import hook: the first import of ``tensorflow`` runs with file
descriptor 2 sent to a temporary file; afterwards every line that is not one of those notices is
written back to stderr, so real warnings and errors of the import still show.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import sys
import tempfile
from types import ModuleType
from typing import Any

#: Informational lines TensorFlow's C++ runtime prints while it loads (absl, oneDNN, CPU features).
STARTUP_NOTICE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|I\d{4} [\d:. ]+\d+ (port|cpu_feature_guard)\.cc:\d+\]"
    r"|To enable the following instructions: .* in other operations, rebuild TensorFlow)"
)


def filter_notices(text: str) -> str:
    """``text`` without TensorFlow's start-up notices."""
    return "".join(line for line in text.splitlines(keepends=True) if not STARTUP_NOTICE.match(line))


class _QuietLoader(importlib.abc.Loader):
    """Runs the wrapped loader with fd 2 captured, then replays what was not a notice."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile(mode="w+b") as captured:
            os.dup2(captured.fileno(), 2)
            try:
                self._loader.exec_module(module)
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                rest = filter_notices(captured.read().decode(errors="replace"))
                if rest:
                    sys.stderr.write(rest)
                    sys.stderr.flush()

    def __getattr__(self, name: str) -> Any:  # resources, is_package, ... of the real loader
        return getattr(self._loader, name)


class _TensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` like the rest of ``sys.meta_path`` does, with a quiet loader."""

    def find_spec(self, fullname: str, path: Any, target: ModuleType | None = None) -> Any:
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: later imports find the module in sys.modules
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def install() -> None:
    """Hook the first ``import tensorflow`` of this process (no-op once it is imported)."""
    if "tensorflow" in sys.modules or any(isinstance(f, _TensorFlowFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _TensorFlowFinder())
