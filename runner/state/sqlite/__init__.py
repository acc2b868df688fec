"""The SQLite implementation of the state store: the only place in the runner that speaks SQL."""

from runner.state.sqlite.db import refuse_read_only_mount, state_disk_free
from runner.state.sqlite.failures import state_failure
from runner.state.sqlite.health import CheckDepth
from runner.state.sqlite.health import file_problems as check_sqlite_file
from runner.state.sqlite.salvage import Salvage, TableSalvage
from runner.state.sqlite.salvage import salvage_state as salvage_sqlite_state
from runner.state.sqlite.store import SQLiteStore, open_sqlite

__all__ = [
    "CheckDepth",
    "SQLiteStore",
    "Salvage",
    "TableSalvage",
    "check_sqlite_file",
    "open_sqlite",
    "refuse_read_only_mount",
    "salvage_sqlite_state",
    "state_disk_free",
    "state_failure",
]
