"""The PostgreSQL implementation of the state store (SPEC §8); needs the `postgresql` extra."""

from runner.state.postgresql.store import PostgreSQLStore

__all__ = ["PostgreSQLStore"]
