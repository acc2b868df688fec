"""The resume-state store behind one narrow interface (`StateStore`); SQLite now."""

from runner.state.base import StateStore
from runner.state.records import (
    ITEM_SORTS,
    LISTING_ORDER,
    AttemptEnd,
    AttemptRow,
    AttemptStart,
    Checkpoint,
    ItemQuery,
    ItemRow,
    MoveRow,
    RunRow,
    SyncReport,
    TaskRow,
    WorkerRow,
)
from runner.state.sqlite import SQLiteStore, open_store, state_disk_free
from runner.state.underway import UnderWay, read_under_way

__all__ = [
    "ITEM_SORTS",
    "LISTING_ORDER",
    "AttemptEnd",
    "AttemptRow",
    "AttemptStart",
    "Checkpoint",
    "ItemQuery",
    "ItemRow",
    "MoveRow",
    "RunRow",
    "SQLiteStore",
    "StateStore",
    "SyncReport",
    "TaskRow",
    "UnderWay",
    "WorkerRow",
    "open_store",
    "read_under_way",
    "state_disk_free",
]
