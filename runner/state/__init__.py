"""The resume-state store behind one narrow interface (SQLite now)."""

from runner.state.records import (
    AttemptEnd,
    AttemptRow,
    AttemptStart,
    Checkpoint,
    ItemRow,
    MoveRow,
    RunRow,
    SyncReport,
    TaskRow,
    WorkerRow,
)
from runner.state.store import StateStore, open_store, state_disk_free

__all__ = [
    "AttemptEnd",
    "AttemptRow",
    "AttemptStart",
    "Checkpoint",
    "ItemRow",
    "MoveRow",
    "RunRow",
    "StateStore",
    "SyncReport",
    "TaskRow",
    "WorkerRow",
    "open_store",
    "state_disk_free",
]
