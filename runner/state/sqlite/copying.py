"""Copying a state with SQLite's online backup: consistent while others read and write it.

The copy is written to a temporary file beside its target, made durable, and only then
linked into place, so a target never holds half a copy and an existing file is never
overwritten.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from runner.errors import StateError
from runner.system.fs import ensure_runner_dir, ensure_runner_file


def copy_state(source: sqlite3.Connection, target: Path) -> None:
    """Write what `source` sees (committed state, WAL included) to the new file `target`.

    Raises StateError when `target` exists (nothing is overwritten) or cannot be written.
    """
    if target.exists() or target.is_symlink():
        raise StateError(f"{target} exists; choose a new file name (nothing is overwritten)")
    ensure_runner_dir(target.parent, state=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    try:
        ensure_runner_file(partial, state=True)
        copy = sqlite3.connect(partial, isolation_level=None)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        finally:
            copy.close()
        fd = os.open(partial, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(partial, target)  # fails rather than replace a file that appeared meanwhile
        _sync_dir(target.parent)
    except FileExistsError as exc:
        raise StateError(
            f"{target} exists; choose a new file name (nothing is overwritten)"
        ) from exc
    except (OSError, sqlite3.Error) as exc:
        raise StateError(f"cannot write a copy of the state to {target}: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
