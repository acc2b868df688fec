"""The backend-neutral base of the record mixins: one connection and its transactions.

The record modules (runner.state.sqlite.tasks, .items, .attempts, ...) hold every query of
the state once; they are written against `RecordDatabase`, which each backend implements:
SQLite (runner.state.sqlite.db) and PostgreSQL (runner.state.postgresql.db). Their SQL is
SQLite's dialect; the PostgreSQL connection translates the few statements that differ
(runner.state.postgresql.dialect).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol


class Cursor(Protocol):
    """What a record method reads from a statement it ran."""

    @property
    def rowcount(self) -> int: ...

    @property
    def lastrowid(self) -> int | None: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The connection a record method runs its statements on (sqlite3's, or one translating them)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Any, /) -> Cursor: ...


class RecordDatabase:
    """The base every record mixin extends; a backend supplies the connection and transactions.

    `_db` runs statements outside a transaction (each a consistent read); `_transaction()`
    yields the same connection inside one write transaction, committed durably when the block
    ends (or joined, inside `batch()`).
    """

    _db: Connection
    path: Path
    """The local path naming this state; per-host side files live beside it."""
    shared: bool = False
    """Several runners of one site may write it at once (a database server): their leases,
    not a lock file, keep them apart."""

    def _transaction(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def batch(self) -> AbstractContextManager[None]:
        """Group several changes (and the reads that decide them) into one durable commit."""
        raise NotImplementedError

    def restart_ids(self) -> None:
        """After rows were written with their ids (a copy): new rows get ids after them."""
        raise NotImplementedError

    def expect_rows(self, cursor: Cursor, count: int, what: str) -> None:
        """A write that must change exactly `count` rows did, or the state is not what it must be."""
        raise NotImplementedError
