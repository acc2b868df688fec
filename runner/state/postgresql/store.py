"""The PostgreSQL store: the same record operations as SQLite's, on a shared database."""

from __future__ import annotations

from runner.state.postgresql.db import PostgresDatabase
from runner.state.sqlite.store import StateRecords


class PostgreSQLStore(StateRecords, PostgresDatabase):
    """The resume state in a PostgreSQL database (see runner.state.base.StateStore)."""
