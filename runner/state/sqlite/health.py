"""Checking a SQLite state file: its schema against the migrations, and its pages.

Three depths, by cost on a 100,000-item state (docs/performance.md):

- `schema`: every table and index the migrations create is there with its definition
  (reads `sqlite_master` only; constant cost). Every open does it.
- `quick`: `PRAGMA quick_check` as well: every page, record and constraint, without
  comparing indexes to their tables. Opening for writing does it.
- `full`: `PRAGMA integrity_check`: quick_check plus every index entry against its
  row, which catches a broken index (the damage that made one item run forever).
  `runner run` and `runner serve` do it once at start, and `runner state check`.
"""

from __future__ import annotations

import sqlite3
from functools import cache
from pathlib import Path
from typing import Final, Literal

from runner.state.sqlite.migrations import MIGRATIONS, SCHEMA_VERSION

CheckDepth = Literal["schema", "quick", "full"]
DEPTHS: Final[tuple[CheckDepth, ...]] = ("schema", "quick", "full")
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
    """What SQLite's own check finds wrong in the pages ('quick' or 'full'; none for 'schema')."""
    if depth == "schema":
        return []
    pragma = "quick_check" if depth == "quick" else "integrity_check"
    rows = [str(r[0]) for r in db.execute(f"PRAGMA {pragma}({MAX_PROBLEMS})")]
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
