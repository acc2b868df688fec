"""A snapshot of a directory tree: every path with its kind and size."""

from __future__ import annotations

import stat
from pathlib import Path


def tree_snapshot(root: Path, *, skip: tuple[str, ...] = ()) -> dict[str, tuple[str, int]]:
    """Every path under `root` (relative) with its kind and size, except under `skip` prefixes."""
    snapshot: dict[str, tuple[str, int]] = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root).as_posix()
        if any(relative == s or relative.startswith(s + "/") for s in skip):
            continue
        info = path.lstat()
        kind = "link" if stat.S_ISLNK(info.st_mode) else "dir" if path.is_dir() else "file"
        snapshot[relative] = (kind, 0 if kind == "dir" else info.st_size)
    return snapshot
