"""Recovering a damaged SQLite state file: every readable row copied into a new, sound file.

The damaged file is only read (never written, never moved). A new file gets the current
schema from the migrations, so every index is built afresh from the rows; each table is
read from its own b-tree, without any index (`NOT INDEXED`), first in key order until the
first unreadable page, then in reverse order up to it, so the rows on both sides of a
damaged page are kept. A row the new file refuses (a second row with the key of one already
kept, which a broken unique index had let in) is counted as dropped.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from runner.errors import StateError
from runner.state.sqlite.copying import copy_state
from runner.state.sqlite.health import expected_schema, page_problems
from runner.state.sqlite.migrations import MIGRATIONS, SCHEMA_VERSION


@dataclass(frozen=True)
class TableSalvage:
    """What recovery kept of one table."""

    table: str
    kept: int
    dropped: int
    """Rows read but refused by the new file (duplicate keys)."""
    unreadable: bool
    """Part of the table could not be read: rows there are lost (how many cannot be known)."""
    error: str = ""


@dataclass(frozen=True)
class Salvage:
    """The outcome of a recovery: the new file and, per table, what was kept and lost."""

    source: Path
    target: Path
    tables: list[TableSalvage] = field(default_factory=list)
    problems_after: list[str] = field(default_factory=list)
    """What a full check finds in the new file (empty: sound)."""

    @property
    def complete(self) -> bool:
        """Every row was read and kept."""
        return all(not t.unreadable and not t.dropped for t in self.tables)


def salvage_state(source: Path, target: Path) -> Salvage:
    """Copy every readable row of the state file `source` into the new file `target`.

    Raises StateError when `source` cannot be opened at all or `target` exists.
    """
    if target.exists() or target.is_symlink():
        raise StateError(f"{target} exists; choose a new file name (nothing is overwritten)")
    try:
        damaged = sqlite3.connect(f"file:{source}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise StateError(f"cannot open {source} to recover it: {exc}") from exc
    fresh = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for statements in MIGRATIONS:
            for statement in statements:
                fresh.execute(statement)
        tables = [
            _copy_table(damaged, fresh, name)
            for name, (kind, _) in expected_schema(SCHEMA_VERSION).items()
            if kind == "table"
        ]
        fresh.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        fresh.execute("PRAGMA journal_mode = DELETE")
        problems = page_problems(fresh, "full")
        copy_state(fresh, target)
    finally:
        damaged.close()
        fresh.close()
    return Salvage(source, target, tables, problems)


def _copy_table(damaged: sqlite3.Connection, fresh: sqlite3.Connection, table: str) -> TableSalvage:
    info = list(fresh.execute(f"PRAGMA table_info({table})"))
    columns = ", ".join(str(r[1]) for r in info)
    keys = [str(r[1]) for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]
    order = keys if not _has_rowid(fresh, table) else ["rowid"]
    insert = f"INSERT OR IGNORE INTO {table} ({columns}) VALUES ({', '.join('?' * len(info))})"
    kept = dropped = 0
    error = ""
    for direction in ("ASC", "DESC"):
        by = ", ".join(f"{key} {direction}" for key in order)
        try:
            for row in damaged.execute(f"SELECT {columns} FROM {table} NOT INDEXED ORDER BY {by}"):
                changed = fresh.execute(insert, row).rowcount
                kept += changed
                if direction == "ASC":  # the reverse pass meets again rows kept going forward
                    dropped += 1 - changed
        except sqlite3.DatabaseError as exc:
            error = error or str(exc)
        if not error:
            break  # the whole table was read in one pass
    return TableSalvage(table, kept, dropped, bool(error), error)


def _has_rowid(db: sqlite3.Connection, table: str) -> bool:
    with contextlib.suppress(sqlite3.OperationalError):
        db.execute(f"SELECT rowid FROM {table} LIMIT 0")
        return True
    return False
