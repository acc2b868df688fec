"""Where the state lives: a SQLite file (a path) or a PostgreSQL database (a libpq URL).

`settings.state` holds either. A URL names the database only: the password comes from
libpq's own places (PGPASSWORD, ~/.pgpass, PGSERVICE), never from the pipeline's files, so
a URL carrying one is refused. A database's per-host side files (the runner lock, the launch
journals) still live on this host, under `side` (see docs/operations.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DATABASE_SIDE_FILES = ".runner/postgresql"
"""For a database state, the local path (relative to the pipeline directory) this host's side
files are named after: `.runner/postgresql.<site>.lock`, `.runner/postgresql.<site>.launches`."""

URL_SCHEMES = ("postgresql", "postgres")
"""The URL schemes naming a PostgreSQL database (libpq accepts both)."""


def is_database_url(text: str) -> bool:
    """True when `settings.state` names a database (a `postgresql://` URL), not a file."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.lower() in URL_SCHEMES


def url_problem(text: str) -> str | None:
    """Why a `postgresql://` URL cannot be used (never repeating it: it may hold a secret)."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        return "it is not a valid libpq URL (postgresql://[user@]host[:port]/dbname[?params])"
    if parts.password is not None or ":" in parts.netloc.rpartition("@")[0]:
        return (
            "it carries a password; give the password through PGPASSWORD, ~/.pgpass or "
            "PGSERVICE instead, never in the pipeline's files"
        )
    if "password=" in parts.query.lower():
        return (
            "its `password` parameter carries a password; give the password through "
            "PGPASSWORD, ~/.pgpass or PGSERVICE instead, never in the pipeline's files"
        )
    if not parts.path.strip("/"):
        return "it names no database (postgresql://[user@]host[:port]/dbname)"
    return None


@dataclass(frozen=True)
class DatabaseUrl:
    """A PostgreSQL state: its libpq URL (no password in it) and this host's side-file path."""

    url: str
    side: Path
    """The local path the side files are named after (`<side>.<site>.lock`, ...)."""

    def __str__(self) -> str:
        return self.url


StateLocation = Path | DatabaseUrl
"""A state's location: a SQLite file's path, or a database."""


def state_exists(location: StateLocation) -> bool:
    """True when a state may be there to read: the file exists (a database is asked when opened)."""
    return isinstance(location, DatabaseUrl) or location.exists()
