"""A throwaway PostgreSQL server for the test session, and a fresh database per test.

The server is Debian's `postgresql` package (`initdb`, `pg_ctl`), started once per session
in a temporary directory: no TCP (`listen_addresses=''`), its Unix socket in that directory,
`trust` authentication, and fsync off (the tests kill runner processes, never the server,
so nothing they check needs the server's own durability). As root, initdb refuses to run:
the server then runs as the package's `postgres` user, which owns the directory, and the
tests connect through the socket as the database user `postgres`.

Each test gets its own state: a schema of its own in one database, named first on the URL's
search_path (`options=-csearch_path=...`). A schema costs milliseconds; a database per test
(`CREATE DATABASE ... TEMPLATE`) measured 0.25-0.4 s each here. The runner's advisory locks
are keyed by the schema, so states in one database never share a lock.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SERVER_USER = "postgres"
"""The operating-system user the server runs as when the tests run as root."""
DATABASE_USER = "postgres"
"""The database superuser initdb creates; the tests connect as it."""
DATABASE = "runner_tests"
"""The database holding every test's state, each in a schema of its own."""


def postgres_bin() -> Path | None:
    """The directory holding `initdb` and `pg_ctl`, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found is not None and shutil.which("pg_ctl") is not None:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return versions[0].parent if versions else None


def _as_server_user() -> list[str]:
    """The command prefix running a program as the server's user (nothing unless root)."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", SERVER_USER, "--"]


@dataclass
class PostgresServer:
    """One running server; `stop()` ends it and removes its directory."""

    bin: Path
    root: Path
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def socket_dir(self) -> Path:
        return self.root

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        """The libpq URL of `database` on this server (through its socket, no password)."""
        return f"postgresql://{DATABASE_USER}@/{database}?host={self.socket_dir}"

    @classmethod
    def start(cls, bin_dir: Path, *, durable: bool = False) -> PostgresServer:
        """Start a server; `durable` keeps fsync and full-page writes on, as in production
        (the benchmarks compare it with a SQLite state that syncs every commit)."""
        root = Path(tempfile.mkdtemp(prefix="runner-pg-"))
        prefix = _as_server_user()
        if prefix:
            entry = pwd.getpwnam(SERVER_USER)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        server = cls(bin_dir, root)
        try:
            subprocess.run(
                [
                    *prefix,
                    str(bin_dir / "initdb"),
                    "--pgdata",
                    str(server.data_dir),
                    "--auth",
                    "trust",
                    "--username",
                    DATABASE_USER,
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C",
                    "--no-sync",
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            options = " ".join(
                [
                    "-c listen_addresses=''",
                    f"-c unix_socket_directories={root}",
                    f"-c fsync={'on' if durable else 'off'}",
                    f"-c full_page_writes={'on' if durable else 'off'}",
                    "-c max_connections=200",
                ]
            )
            subprocess.run(
                [
                    *prefix,
                    str(bin_dir / "pg_ctl"),
                    "--pgdata",
                    str(server.data_dir),
                    "--log",
                    str(root / "server.log"),
                    "--wait",
                    "--options",
                    options,
                    "start",
                ],
                check=True,
                capture_output=True,
                text=True,
            )
        except subprocess.CalledProcessError as exc:
            log = root / "server.log"
            detail = log.read_text(errors="replace") if log.exists() else ""
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(
                f"the test PostgreSQL server did not start: {exc.stderr}{detail}"
            ) from exc
        return server

    def stop(self) -> None:
        """Stop the server at once (nothing it holds is kept) and remove its directory."""
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(
                [
                    *_as_server_user(),
                    str(self.bin / "pg_ctl"),
                    "--pgdata",
                    str(self.data_dir),
                    "--mode",
                    "immediate",
                    "--wait",
                    "stop",
                ],
                check=True,
                capture_output=True,
            )
        shutil.rmtree(self.root, ignore_errors=True)

    def admin(self, sql: str, database: str = "postgres") -> None:
        """Run one statement as the superuser, outside a transaction."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as connection:
            connection.execute(sql.encode())

    def prepare(self) -> None:
        """Create the database the tests' states live in (one schema each)."""
        self.admin(f"CREATE DATABASE {DATABASE}")

    def new_state(self) -> str:
        """A fresh, empty state: a new schema, first on the URL's search_path; returns the URL.

        The runner creates its tables in it as in any new database (the migration is part of
        what is tested); a schema costs a few milliseconds where a database copies files.
        """
        name = f"t_{os.getpid()}_{next(self._numbers)}"
        self.admin(f"CREATE SCHEMA {name}", DATABASE)
        return f"{self.url(DATABASE)}&options=-csearch_path%3D{name}"

    def drop_state(self, url: str) -> None:
        """Drop a test's schema, first ending any connection a test left (a stopped runner)."""
        name = url.rsplit("%3D", 1)[1]
        self.admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{DATABASE}' AND pid != pg_backend_pid()",
            DATABASE,
        )
        self.admin(f"DROP SCHEMA IF EXISTS {name} CASCADE", DATABASE)
