"""Checking a SQLite state file: its schema against the migrations, and its pages.

Depths, by cost (docs/performance.md, "Checking the state file"):

- `schema`: every table and index the migrations create is there with its definition
  (reads `sqlite_master` only; constant cost). Every open does it.
- `start` (`runner run` and `runner serve`, once at start): `full` while the file is
  at most START_FULL_BYTES (64 MiB: about 100,000 items with their first attempts,
  under a second); past that, `PRAGMA integrity_check` of the tables dispatch decides
  from (tasks, runs, steps, items, moves, runners) only: every page, record and index
  entry of those, which still catches a broken index on items (the damage that made one
  item run forever). The large history tables (attempts, events, processed) of a big
  file are then left to `runner state check` and to SQLite's checks as it reads them.
- `quick`: `PRAGMA quick_check` of the whole file: every page and record, without
  comparing indexes to their tables.
- `full`: `PRAGMA integrity_check` of the whole file (`runner state check`): seconds on
  a million attempts.
"""

from __future__ import annotations

import sqlite3
from functools import cache
from pathlib import Path
from typing import Final, Literal

from runner.state.sqlite.migrations import MIGRATIONS, SCHEMA_VERSION

CheckDepth = Literal["schema", "start", "quick", "full"]
START_TABLES: Final = ("tasks", "runs", "steps", "items", "moves", "runners")
"""The tables `start` checks in full: what dispatch and the operators' moves rely on."""
START_FULL_BYTES: Final = 64 * 2**20
"""Up to this size `start` checks the whole file; past it, START_TABLES only."""
MAX_PROBLEMS: Final = 20
"""How many problems a page check lists at most."""


def _normal(sql: str | None) -> str:
    return " ".join((sql or "").split())


@cache
def expected_schema(version: int) -> dict[str, tuple[str, str]]:
    """name -> (type, normalised SQL) of every table and index schema `version` has."""
    db = sqlite3.connect(":memory:")
    try:
        for statements in MIGRATIONS[:version]:
            for statement in statements:
                db.execute(statement)
        return _schema(db)
    finally:
        db.close()


def _schema(db: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    return {
        str(name): (str(kind), _normal(sql))
        for kind, name, sql in db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'index') "
            "AND name NOT LIKE 'sqlite_stat%'"
        )
    }


def schema_problems(db: sqlite3.Connection, version: int) -> list[str]:
    """What differs between the file's schema and the one its version must have."""
    if version == 0:
        return []  # a new file: the migrations create everything
    expected = expected_schema(version)
    found = _schema(db)
    problems = [
        f"{kind} {name} is missing" for name, (kind, _) in expected.items() if name not in found
    ]
    problems += [
        f"{kind} {name} has been changed"
        for name, (kind, sql) in expected.items()
        if name in found and found[name] != (kind, sql)
    ]
    return problems


def page_problems(db: sqlite3.Connection, depth: CheckDepth) -> list[str]:
    """What SQLite's own check of this depth finds wrong in the pages (none for 'schema')."""
    if depth == "schema":
        return []
    if depth == "start" and _size(db) > START_FULL_BYTES:
        present = _schema(db)  # a file the migrations have yet to upgrade lacks the newer tables
        return [
            problem
            for table in START_TABLES
            if table in present
            for problem in _pragma(db, f"integrity_check({table})")
        ][:MAX_PROBLEMS]
    return _pragma(
        db,
        f"quick_check({MAX_PROBLEMS})" if depth == "quick" else f"integrity_check({MAX_PROBLEMS})",
    )


def _size(db: sqlite3.Connection) -> int:
    pages = int(db.execute("PRAGMA page_count").fetchone()[0])
    return pages * int(db.execute("PRAGMA page_size").fetchone()[0])


def _pragma(db: sqlite3.Connection, check: str) -> list[str]:
    rows = [str(r[0]) for r in db.execute(f"PRAGMA {check}")]
    return [] if rows == ["ok"] else rows


def file_problems(path: Path, depth: CheckDepth) -> list[str]:
    """Check the SQLite state file at `path` read-only; what is wrong with it (empty: sound).

    Unlike opening a store, this never refuses: a file too damaged to open is one problem.
    """
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        return [f"cannot be opened: {exc}"]
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            return [
                f"written by a newer runner (schema {version}, this one knows {SCHEMA_VERSION})"
            ]
        if version == 0:
            return ["holds no schema: it is empty, or its -wal file was deleted"]
        return schema_problems(db, version) + page_problems(db, depth)
    except sqlite3.Error as exc:
        return [str(exc)]
    finally:
        db.close()
