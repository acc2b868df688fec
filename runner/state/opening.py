"""`open_store`: the state at a location, on the backend the location names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, overload

from runner.config.state_location import DatabaseUrl, StateLocation
from runner.state.base import StateStore
from runner.state.sqlite.db import BusyHook
from runner.state.sqlite.health import CheckDepth
from runner.state.sqlite.store import SQLiteStore, open_sqlite

if TYPE_CHECKING:
    from runner.state.postgresql import PostgreSQLStore


@overload
def open_store(
    location: Path,
    *,
    readonly: bool = False,
    check: CheckDepth | None = None,
    wait_forever: bool = False,
    on_busy: BusyHook | None = None,
) -> SQLiteStore: ...


@overload
def open_store(
    location: DatabaseUrl,
    *,
    readonly: bool = False,
    check: CheckDepth | None = None,
    wait_forever: bool = False,
    on_busy: BusyHook | None = None,
) -> PostgreSQLStore: ...


@overload
def open_store(
    location: StateLocation,
    *,
    readonly: bool = False,
    check: CheckDepth | None = None,
    wait_forever: bool = False,
    on_busy: BusyHook | None = None,
) -> StateStore: ...


def open_store(
    location: StateLocation,
    *,
    readonly: bool = False,
    check: CheckDepth | None = None,
    wait_forever: bool = False,
    on_busy: BusyHook | None = None,
) -> SQLiteStore | PostgreSQLStore | StateStore:
    """Open (creating and migrating when writable) the state at `location`.

    A path opens a SQLite file (`check`, `wait_forever`, `on_busy`: see
    runner.state.sqlite.store.open_sqlite); a database URL opens a PostgreSQL state, whose
    write transactions simply wait for each other.
    """
    if isinstance(location, DatabaseUrl):
        from runner.state.postgresql import PostgreSQLStore

        return PostgreSQLStore(location.url, location.side, readonly=readonly)
    return open_sqlite(
        location, readonly=readonly, check=check, wait_forever=wait_forever, on_busy=on_busy
    )


def open_existing(location: StateLocation) -> StateStore | None:
    """The state opened read-only, or None when nothing has run yet (no file, an empty database)."""
    if isinstance(location, DatabaseUrl):
        from runner.state.postgresql.db import NoStateError

        try:
            return open_store(location, readonly=True)
        except NoStateError:
            return None
    return open_store(location, readonly=True) if location.exists() else None
