"""The PostgreSQL state: the connection, its schema, transactions, the site lock.

Durability (SPEC §4, §8): every method that changes state is one transaction, committed
before it returns (the server's default `synchronous_commit` is durable). `batch()` promises
that no other writer slips in between its reads and its writes: each write transaction first
takes the state's write lock (`pg_advisory_xact_lock`), so writers take turns as on SQLite.
The schema is created and upgraded by the runner under another advisory lock; a schema newer
than this code is refused.

Several runners of one site share it: each holds a lease (runner.state.sqlite.workers), and
once a runner has registered, every write transaction it opens first checks, under the write
lock, that its lease is still its own (`fence`): a runner that was taken over while it slept
writes nothing more. What needs the site to itself (`runner state copy`) takes a session
advisory lock keyed by the site and refuses while a runner of it holds a live lease
(`hold_site`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from runner.errors import (
    LeaseLostError,
    SiteHeldError,
    StateError,
    StateReadOnlyError,
    StateSchemaError,
    StateUnreachableError,
)
from runner.state.database import RecordDatabase
from runner.state.postgresql.dialect import COMPAT_FUNCTIONS, schema_statements, translate
from runner.state.sqlite.migrations import SCHEMA_VERSION
from runner.state.sqlite.tables import TABLES

if TYPE_CHECKING:
    import psycopg

LOCK_SPACE = 0x52554E52
"""The first key of every advisory lock the runner takes ("RUNR")."""
WRITE_LOCK_SPACE = LOCK_SPACE + 1
"""The first key of the lock each write transaction holds until it commits (and of the one
held while the schema is created or upgraded); the second is the hash of the schema's name,
so states in different schemas of one database never wait for each other."""
SITE_LOCK_SPACE = LOCK_SPACE + 2
"""The first key of a site's runner lock; the second is the hash of schema and site."""


IDLE_IN_TRANSACTION_MS = 10_000
"""How long a writer's transaction may wait between two statements before the server ends
its session (a runner renders templates inside its cycle's transaction: at most a few
seconds; one stopped or cut off past this loses its session, and with it the write lock).
A runner with a lease sets half its lease when that is shorter (`fence`)."""
IDLE_IN_TRANSACTION_MIN_MS = 1_000
"""The shortest: a template may take up to a second or two to render inside a transaction."""


class NoStateError(StateError):
    """Raised when a database opened read-only holds no runner state yet."""


class PgCursor:
    """A statement's result as the record modules read it (rowcount, lastrowid, rows)."""

    def __init__(self, cursor: psycopg.Cursor[Any], returns_id: bool) -> None:
        self._cursor = cursor
        self.lastrowid: int | None = None
        if returns_id:
            ids = cursor.fetchall()
            self.lastrowid = int(ids[-1][0]) if ids else None

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)


class PgConnection:
    """The connection the record modules run their (SQLite-dialect) statements on."""

    def __init__(self, connection: psycopg.Connection[Any], url: str) -> None:
        self.raw = connection
        self._url = url

    def execute(self, sql: str, parameters: Any = (), /) -> PgCursor:
        statement = translate(sql)
        with self._told():
            cursor = self.raw.execute(statement.sql, _params(parameters))
            return PgCursor(cursor, statement.returns_id)

    def executemany(self, sql: str, parameters: Any, /) -> PgCursor:
        statement = translate(sql, many=True)
        with self._told():
            cursor = self.raw.cursor()
            cursor.executemany(statement.sql, [_params(p) for p in parameters])
            return PgCursor(cursor, returns_id=False)

    @contextmanager
    def _told(self) -> Iterator[None]:
        """A lost connection or a server gone away, told as a StateError (no traceback)."""
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            if _lost(self.raw, exc):
                raise StateUnreachableError(self._url, _reason(exc)) from exc
            raise


def _params(parameters: Any) -> Sequence[Any]:
    return tuple(parameters) if not isinstance(parameters, Sequence) else parameters


