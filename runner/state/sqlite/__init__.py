"""The SQLite implementation of the state store: the only place in the runner that speaks SQL."""

from runner.state.sqlite.db import state_disk_free
from runner.state.sqlite.store import SQLiteStore, open_store

__all__ = ["SQLiteStore", "open_store", "state_disk_free"]
