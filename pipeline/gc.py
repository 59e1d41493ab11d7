"""``vitrine gc``: the janitor. Crashed or killed runs leave scratch behind: a run's staging
(index and items, publish claims, embed work lists), ``/tmp/vitrine-*`` folders and hidden
partial files from interrupted writes. Everything of that kind older than ``--older-than``
hours goes; nothing a consumer or a running task can still need is touched (releases, tables,
images, and anything written recently)."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import layout
from pipeline.lake import Lake, add_lake_option, open_lake

log = logging.getLogger(__name__)

DEFAULT_HOURS = 24.0
TMP_PREFIX = "vitrine-"


@dataclass
class Collected:
    staging_runs: list[str] = field(default_factory=list)
    tmp_dirs: list[str] = field(default_factory=list)
    partial_files: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"gc: {len(self.staging_runs)} staging folders, {len(self.tmp_dirs)} temp folders, "
            f"{len(self.partial_files)} partial files removed"
        )


def collect(lake: Lake, older_than_s: float, tmp_root: Path | None = None, now: float | None = None) -> Collected:
    """Remove scratch older than ``older_than_s`` seconds; returns what went."""
    now = time.time() if now is None else now
    cutoff = now - older_than_s
    done = Collected()
    by_folder: dict[str, list[str]] = {}
    for key in lake.iter_keys(f"{layout.STAGING}/"):
        parts = key.split("/")
        if len(parts) >= 3:
            by_folder.setdefault(f"{parts[0]}/{parts[1]}", []).append(key)
    for folder, keys in sorted(by_folder.items()):
        newest = max(lake.info(k).modified for k in keys)
        if 0 < newest < cutoff:  # 0: the backend cannot tell, so keep
            lake.delete_prefix(folder + "/")
            done.staging_runs.append(folder)
            log.info("gc: removed %s (%d objects)", lake.uri(folder), len(keys))
    base = lake.local_path("")
    if base is not None:  # a file lake: hidden temp files of interrupted writes (ENOSPC, kill)
        for path in base.rglob(".*"):
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                done.partial_files.append(str(path))
    root = tmp_root or Path(tempfile.gettempdir())
    for path in root.glob(f"{TMP_PREFIX}*"):
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        if path.is_dir() and not path.is_symlink() and st.st_uid == os.getuid() and st.st_mtime < cutoff:
            shutil.rmtree(path, ignore_errors=True)
            done.tmp_dirs.append(str(path))
    return done


def cmd_gc(args: argparse.Namespace) -> int:
    print(collect(open_lake(args.lake), args.older_than * 3600).summary())
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("gc", help="remove scratch left by crashed runs (staging, temp, partial files)")
    add_lake_option(p)
    p.add_argument(
        "--older-than",
        type=float,
        default=DEFAULT_HOURS,
        metavar="HOURS",
        help=f"only what is older than this (default {DEFAULT_HOURS:g} hours)",
    )
    p.set_defaults(func=cmd_gc)
