"""The SQLite store: one state file in WAL mode, its operations grouped by record type.

Each record module adds its operations to the shared `Database` (one connection, one
transaction discipline); this class only puts them together.
"""

from __future__ import annotations

from pathlib import Path

from runner.state.sqlite.attempts import AttemptRecords
from runner.state.sqlite.checkpoints import CheckpointRecords
from runner.state.sqlite.items import ItemRecords
from runner.state.sqlite.moves import MoveRecords
from runner.state.sqlite.reports import ReportQueries
from runner.state.sqlite.runlist import RunListing
from runner.state.sqlite.runs import RunRecords
from runner.state.sqlite.tasks import TaskRecords
from runner.state.sqlite.workers import WorkerRecords


class SQLiteStore(
    TaskRecords,
    RunRecords,
    ItemRecords,
    AttemptRecords,
    CheckpointRecords,
    MoveRecords,
    WorkerRecords,
    ReportQueries,
    RunListing,
):
    """The resume state in one SQLite file (see runner.state.base.StateStore for the contract)."""


def open_store(path: Path, *, readonly: bool = False) -> SQLiteStore:
    """Open (creating and migrating when writable) the state file at `path`."""
    return SQLiteStore(path, readonly=readonly)