def connect(url: str, *, readonly: bool) -> psycopg.Connection[Any]:
    """A connection to the database at `url` (errors told as StateError, the URL unrepeated
    beyond what it holds: it carries no password)."""
    try:
        import psycopg
        from psycopg.adapt import Loader
    except ImportError as exc:
        raise StateError(
            "settings.state names a PostgreSQL database, but the PostgreSQL driver is not "
            "installed: pip install 'yaml-pipeline-runner[postgresql]'"
        ) from exc

    class NumberLoader(Loader):
        """Sums of integer columns come back as numeric: an int when whole, else a float."""

        def load(self, data: Any) -> int | float:
            value = Decimal(bytes(data).decode("ascii"))
            return int(value) if value == value.to_integral_value() else float(value)

    try:
        connection = psycopg.connect(url, autocommit=True, application_name="runner")
    except psycopg.Error as exc:
        raise StateError(f"cannot connect to the state database {url}: {_reason(exc)}") from exc
    connection.adapters.register_loader("numeric", NumberLoader)
    if readonly:
        connection.execute("SET default_transaction_read_only = on")
    else:
        # a runner stopped (SIGSTOP) or cut off inside a transaction would hold the write lock
        # for ever: the server ends its session instead, and the other runners go on
        connection.execute(f"SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_MS}")
    return connection


