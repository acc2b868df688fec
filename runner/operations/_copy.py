"""`runner state copy FROM TO`: a whole state from one store into another, verified.

The main case is a SQLite file into a PostgreSQL database (moving to many hosts); a
database into a new SQLite file works the same way. Every row is copied as it is (ids,
insertion order, history), in one transaction on the target, then the row counts of both
are compared. Refused while a runner holds either state, and when the target holds
anything already (a SQLite target must be a new file).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.config.state_location import DatabaseUrl, StateLocation, is_database_url, url_problem
from runner.errors import StateError, UsageError
from runner.state import StateStore, open_existing, open_store
from runner.system.lock import RunnerLock

SIDE_FILES = Path(".runner/postgresql")
"""The side-file path of a database named on the command line (copy writes no side file)."""


@dataclass(frozen=True)
class CopyReport:
    """What was copied: rows per table, the same in the source and the target."""

    source: StateLocation
    target: StateLocation
    rows: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"source": str(self.source), "target": str(self.target), "rows": self.rows}


def state_location(text: str) -> StateLocation:
    """A state named on the command line: a PostgreSQL URL, or a SQLite file's path."""
    if is_database_url(text):
        if (problem := url_problem(text)) is not None:
            raise UsageError(f"the PostgreSQL URL cannot be used: {problem}")
        return DatabaseUrl(text, SIDE_FILES)
    return Path(text)


def copy_state(source: StateLocation, target: StateLocation) -> CopyReport:
    """Copy every row of the state at `source` into the empty state at `target`.

    Raises LockHeldError (exit 75) while a runner holds either, StateError when there is
    nothing at `source`, when `target` holds anything, or when the counts differ after.
    """
    if str(source) == str(target):
        raise UsageError("FROM and TO name the same state")
    if isinstance(target, Path) and (target.exists() or target.is_symlink()):
        raise StateError(f"{target} exists; copy into a new file (nothing is overwritten)")
    with ExitStack() as stack:
        _hold_lock_files(stack, source)
        _hold_lock_files(stack, target)
        reader = open_existing(source)
        if reader is None:
            raise StateError(f"there is no state at {source}: nothing to copy")
        stack.callback(reader.close)
        _hold_sites(reader)
        writer = open_store(target)
        stack.callback(writer.close)
        _hold_sites(writer)
        held = {table: n for table, n in writer.row_counts().items() if n}
        if held:
            raise StateError(
                f"the target {target} is not empty ({_rows(held)}); copy into an empty "
                "database or a new file"
            )
        counts = reader.row_counts()
        with writer.batch():
            for table in counts:
                columns = reader.table_columns(table)
                if columns:
                    writer.insert_rows(table, columns, reader.table_rows(table, columns))
        writer.restart_ids()
        copied = writer.row_counts()
        if copied != counts:
            raise StateError(
                f"the copy in {target} does not match {source}: {_rows(copied)} against "
                f"{_rows(counts)}; a runner or an operator wrote to the source meanwhile: "
                "empty the target and copy again with every runner stopped"
            )
        return CopyReport(source, target, counts)


def _hold_lock_files(stack: ExitStack, location: StateLocation) -> None:
    """Take every runner lock file of a SQLite state (LockHeldError while a runner holds one)."""
    if isinstance(location, Path):
        for path in sorted(location.parent.glob(f"{location.name}.*.lock")):
            stack.enter_context(RunnerLock(path))


def _hold_sites(store: StateStore) -> None:
    """Take the lock of every site that has run on `store` (a database's runners hold theirs)."""
    for worker in store.workers():
        store.hold_site(worker.site)


def _rows(counts: dict[str, int]) -> str:
    return ", ".join(f"{table} {n}" for table, n in counts.items() if n) or "no rows"
