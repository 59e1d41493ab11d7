"""Fault injection for the fault suite, driven by the environment; any Python process started
with this folder on ``PYTHONPATH`` (the `vitrine` CLI, Airflow task processes, the Scrapy
child) imports it at start-up.

    VITRINE_FAULT="pipeline.publish:_advance_latest:exit"   # module:qualname:action[:nth]
    VITRINE_FAULT_ONCE=/tmp/fired                         # fire each fault once: a marker per fault here

``action`` is ``raise`` (RuntimeError inside the function) or ``exit`` (the process dies at
once, as if killed: no cleanup, no finally blocks). ``nth`` fires on the nth call (default 1).
Several faults are separated by ``;``: with ``VITRINE_FAULT_ONCE`` a sequence of runs then
meets them one after another. A function is wrapped when its module is first imported.
"""

from __future__ import annotations

import functools
import importlib.abc
import os
import sys

EXIT_STATUS = 137  # what a SIGKILLed process reports


def marker(spec: str, folder: str) -> str:
    """The file that says ``spec`` has fired (in ``VITRINE_FAULT_ONCE``)."""
    return os.path.join(folder, "".join(c if c.isalnum() else "_" for c in spec))


def _fire(spec: str) -> None:
    once = os.environ.get("VITRINE_FAULT_ONCE")
    if once:
        os.makedirs(once, exist_ok=True)
        try:
            os.close(os.open(marker(spec, once), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return  # already fired in an earlier process
    action = spec.split(":")[2]
    sys.stderr.write(f"fault injected: {spec}\n")
    sys.stderr.flush()
    if action == "exit":
        os._exit(EXIT_STATUS)
    raise RuntimeError(f"fault injected: {spec}")


def _wrap(module: object, spec: str) -> None:
    _, qualname, _, *nth = spec.split(":")
    owner = module
    *parents, name = qualname.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    original = getattr(owner, name)
    calls = {"n": 0}
    fire_at = int(nth[0]) if nth else 1

    @functools.wraps(original)
    def faulty(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == fire_at:
            _fire(spec)
        return original(*args, **kwargs)

    setattr(owner, name, faulty)


class _Finder(importlib.abc.MetaPathFinder):
    """Wraps the target function right after its module executes."""

    def __init__(self, spec: str):
        self.spec = spec
        self.module = spec.split(":")[0]

    def find_spec(self, fullname, path, target=None):
        if fullname != self.module:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            found = finder.find_spec(fullname, path, target)
            if found is not None and found.loader is not None:
                exec_module = found.loader.exec_module

                def exec_and_wrap(module, exec_module=exec_module):
                    exec_module(module)
                    _wrap(module, self.spec)

                found.loader.exec_module = exec_and_wrap
                return found
        return None


def install(spec: str) -> None:
    if spec.split(":")[2] not in ("raise", "exit"):
        raise ValueError(f"VITRINE_FAULT action must be raise or exit: {spec!r}")
    module = sys.modules.get(spec.split(":")[0])
    if module is not None:
        _wrap(module, spec)
    else:
        sys.meta_path.insert(0, _Finder(spec))


for _spec in filter(None, os.environ.get("VITRINE_FAULT", "").split(";")):
    install(_spec.strip())
