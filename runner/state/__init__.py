"""The resume-state store behind one narrow interface (`StateStore`); SQLite now."""

from runner.state.base import StateStore
from runner.state.records import (
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
from runner.state.sqlite import (
    CheckDepth,
    Salvage,
    SQLiteStore,
    TableSalvage,
    check_sqlite_file,
    open_store,
    salvage_sqlite_state,
    state_disk_free,
    state_failure,
)
from runner.state.underway import UnderWay, read_under_way

__all__ = [
    "LISTING_ORDER",
    "AttemptEnd",
    "AttemptRow",
    "AttemptStart",
    "CheckDepth",
    "Checkpoint",
    "ItemQuery",
    "ItemRow",
    "MoveRow",
    "RunRow",
    "SQLiteStore",
    "Salvage",
    "StateStore",
    "SyncReport",
    "TableSalvage",
    "TaskRow",
    "UnderWay",
    "WorkerRow",
    "check_sqlite_file",
    "open_store",
    "read_under_way",
    "salvage_sqlite_state",
    "state_disk_free",
    "state_failure",
]