def _lost(connection: psycopg.Connection[Any], exc: BaseException) -> bool:
    """Whether `exc` means the session is gone: the server or the network failed, or the
    server ended it (a transaction left idle too long: IDLE_IN_TRANSACTION_MS)."""
    import psycopg

    return (
        isinstance(exc, (psycopg.OperationalError, psycopg.errors.IdleInTransactionSessionTimeout))
        or connection.closed
        or connection.broken
    )


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class PostgresDatabase(RecordDatabase):
    """One connection to the state database. Not thread-safe: one per thread.

    `path`: the local path this host's side files (launch journals, the runner lock file)
    are named after.
    """

    shared = True

    def __init__(self, url: str, side: Path, *, readonly: bool = False) -> None:
        self.url = url
        self.path = side
        self._fence: tuple[str, str, int] | None = None
        self.fence_passed_at = 0.0
        """When (time.monotonic) a write transaction last found this runner's lease held."""
        self._depth = 0
        self._own_changes = 0
        self._raw = connect(url, readonly=readonly)
        self._pg = PgConnection(self._raw, url)
        self._db = self._pg
        try:
            version = self._version()
            if version is None and readonly:
                raise NoStateError(
                    f"the database {url} holds no runner state yet: nothing has run with this "
                    "pipeline (run `runner run` first, or check `settings.state`)"
                )
            if not readonly and (version is None or version < SCHEMA_VERSION):
                self._migrate()
            elif readonly and version is not None and version < SCHEMA_VERSION:
                raise StateError(
                    f"the state database {url} was written by an older runner (schema "
                    f"{version}, this one knows {SCHEMA_VERSION}): start a runner once (`runner "
                    "run` or `runner serve`), which upgrades it, then look again"
                )
        except BaseException:
            self._raw.close()
            raise

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        """Close the connection (the site lock, when held, goes with it)."""
        self._raw.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _version(self) -> int | None:
        """The schema version of the database (None: no runner state in it yet)."""
        found = self._raw.execute("SELECT to_regclass('runner_meta')").fetchone()
        if found is None or found[0] is None:
            return None
        row = self._raw.execute(
            "SELECT value FROM runner_meta WHERE key = 'schema_version'"
        ).fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StateSchemaError(
                f"the database {self.url} was written by a newer version of the runner (schema "
                f"{version}, this one knows {SCHEMA_VERSION}); upgrade the runner"
            )
        return version

    def _migrate(self) -> None:
        with self._raw.transaction():
            self._raw.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", (WRITE_LOCK_SPACE,)
            )
            version = self._version()  # again: another runner may have migrated meanwhile
            if version is None:
                self._raw.execute(
                    "CREATE TABLE runner_meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)"
                )
                self._raw.execute(
                    "INSERT INTO runner_meta VALUES ('schema_version', 0), ('changes', 0)"
                )
                for function in COMPAT_FUNCTIONS:
                    self._raw.execute(function.encode())
                version = 0
            for statement in schema_statements(version):
                self._raw.execute(statement.encode())
            self._raw.execute(
                "UPDATE runner_meta SET value = %s WHERE key = 'schema_version'",
                (SCHEMA_VERSION,),
            )

    @contextmanager
    def _transaction(self) -> Iterator[PgConnection]:
        import psycopg

        if self._depth:  # inside batch(): the outer transaction commits
            yield self._pg
            return
        self._depth = 1
        try:
            with self._raw.transaction():
                self._raw.execute(
                    "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))",
                    (WRITE_LOCK_SPACE,),
                )
                if self._fence is not None:
                    self._check_fence(*self._fence)
                yield self._pg
                self._raw.execute("UPDATE runner_meta SET value = value + 1 WHERE key = 'changes'")
            self._own_changes += 1
        except psycopg.errors.ReadOnlySqlTransaction as exc:
            raise StateReadOnlyError(
                f"the state database {self.url} was opened read-only: nothing can be changed"
            ) from exc
        except psycopg.Error as exc:
            if _lost(self._raw, exc):
                raise StateUnreachableError(self.url, _reason(exc)) from exc
            raise
        finally:
            self._depth = 0

    def fence(self, site: str, instance: str, epoch: int, *, lease: float = 60.0) -> None:
        """From now on, every write transaction first checks (under the write lock) that the
        runner `instance` of `site` still holds its lease at `epoch`: LeaseLostError if a live
        runner took it over or a later start of that identity registered meanwhile.

        And a transaction of this runner left idle for half its lease (at most
        IDLE_IN_TRANSACTION_MS) ends its session: stopped while holding the write lock, it
        frees it before its lease expires, so the others can renew theirs and take it over."""
        self._fence = (site, instance, epoch)
        idle = max(IDLE_IN_TRANSACTION_MIN_MS, min(IDLE_IN_TRANSACTION_MS, int(lease * 500)))
        self._raw.execute(f"SET idle_in_transaction_session_timeout = {idle}")

    def _check_fence(self, site: str, instance: str, epoch: int) -> None:
        checked = time.monotonic()
        row = self._raw.execute(
            "SELECT epoch, lost_at FROM runners WHERE site = %s AND instance = %s",
            (site, instance),
        ).fetchone()
        if row is None or int(row[0]) != epoch or row[1] is not None:
            raise LeaseLostError(instance, epoch, None if row is None else int(row[0]))
        self.fence_passed_at = checked

    def expect_rows(self, cursor: Any, count: int, what: str) -> None:
        """A write that must change exactly `count` rows did, or the state is not what it must be."""
        if cursor.rowcount != count:
            raise StateError(
                f"the state database {self.url}: {what} changed {cursor.rowcount} row(s) where "
                f"it must change {count}"
            )

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group several changes (and the reads that decide them) into one durable commit.

        The write lock is taken first, so no other writer slips in between its reads and its
        writes; everything is durable together when the block ends.
        """
        with self._transaction():
            yield

    @property
    def connection(self) -> PgConnection:
        """The (translating) connection, for tests and benchmarks that inspect the state directly."""
        return self._pg

    def copy_to(self, target: Path) -> None:
        """A PostgreSQL state is backed up with the server's tools, not copied to a file."""
        raise StateError(
            f"the state lives in the database {self.url}: back it up with pg_dump (and restore "
            "it with pg_restore); `runner state copy` copies it into a SQLite file"
        )

    def change_counter(self) -> int:
        """How many write transactions other connections committed (a counter row each bumps).

        Every write transaction adds one to the row `changes` of `runner_meta` before it
        commits (under the write lock, so the bumps never collide); this connection's own
        commits are taken off, so the number moves only when someone else wrote.
        """
        row = self._raw.execute("SELECT value FROM runner_meta WHERE key = 'changes'").fetchone()
        return (int(row[0]) if row else 0) - self._own_changes

    def restart_ids(self) -> None:
        """Move each identity column's sequence past the largest id written (after a copy)."""
        with self._transaction():
            for table in TABLES.values():
                column = "id" if table.integer_id else "rowid" if table.rowid else None
                if column is not None:
                    self._raw.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column}'), "
                        f"max({column})) FROM {table.name} HAVING max({column}) IS NOT NULL"
                    )

    def hold_site(self, site: str) -> None:
        """Have the site to this connection alone for its life, or refuse at once: no other
        holder, and no runner of the site with a live lease."""
        row = self._raw.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(current_schema() || '/' || %s))",
            (SITE_LOCK_SPACE, site),
        ).fetchone()
        if row is None or not row[0]:
            raise SiteHeldError(self.url, site, None, None)
        holder = self._raw.execute(
            "SELECT host, pid FROM runners WHERE site = %s AND lost_at IS NULL "
            "AND state <> 'offline' AND lease_until >= extract(epoch from clock_timestamp())",
            (site,),
        ).fetchone()
        if holder is not None:
            raise SiteHeldError(self.url, site, *holder)
