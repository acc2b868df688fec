"""The SQLite state file: the connection, its pragmas, transactions, open and close.

Durability discipline (SPEC §4): every method that changes state runs in one
`BEGIN IMMEDIATE` transaction and commits with `synchronous=FULL` before it
returns, so what it announces survives `kill -9` and power loss. `batch()` nests
several such methods in one transaction and one commit.

The file defends itself (docs/behaviour.md, "The state file under attack"): it is
checked when opened (runner.state.sqlite.health), a write that must change one row
asserts it did, each commit verifies that the path still names the file this
connection has open (and writes what it holds back when it does not), and a write
lock held by another process is waited for in bounded tries, never taken for damage.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from runner.errors import (
    StateError,
    StateGoneError,
    StateReadOnlyError,
    UnsafePathError,
)
from runner.state.database import Cursor, RecordDatabase
from runner.state.sqlite.copying import copy_state
from runner.state.sqlite.failures import busy, damaged, is_busy, state_failure, translate
from runner.state.sqlite.health import CheckDepth, page_problems, schema_problems
from runner.state.sqlite.migrations import MIGRATIONS, SCHEMA_VERSION
from runner.system.fs import (
    ensure_runner_dir,
    ensure_runner_file,
    nearest_existing,
    on_read_only_mount,
)

BUSY_TIMEOUT_MS = 5_000
"""How long one try waits for another connection's lock (SQLite's busy handler)."""
BUSY_PATIENCE_S = 30.0
"""How long a write waits in all, in tries, before it fails as busy (unless it waits forever)."""
WAIT_TRY_MS = 1_000
"""How long one try waits when a write waits forever (the runner's own): short, so that between
tries the runner hears a signal and says how long it has waited."""

CREATION_PATIENCE_S = 5.0
"""How long an opener waits for the tables of a file another process is creating."""

BusyHook = Callable[[float], None]
"""Told the seconds waited so far after each try that found the state busy."""


class Database(RecordDatabase):
    """One connection to the state file. Not thread-safe: one per thread (the engine's main loop).

    The record modules (tasks, runs, items, ...) are mixins of `RecordDatabase`, which this
    class implements for SQLite; they all share this connection and its transaction.

    `check`: how deeply the file is checked when opened (see runner.state.sqlite.health);
    `wait_forever`: a write waits for another process's lock as long as it takes (the
    runner's own loop, which must record what finished) instead of BUSY_PATIENCE_S;
    `on_busy`: told after each try that found the lock held.
    """

    def __init__(
        self,
        path: Path,
        *,
        readonly: bool = False,
        check: CheckDepth | None = None,
        wait_forever: bool = False,
        on_busy: BusyHook | None = None,
    ) -> None:
        self.path = path
        self._db: sqlite3.Connection
        self._depth = 0
        self._patience = None if wait_forever else BUSY_PATIENCE_S
        self._on_busy = on_busy
        self._identity: tuple[int, int] | None = None
        _refuse_unsafe_side_files(path)
        existed = True
        if readonly:
            if not path.exists():
                raise StateError(
                    f"no state file at {path}: nothing has run yet with this pipeline "
                    "(run `runner run` first, or check `settings.state`)"
                )
            self._db = _connect_readonly(path)
        else:
            refuse_read_only_mount(path)
            ensure_runner_dir(path.parent, state=True)
            existed = path.exists() and path.stat().st_size > 0
            ensure_runner_file(path, state=True)
            try:
                self._db = sqlite3.connect(path, isolation_level=None)
            except sqlite3.Error as exc:
                raise translate(path, exc) from exc
        try:
            self._db.create_function("db_now", 0, time.time)  # leases' clock (see workers.py)
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not readonly:
                self._identity = _identity(path)
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = FULL")
                self._db.execute("PRAGMA foreign_keys = ON")
            version = self._check_version()
            if version == 0 and (readonly or existed) and not self._creator_finished():
                raise damaged(
                    path,
                    "it holds no tables, though it is not new: its -wal file, which held what "
                    "was recorded since the last checkpoint, may have been deleted (or a runner "
                    "was killed while creating it, before anything was recorded)",
                )
            version = self._check_version()
            self._check(version, check or "schema")
            if not readonly and version < SCHEMA_VERSION:
                self._migrate()
            elif readonly and 0 < version < SCHEMA_VERSION:
                self._read_upgraded()
        except BaseException as exc:
            self._db.close()
            if (failure := state_failure(exc, path)) is not None:
                raise failure from exc
            raise

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

    def _creator_finished(self) -> bool:
        """Whether the file has its tables, once another process creating it had its moment.

        A new state file has a header before it has tables: a process that opens it while its
        creator works in between sees what a file whose -wal was deleted looks like. The
        creator's tables appear within moments; a damaged file's never do.
        """
        deadline = time.monotonic() + CREATION_PATIENCE_S
        while not _has_tables(self._db):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def _check(self, version: int, depth: CheckDepth) -> None:
        """Refuse a damaged file: a schema unlike its version's, or pages SQLite finds broken."""
        if version == 0:
            return  # a new file: the migrations are about to create everything
        problems = schema_problems(self._db, version) + page_problems(self._db, depth)
        if problems:
            raise damaged(self.path, "; ".join(problems[:5]))

    def _read_upgraded(self) -> None:
        """A file an older runner wrote, opened read-only before any runner upgraded it: read
        an upgraded copy in memory (the file is left as it is; the next runner upgrades it)."""
        upgraded = sqlite3.connect(":memory:", isolation_level=None)
        upgraded.create_function("db_now", 0, time.time)
        self._db.backup(upgraded)
        self._db.close()
        self._db = upgraded
        self._migrate()

    def _migrate(self) -> None:
        with self._transaction():
            version = self._check_version()  # again: another process may have migrated meanwhile
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
        self._begin()
        self._depth = 1
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):  # nothing to roll back if COMMIT ended it
                self._db.execute("ROLLBACK")
            if (failure := state_failure(exc, self.path)) is not None:
                raise failure from exc
            raise
        finally:
            self._depth = 0
        self._verify_identity()

    def _begin(self) -> None:
        """BEGIN IMMEDIATE, in tries of BUSY_TIMEOUT_MS while another process holds the lock;
        when the write waits forever, tries of WAIT_TRY_MS after the first (the hook hears of
        each), and the connection's own timeout back once it has the lock."""
        started = time.monotonic()
        shortened = False
        try:
            while True:
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if not is_busy(exc):
                        raise translate(self.path, exc) from exc
                waited = time.monotonic() - started
                if self._patience is not None and waited >= self._patience:
                    raise busy(self.path, waited)
                if self._patience is None and not shortened:
                    self._db.execute(f"PRAGMA busy_timeout = {WAIT_TRY_MS}")
                    shortened = True
                if self._on_busy is not None:
                    self._on_busy(waited)
        finally:
            if shortened:  # a connection that broke meanwhile reports that, not this
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def _verify_identity(self) -> None:
        """After a commit: the path must still name the file this connection has open.

        When it was removed or replaced, what this connection holds (everything committed,
        through its still-open file) is written back where it does no harm, and the runner
        is told to stop.
        """
        if self._identity is None or _identity(self.path) == self._identity:
            return
        self._identity = None  # told once
        replaced = self.path.exists() or self.path.is_symlink()
        target = (
            self.path.with_name(f"{self.path.name}.rescued-{time.strftime('%Y%m%dT%H%M%S')}")
            if replaced
            else self.path
        )
        what = "replaced by another file" if replaced else "removed"
        try:
            copy_state(self._db, target)
        except StateError as exc:
            raise StateGoneError(
                f"the state file {self.path} was {what} while the runner had it open, and "
                f"writing back what was recorded failed ({exc}); nothing more was started",
                None,
            ) from exc
        where = (
            f"what was recorded was saved to {target}; the file now at {self.path} was left "
            f"alone. Put the saved copy in its place (or point `settings.state` at it)"
            if replaced
            else f"what was recorded was written back to {target}"
        )
        raise StateGoneError(
            f"the state file {self.path} was {what} while the runner had it open; {where}. "
            "Nothing more was started; start the runner again: no finished item runs again",
            target,
        )

    def expect_rows(self, cursor: Cursor, count: int, what: str) -> None:
        """A write that must change exactly `count` rows did, or the state is not what it must be.

        A damaged index makes an update find no row; going on would start the same item
        again and again, so the transaction is rolled back and the runner stops.
        """
        if cursor.rowcount != count:
            raise damaged(
                self.path,
                f"{what} changed {cursor.rowcount} row(s) where it must change {count}; "
                "an index may be broken",
            )

    def restart_ids(self) -> None:
        """Nothing to do: SQLite gives a new row the id after the largest there."""

    def hold_site(self, site: str) -> None:
        """Nothing to do: the lock file beside the state holds the site (runner.system.lock)."""

    fence_passed_at = 0.0

    def fence(self, site: str, instance: str, epoch: int, *, lease: float = 60.0) -> None:
        """Nothing to do: the lock file keeps the site to one runner, which never loses it."""

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

    def copy_to(self, target: Path) -> None:
        """Write a consistent copy of the committed state to the new file `target`."""
        copy_state(self._db, target)

    def change_counter(self) -> int:
        """`PRAGMA data_version`: changes when another connection commits to the file."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])


def _has_tables(db: sqlite3.Connection) -> bool:
    return (
        db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' LIMIT 1").fetchone()
        is not None
    )


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, or None when there is none."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return (info.st_dev, info.st_ino)


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection, also on a read-only mount.

    There SQLite cannot create the `-shm` file a WAL reader needs; with no `-wal` (or an
    empty one) nothing is pending, and nobody can write to the mount, so the file is opened
    as immutable. A `-wal` with content can only be read together with its `-shm`.
    """
    uri = f"file:{path}?mode=ro"
    wal = path.with_name(path.name + "-wal")
    if on_read_only_mount(path):
        if not wal.exists() or wal.stat().st_size == 0:
            uri = f"file:{path}?immutable=1"
        elif not path.with_name(path.name + "-shm").exists():
            raise StateReadOnlyError(
                f"the state file {path} is on a read-only mount with changes still in {wal}, "
                "which SQLite cannot read without its -shm file; the file is sound: mount it "
                "writable once (any `runner status` then folds the changes in), or copy the "
                "directory elsewhere"
            )
    try:
        return sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise translate(path, exc) from exc


def refuse_read_only_mount(path: Path) -> None:
    """Refuse to write the state file `path` when its directory is on a read-only mount.

    Checked before anything is created, so the operator reads why (the file is sound; the
    runner must write it) instead of a file that cannot be opened.
    """
    if on_read_only_mount(path.parent):
        raise StateReadOnlyError(
            f"the state file {path} is on a read-only mount: the file is sound, but this "
            "command must write to it (`run` and `serve` record there what they start and what "
            "ends). Mount it writable, or point `settings.state` at a writable place (a copy "
            "of the file keeps everything recorded); `runner status`, `items`, `explain` and "
            "`history` read it where it is"
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
    info = os.statvfs(nearest_existing(path))
    return info.f_bavail * info.f_frsize
