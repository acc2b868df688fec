"""Whole tables read and written, for `runner state copy` from one store to another."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from runner.state.database import RecordDatabase
from runner.state.sqlite.tables import TABLES

COPY_CHUNK = 5_000
"""Rows written per statement batch while copying."""


class TableCopy(RecordDatabase):
    """Every row of every table, as it is (ids and insertion order kept)."""

    def _present(self, table: str) -> bool:
        return (
            self._db.execute(
                f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
            ).fetchone()
            is not None
        )

    def table_columns(self, table: str) -> list[str]:
        """The table's columns (its rowid first when it has one), or [] when it has none yet."""
        if table not in TABLES or not self._present(table):
            return []
        names = [str(r[1]) for r in self._db.execute(f"PRAGMA table_info({table})")]
        return (["rowid"] if TABLES[table].rowid else []) + [n for n in names if n != "rowid"]

    def table_rows(self, table: str, columns: Sequence[str]) -> Iterator[tuple[object, ...]]:
        """Every row of `table` (those `columns`), in key order."""
        order = "rowid" if TABLES[table].rowid else ", ".join(TABLES[table].key)
        yield from self._db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[tuple[object, ...]]
    ) -> None:
        """Write rows into `table` (inside the caller's transaction or batch)."""
        statement = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        )
        with self._transaction() as db:
            chunk: list[tuple[object, ...]] = []
            for row in rows:
                chunk.append(row)
                if len(chunk) >= COPY_CHUNK:
                    db.executemany(statement, chunk)
                    chunk = []
            if chunk:
                db.executemany(statement, chunk)

    def row_counts(self) -> dict[str, int]:
        """How many rows each table holds (0 for a table the state has not got yet)."""
        return {
            table: int(self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            if self._present(table)
            else 0
            for table in TABLES
        }
