"""The SQLite state file: the connection, its pragmas, transactions, open and close.

Durability discipline (SPEC §4): every method that changes state runs in one
`BEGIN IMMEDIATE` transaction and commits with `synchronous=FULL` before it
returns, so what it announces survives `kill -9` and power loss. `batch()` nests
several such methods in one transaction and one commit.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from runner.errors import DiskFullError, StateError, UnsafePathError
from runner.state.sqlite.migrations import MIGRATIONS, SCHEMA_VERSION
from runner.system.fs import ensure_runner_dir, ensure_runner_file

BUSY_TIMEOUT_MS = 30_000


class Database:
    """One connection to the state file. Not thread-safe: one per thread (the engine's main loop).

    The record modules (tasks, runs, items, ...) add their operations to this class as mixins;
    they all share this connection and its transaction.
    """

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self._depth = 0
        _refuse_unsafe_side_files(path)
        if readonly:
            if not path.exists():
                raise StateError(
                    f"no state file at {path}: nothing has run yet with this pipeline "
                    "(run `runner run` first, or check `settings.state`)"
                )
            uri = f"file:{path}?mode=ro"
            try:
                self._db = sqlite3.connect(uri, uri=True, isolation_level=None)
            except sqlite3.Error as exc:
                raise StateError(f"cannot open state file {path}: {exc}") from exc
        else:
            ensure_runner_dir(path.parent, state=True)
            ensure_runner_file(path, state=True)
            try:
                self._db = sqlite3.connect(path, isolation_level=None)
            except sqlite3.Error as exc:
                raise StateError(f"cannot open state file {path}: {exc}") from exc
        try:
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not readonly:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = FULL")
                self._db.execute("PRAGMA foreign_keys = ON")
                self._migrate()
            else:
                self._check_version()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StateError(
                f"{path} is not a readable state file ({exc}); "
                "restore it from a backup or point `settings.state` elsewhere"
            ) from exc

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        """Close the connection (a checkpoint of the WAL happens on the last close)."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_version(self) -> int:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self.path} was written by a newer version of the runner (schema {version}, "
                f"this one knows {SCHEMA_VERSION}); upgrade the runner"
            )
        return version

    def _migrate(self) -> None:
        with self._transaction():
            version = self._check_version()
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    self._db.execute(statement)
            if version < SCHEMA_VERSION:
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        if self._depth:  # inside batch(): the outer transaction commits
            yield self._db
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):  # nothing to roll back if COMMIT ended it
                self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError) and _disk_full(exc):
                raise DiskFullError(self.path) from exc
            raise
        finally:
            self._depth = 0

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group several changes (and the reads that decide them) into one durable commit.

        Everything done inside sees one consistent state (no other writer can slip in)
        and is durable together when the block ends, before the caller acts on it.
        """
        with self._transaction():
            yield

    @property
    def connection(self) -> sqlite3.Connection:
        """The underlying connection, for tests and benchmarks that inspect the file directly."""
        return self._db

    def integrity_check(self) -> str:
        """Run `PRAGMA integrity_check`; 'ok' when the file is sound."""
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    def change_counter(self) -> int:
        """`PRAGMA data_version`: changes when another connection commits to the file."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])


def _disk_full(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_FULL: the disk (or a quota) is full."""
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(
        exc
    )


def _refuse_unsafe_side_files(path: Path) -> None:
    """SQLite opens `<state>-wal`, `-shm` and `-journal` itself, following symlinks: refuse those."""
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        if side.is_symlink():
            raise UnsafePathError(
                f"{side} is a symbolic link; the runner refuses to write through it "
                "(remove it: SQLite creates this file itself)"
            )
        if side.exists() and not side.is_file():
            raise UnsafePathError(
                f"{side} is not a regular file; remove it (SQLite creates this file itself)"
            )


def state_disk_free(path: Path) -> int:
    """Bytes free on the file system holding `path` (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    info = os.statvfs(probe)
    return info.f_bavail * info.f_frsize
