"""The SQLite store: one state file in WAL mode, its operations grouped by record type.

Each record module adds its operations to the backend-neutral `RecordDatabase` (one
connection, one transaction discipline); `StateRecords` puts them together, and each store
puts them on its backend's database (this one SQLite's `Database`; PostgreSQL's in
runner.state.postgresql.store).
"""

from __future__ import annotations

from pathlib import Path

from runner.state.sqlite.activity import ActivityQueries
from runner.state.sqlite.attempts import AttemptRecords
from runner.state.sqlite.checkpoints import CheckpointRecords
from runner.state.sqlite.controls import ControlRecords
from runner.state.sqlite.db import BusyHook, Database
from runner.state.sqlite.groupsources import GroupSourceRecords
from runner.state.sqlite.health import CheckDepth
from runner.state.sqlite.items import ItemRecords
from runner.state.sqlite.members import MemberRecords
from runner.state.sqlite.metrics import MetricQueries
from runner.state.sqlite.moves import MoveRecords
from runner.state.sqlite.pruning import PruneRecords
from runner.state.sqlite.reports import ReportQueries
from runner.state.sqlite.requests import RequestRecords
from runner.state.sqlite.results import ResultQueries
from runner.state.sqlite.retries import RetryRecords
from runner.state.sqlite.runlist import RunListing
from runner.state.sqlite.runs import RunRecords
from runner.state.sqlite.tablecopy import TableCopy
from runner.state.sqlite.tasks import TaskRecords
from runner.state.sqlite.workers import WorkerRecords


class StateRecords(
    TaskRecords,
    RunRecords,
    ItemRecords,
    MemberRecords,
    GroupSourceRecords,
    RetryRecords,
    AttemptRecords,
    CheckpointRecords,
    MoveRecords,
    WorkerRecords,
    ReportQueries,
    ControlRecords,
    ActivityQueries,
    ResultQueries,
    MetricQueries,
    PruneRecords,
    RequestRecords,
    RunListing,
    TableCopy,
):
    """Every record operation of the state, on whichever backend database comes after it."""


class SQLiteStore(StateRecords, Database):
    """The resume state in one SQLite file (see runner.state.base.StateStore for the contract)."""


def open_sqlite(
    path: Path,
    *,
    readonly: bool = False,
    check: CheckDepth | None = None,
    wait_forever: bool = False,
    on_busy: BusyHook | None = None,
) -> SQLiteStore:
    """Open (creating and migrating when writable) the state file at `path`.

    `check`: how deeply to check the file first (default: `schema`; see
    runner.state.sqlite.health); `wait_forever`/`on_busy`: how a write waits for another
    process's lock (runner.state.sqlite.db). Raises StateDamagedError when a check fails.
    """
    return SQLiteStore(
        path, readonly=readonly, check=check, wait_forever=wait_forever, on_busy=on_busy
    )
