"""The few differences between SQLite's SQL and PostgreSQL's, in one place.

The record modules hold every query once, in SQLite's dialect; `translate` rewrites each
statement for PostgreSQL (once: the result is cached) and `schema_statements` derives the
PostgreSQL schema from the same migrations (runner.state.sqlite.migrations). What differs:

- placeholders `?` become `%s` (and a literal `%` is doubled);
- `INSERT OR REPLACE` / `INSERT OR IGNORE` become `INSERT ... ON CONFLICT` on the table's
  primary key (read from the migrations);
- an INSERT into a table with an `INTEGER PRIMARY KEY` returns the new id (`lastrowid`);
- `LIMIT ?` with SQLite's -1 for "no limit" becomes `LIMIT nullif(?, -1)`;
- temporary tables live in `pg_temp`, and `WITHOUT ROWID` is SQLite's alone;
- a subquery in FROM gets the alias PostgreSQL requires;
- SQLite's `a IS b` / `a IS NOT b` (NULL-safe) are `IS [NOT] DISTINCT FROM`;
- `instr` is `strpos`, the two-argument `max` is `greatest`, a sum of comparisons counts them;
- the catalogue is read from information_schema (`sqlite_master`, `PRAGMA table_info`);
- `json_extract` is a function the schema defines (`COMPAT_FUNCTIONS`);
- `db_now()` (the database's clock, for leases: SQLite's connection defines it) is the server's;
- tables without an `INTEGER PRIMARY KEY` get an identity column `rowid`, ordering ties in
  insertion order as SQLite's rowid does.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

from runner.state.sqlite.migrations import MIGRATIONS
from runner.state.sqlite.tables import EVER_CREATED, TABLES

FIRST_VERSION: Final = 6
"""The schema version PostgreSQL states start at: no PostgreSQL state holds data from before,
so the data statements of migrations up to this one are not run there (their tables start
empty). Every migration after it runs on both stores."""


@dataclass(frozen=True)
class Statement:
    """A statement translated for PostgreSQL; `returns_id` when it returns the inserted id."""

    sql: str
    returns_id: bool


PRIMARY_KEYS = {t.name: t.key for t in TABLES.values()}
ID_TABLES = frozenset(t.name for t in TABLES.values() if t.integer_id)

_UPSERT = re.compile(r"^\s*INSERT OR (REPLACE|IGNORE) INTO (\w+) \(([^)]*)\)", re.S)
_INSERT = re.compile(r"^\s*INSERT INTO (\w+)\b")
_LIMIT = re.compile(r"\bLIMIT \?")
_TABLE_EXISTS = re.compile(r"FROM sqlite_master WHERE type = 'table' AND name = '(\w+)'")
_TABLE_INFO = re.compile(r"^\s*PRAGMA table_info\((\w+)\)\s*$")
_SUM_OF_TEST = re.compile(r"\bsum\(([^()]*?(?:<=|>=|<|>)[^()]*?)\)")


@functools.lru_cache(maxsize=2048)
def translate(sql: str, *, many: bool = False) -> Statement:
    """`sql` (SQLite's dialect, `?` placeholders) as PostgreSQL runs it (`%s` placeholders).

    `many`: for executemany, where no id is returned.
    """
    info = _TABLE_INFO.match(sql)
    if info is not None:
        return Statement(
            "SELECT ordinal_position, column_name FROM information_schema.columns "
            f"WHERE table_schema = current_schema() AND table_name = '{info.group(1)}'",
            returns_id=False,
        )
    text = sql.replace("%", "%%")
    text = _TABLE_EXISTS.sub(
        r"FROM information_schema.tables WHERE table_schema = current_schema() "
        r"AND table_name = '\1'",
        text,
    )
    text = re.sub(r"\btemp\.", "pg_temp.", text)
    text = re.sub(r"\s*WITHOUT ROWID\b", "", text)
    text = re.sub(r"\binstr\(", "strpos(", text)
    text = text.replace("db_now()", "extract(epoch from clock_timestamp())::float8")
    text = re.sub(r"\bmax\(\?,", "greatest(?,", text)
    text = _SUM_OF_TEST.sub(r"sum(CASE WHEN \1 THEN 1 WHEN NOT (\1) THEN 0 END)", text)
    text = _LIMIT.sub("LIMIT nullif(?, -1)", text)
    text = re.sub(r"\bIS NOT (?!NULL\b|DISTINCT\b)", "IS DISTINCT FROM ", text)
    text = re.sub(r"\bIS (?!NOT\b|NULL\b|DISTINCT\b)", "IS NOT DISTINCT FROM ", text)
    text = _alias_subqueries(text)
    conflict = ""
    upsert = _UPSERT.match(text)
    if upsert is not None:
        kind, table, columns = upsert.groups()
        text = f"INSERT INTO {table} ({columns})" + text[upsert.end() :]
        key = PRIMARY_KEYS[table]
        others = [c.strip() for c in columns.split(",") if c.strip() not in key]
        action = (
            f"UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in others)}"
            if kind == "REPLACE" and others
            else "NOTHING"
        )
        conflict = f" ON CONFLICT ({', '.join(key)}) DO {action}"
    text = text.rstrip() + conflict
    insert = _INSERT.match(text)
    returns_id = not many and insert is not None and insert.group(1) in ID_TABLES
    if returns_id:
        text += " RETURNING id"
    return Statement(text.replace("?", "%s"), returns_id=returns_id)


def _alias_subqueries(text: str) -> str:
    """Give every subquery in FROM an alias (PostgreSQL before 16 requires one)."""
    out: list[str] = []
    position = 0
    for count, match in enumerate(re.finditer(r"\bFROM \(", text), start=1):
        index, depth = match.end(), 1
        while index < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[index], 0)
            index += 1
        word = re.match(r"\s*([A-Za-z_]\w*)", text[index:])
        if word is not None and word.group(1).upper() not in _NOT_ALIASES:
            continue  # it has one (`AS x` or `x`)
        out += [text[position:index], f" AS _sub{count}"]
        position = index
    out.append(text[position:])
    return "".join(out)


_NOT_ALIASES = frozenset(
    [
        "UNION",
        "EXCEPT",
        "INTERSECT",
        "ORDER",
        "WHERE",
        "GROUP",
        "HAVING",
        "LIMIT",
        "OFFSET",
        "JOIN",
        "LEFT",
        "INNER",
        "CROSS",
        "ON",
    ]
)

_TYPES = ((re.compile(r"\bINTEGER\b"), "BIGINT"), (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"))


def schema_statements(from_version: int) -> list[str]:
    """The migrations after `from_version`, as PostgreSQL DDL (see FIRST_VERSION)."""
    statements: list[str] = []
    for number, migration in enumerate(MIGRATIONS, start=1):
        if number <= from_version:
            continue
        for statement in migration:
            if re.match(r"\s*(INSERT|UPDATE|DELETE)\b", statement) and number <= FIRST_VERSION:
                continue
            statements.append(_ddl(statement))
    return statements


def _ddl(statement: str) -> str:
    text = re.sub(
        r"\bINTEGER PRIMARY KEY\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", statement
    )
    create = re.search(r"CREATE TABLE (\w+) \(", text)
    if create is not None and EVER_CREATED[create.group(1)].rowid:
        text = text.replace(
            create.group(0),
            f"{create.group(0)}\n            rowid BIGINT GENERATED BY DEFAULT AS IDENTITY,",
            1,
        )
    text = re.sub(r"\s*WITHOUT ROWID\b", "", text)
    for pattern, replacement in _TYPES:
        text = pattern.sub(replacement, text)
    return text


COMPAT_FUNCTIONS: Final = (
    # SQLite's json_extract(document, path) for the paths the record modules use ($."name")
    """
    CREATE FUNCTION json_extract(doc TEXT, path TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE AS
    $$ SELECT jsonb_path_query_first(doc::jsonb, path::jsonpath) #>> '{}' $$
    """,
)
"""Functions the record modules call by SQLite's names, defined once in a new schema."""
