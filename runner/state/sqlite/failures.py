"""SQLite's errors told apart: busy, read-only, damaged, full, cannot open.

An operator acts on the message, so each cause gets its own: a state that is busy or
read-only is sound and must never be called damaged (the advice for damage, restoring a
backup, would replace a sound state).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from runner.errors import (
    DiskFullError,
    StateBusyError,
    StateDamagedError,
    StateError,
    StateReadOnlyError,
)

DETAIL_MAX = 400
"""Characters of SQLite's own words kept in a message (a damaged schema can be long)."""

_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_DAMAGED = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_SCHEMA})


def _primary(exc: sqlite3.Error) -> int | None:
    """The primary result code of an error (extended codes carry it in their low byte)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def _name(path: Path | None) -> str:
    return "the state file" if path is None else f"the state file {path}"


def state_failure(exc: BaseException, path: Path | None = None) -> StateError | None:
    """The runner's error for an SQLite error (also one that escaped the store: a read of a
    damaged page outside a transaction), or None when `exc` is not one (a bug stays a bug).

    SQLite quotes a damaged schema in its message; when those bytes are not UTF-8, Python
    raises UnicodeDecodeError instead of the SQLite error: that is damage too.
    """
    if isinstance(exc, UnicodeDecodeError) and isinstance(exc.object, bytes):
        if exc.object.startswith(b"malformed database schema"):
            return damaged(path, exc.object.decode("utf-8", "replace"))
        return None
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(
        exc, sqlite3.ProgrammingError | sqlite3.InterfaceError
    ):
        return translate(path, exc)
    return None


def is_busy(exc: BaseException) -> bool:
    """Another connection holds the lock this one needs."""
    return isinstance(exc, sqlite3.Error) and (
        _primary(exc) in _BUSY or "database is locked" in str(exc)
    )


def damaged(path: Path | None, detail: str) -> StateDamagedError:
    """The error for a damaged state file, with the recovery path."""
    detail = " ".join(detail.split())
    if len(detail) > DETAIL_MAX:
        detail = detail[: DETAIL_MAX - 1] + "…"
    return StateDamagedError(
        f"{_name(path)} is damaged ({detail}). "
        "Run `runner state check PIPELINE` to see what is wrong, then "
        "`runner state recover PIPELINE`, which writes a repaired copy beside it and keeps "
        "the damaged file"
    )


def busy(path: Path | None, waited: float) -> StateBusyError:
    """The error for a write lock held by another process for longer than `waited` seconds."""
    return StateBusyError(
        f"{_name(path)} is busy: another process has held its write lock for "
        f"{waited:.0f} s (a runner committing, or a program with a transaction open). "
        "The file is sound; try again in a moment"
    )


def translate(path: Path | None, exc: sqlite3.Error) -> StateError:
    """The runner's error for an error SQLite raised on the state file at `path` (None: unknown)."""
    code = _primary(exc)
    if is_busy(exc):
        return busy(path, 0)
    if path is not None and (code == sqlite3.SQLITE_FULL or "disk is full" in str(exc)):
        return DiskFullError(path)
    if code == sqlite3.SQLITE_READONLY:
        return StateReadOnlyError(
            f"{_name(path)} can only be read here ({exc}): a read-only mount, or "
            "file modes that forbid writing. The file itself is sound; run this where it "
            "can be written"
        )
    if code in _DAMAGED or (isinstance(exc, sqlite3.DatabaseError) and "malformed" in str(exc)):
        return damaged(path, str(exc))
    if code == sqlite3.SQLITE_CANTOPEN:
        return StateError(
            f"cannot open {_name(path)} ({exc}): check that its directory exists "
            "and can be read by this user"
        )
    if code == sqlite3.SQLITE_IOERR:
        return StateError(f"reading or writing {_name(path)} failed ({exc})")
    return damaged(path, str(exc))
