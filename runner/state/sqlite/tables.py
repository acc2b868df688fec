"""The tables of the state as the migrations create them: their keys, and which have a rowid.

Read from runner.state.sqlite.migrations, so a table a migration adds is known here without
a second list: the PostgreSQL dialect (upserts, returned ids, the `rowid` column) and
`runner state copy` use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from runner.state.sqlite.migrations import MIGRATIONS

_CREATE_TABLE = re.compile(r"CREATE TABLE (\w+) \((.*)\)", re.S)
_DROP_TABLE = re.compile(r"\s*DROP TABLE (\w+)")


@dataclass(frozen=True)
class Table:
    """One table of the state."""

    name: str
    key: tuple[str, ...]
    """Its primary key's columns."""
    integer_id: bool
    """Its key is an `INTEGER PRIMARY KEY` id (SQLite's rowid under another name)."""
    rowid: bool
    """It has a separate rowid ordering ties in insertion order (not WITHOUT ROWID, no id)."""


def _tables(*, dropped_too: bool) -> dict[str, Table]:
    found: dict[str, Table] = {}
    for statements in MIGRATIONS:
        for statement in statements:
            dropped = _DROP_TABLE.match(statement)
            if dropped is not None:
                if not dropped_too:
                    found.pop(dropped.group(1), None)
                continue
            match = _CREATE_TABLE.search(statement)
            if match is None:
                continue
            name, body = match.group(1), match.group(2)
            composite = re.search(r"PRIMARY KEY \(([^)]*)\)", body)
            single = re.search(r"^\s*(\w+)\s+(\w+)\s+PRIMARY KEY", body, re.M)
            if composite is not None:
                key = tuple(c.strip() for c in composite.group(1).split(","))
            elif single is not None:
                key = (single.group(1),)
            else:
                key = ()
            integer_id = single is not None and composite is None and single.group(2) == "INTEGER"
            without_rowid = "WITHOUT ROWID" in statement
            found[name] = Table(name, key, integer_id, not (integer_id or without_rowid))
    return found


TABLES: dict[str, Table] = _tables(dropped_too=False)
"""Every table of the state, by name, in the order the migrations create them."""
EVER_CREATED: dict[str, Table] = _tables(dropped_too=True)
"""Also the tables a later migration drops (creating an older schema needs them)."""
