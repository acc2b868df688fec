"""The resume-state store behind one narrow interface (`StateStore`); SQLite now."""

from runner.state.base import StateStore
from runner.state.records import (
    LISTING_ORDER,
    AttemptEnd,
    AttemptRow,
    AttemptStart,
    AttemptTally,
    Checkpoint,
    ControlRow,
    ItemQuery,
    ItemResult,
    ItemRow,
    MoveRow,
    RunErrors,
    RunRequestRow,
    RunRow,
    ServingRow,
    SyncReport,
    TaskRow,
    WorkerRow,
)
from runner.state.sqlite import SQLiteStore, open_store, state_disk_free
from runner.state.underway import UnderWay, read_under_way

__all__ = [
    "LISTING_ORDER",
    "AttemptEnd",
    "AttemptRow",
    "AttemptStart",
    "AttemptTally",
    "Checkpoint",
    "ControlRow",
    "ItemQuery",
    "ItemResult",
    "ItemRow",
    "MoveRow",
    "RunErrors",
    "RunRequestRow",
    "RunRow",
    "SQLiteStore",
    "ServingRow",
    "StateStore",
    "SyncReport",
    "TaskRow",
    "UnderWay",
    "WorkerRow",
    "open_store",
    "read_under_way",
    "state_disk_free",
]
