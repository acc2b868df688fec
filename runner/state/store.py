"""The resume-state store: one SQLite file in WAL mode.

Durability discipline (SPEC §4): every method that changes state runs in one
`BEGIN IMMEDIATE` transaction and commits with `synchronous=FULL` before it
returns, so what it announces survives `kill -9` and power loss. Callers group
several changes into one call (several attempt starts, several outcomes) to
pay for one commit instead of many.

This module is the only place that speaks SQL; everything else sees records.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runner import failpoints
from runner.domain import queues as q
from runner.domain.policy import Standing, at_attempt_end
from runner.domain.runs import PHASE_DONE, TASK_RUNNING
from runner.domain.statuses import OK
from runner.errors import DiskFullError, StateError, UnsafePathError
from runner.fsutil import ensure_private_dir, ensure_private_file
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
from runner.state.schema import MIGRATIONS, SCHEMA_VERSION

_ITEM_COLUMNS = (
    "task, item_id, queue, entered_at, attributes, in_group, missing, attempts, retries_used, "
    "last_status, last_error, retry_at, running_attempt, pending_queue, updated"
)
_RUN_COLUMNS = (
    "id, task, site, trigger, fire_time, window_end, started_at, ended_at, phase, status, "
    "definition_hash, message"
)
_ATTEMPT_COLUMNS = (
    "id, task, item_id, run_id, site, number, definition_hash, started_at, ended_at, status, "
    "exit_code, signal, error, queue, duration_s, output_dir, checkpoints, events_read"
)
_TASK_COLUMNS = (
    "name, site, created, last_modified, last_modified_by, config_hash, status, command, "
    "latest_detail, sequence, last_fire, last_run_id"
)

BUSY_TIMEOUT_MS = 30_000


def _item(row: tuple[Any, ...]) -> ItemRow:
    (
        task,
        item_id,
        queue,
        entered_at,
        attributes,
        in_group,
        missing,
        attempts,
        retries_used,
        last_status,
        last_error,
        retry_at,
        running_attempt,
        pending_queue,
        updated,
    ) = row
    return ItemRow(
        task=task,
        item_id=item_id,
        queue=queue,
        entered_at=entered_at,
        attributes=json.loads(attributes),
        in_group=bool(in_group),
        missing=tuple(m for m in missing.split(",") if m),
        attempts=attempts,
        retries_used=retries_used,
        last_status=last_status,
        last_error=last_error,
        retry_at=retry_at,
        running_attempt=running_attempt,
        pending_queue=pending_queue,
        updated=updated,
    )


class StateStore:
    """The SQLite resume-state file. Not thread-safe: one per thread (the engine's main loop)."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self._depth = 0
        _refuse_unsafe_side_files(path)
        if readonly:
            if not path.exists():
                raise StateError(
                    f"no state file at {path}: nothing has run yet with this pipeline "
                    "(run `runner run` first, or check `settings.state`)"
                )
            uri = f"file:{path}?mode=ro"
            try:
                self._db = sqlite3.connect(uri, uri=True, isolation_level=None)
            except sqlite3.Error as exc:
                raise StateError(f"cannot open state file {path}: {exc}") from exc
        else:
            ensure_private_dir(path.parent)
            ensure_private_file(path)
            try:
                self._db = sqlite3.connect(path, isolation_level=None)
            except sqlite3.Error as exc:
                raise StateError(f"cannot open state file {path}: {exc}") from exc
        try:
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not readonly:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = FULL")
                self._db.execute("PRAGMA foreign_keys = ON")
                self._migrate()
            else:
                self._check_version()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StateError(
                f"{path} is not a readable state file ({exc}); "
                "restore it from a backup or point `settings.state` elsewhere"
            ) from exc

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        """Close the connection (a checkpoint of the WAL happens on the last close)."""
        self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_version(self) -> int:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self.path} was written by a newer version of the runner (schema {version}, "
                f"this one knows {SCHEMA_VERSION}); upgrade the runner"
            )
        return version

    def _migrate(self) -> None:
        with self._transaction():
            version = self._check_version()
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    self._db.execute(statement)
            if version < SCHEMA_VERSION:
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        if self._depth:  # inside batch(): the outer transaction commits
            yield self._db
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):  # nothing to roll back if COMMIT ended it
                self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError) and _disk_full(exc):
                raise DiskFullError(self.path) from exc
            raise
        finally:
            self._depth = 0

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group several changes (and the reads that decide them) into one durable commit.

        Everything done inside sees one consistent state (no other writer can slip in)
        and is durable together when the block ends, before the caller acts on it.
        """
        with self._transaction():
            yield

    @property
    def connection(self) -> sqlite3.Connection:
        """The underlying connection, for read-only report queries (runner.state.reports)."""
        return self._db

    def integrity_check(self) -> str:
        """Run `PRAGMA integrity_check`; 'ok' when the file is sound."""
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    # -- tasks ---------------------------------------------------------------

    def upsert_task(
        self, name: str, *, site: str, config_hash: str, modified_by: str, now: float
    ) -> TaskRow:
        """Record that a task exists; bump `last_modified` when its effective config changed."""
        with self._transaction() as db:
            row = db.execute("SELECT config_hash FROM tasks WHERE name = ?", (name,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO tasks (name, site, created, last_modified, last_modified_by, config_hash) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (name, site, now, now, modified_by, config_hash),
                )
            elif row[0] != config_hash:
                db.execute(
                    "UPDATE tasks SET site = ?, last_modified = ?, last_modified_by = ?, config_hash = ? "
                    "WHERE name = ?",
                    (site, now, modified_by, config_hash, name),
                )
        task = self.task(name)
        assert task is not None
        return task

    def task(self, name: str) -> TaskRow | None:
        """The task's row, or None if it never ran."""
        row = self._db.execute(
            f"SELECT {_TASK_COLUMNS} FROM tasks WHERE name = ?", (name,)
        ).fetchone()
        return TaskRow(*row) if row else None

    def tasks(self) -> list[TaskRow]:
        """Every task the state knows, by name."""
        return [
            TaskRow(*r)
            for r in self._db.execute(f"SELECT {_TASK_COLUMNS} FROM tasks ORDER BY name")
        ]

    def set_task_status(self, name: str, status: str, *, command: str | None = None) -> None:
        """Set a task's status (scheduled, running, idle, failed, disabled) and command in progress."""
        with self._transaction() as db:
            if command is None:
                db.execute("UPDATE tasks SET status = ? WHERE name = ?", (status, name))
            else:
                db.execute(
                    "UPDATE tasks SET status = ?, command = ? WHERE name = ?",
                    (status, command, name),
                )

    def mark_fire(self, name: str, fire: float) -> None:
        """Record a fire as handled without a run (its window had closed)."""
        with self._transaction() as db:
            db.execute("UPDATE tasks SET last_fire = ? WHERE name = ?", (fire, name))

    # -- runs ----------------------------------------------------------------

    def begin_run(
        self,
        run: RunRow,
        *,
        recurring: bool,
    ) -> None:
        """Record a new run; in recurring mode every finished item becomes eligible again."""
        with self._transaction() as db:
            db.execute(
                f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({', '.join('?' * 12)})",
                (
                    run.id,
                    run.task,
                    run.site,
                    run.trigger,
                    run.fire_time,
                    run.window_end,
                    run.started_at,
                    run.ended_at,
                    run.phase,
                    run.status,
                    run.definition_hash,
                    run.message,
                ),
            )
            if recurring:
                db.execute(
                    "UPDATE items SET queue = ?, entered_at = ?, retries_used = 0, retry_at = NULL "
                    "WHERE task = ? AND queue = ?",
                    (q.UNATTEMPTED, run.started_at, run.task, q.SUCCESSFUL),
                )
                db.execute(
                    "UPDATE items SET retries_used = 0, retry_at = NULL WHERE task = ? AND queue = ?",
                    (run.task, q.RETRY),
                )
            db.execute(
                "UPDATE tasks SET last_run_id = ?, last_fire = coalesce(?, last_fire), status = ? "
                "WHERE name = ?",
                (run.id, run.fire_time, TASK_RUNNING, run.task),
            )

    def set_run_phase(self, run_id: str, phase: str) -> None:
        """Advance a run to its next phase (before, items, after)."""
        with self._transaction() as db:
            db.execute("UPDATE runs SET phase = ? WHERE id = ?", (phase, run_id))

    def finish_run(
        self, run_id: str, *, status: str, message: str, now: float, task_status: str
    ) -> None:
        """Close a run with its final status."""
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET ended_at = ?, status = ?, phase = ?, message = ? WHERE id = ?",
                (now, status, PHASE_DONE, message, run_id),
            )
            db.execute(
                "UPDATE tasks SET status = ?, command = '' WHERE name = (SELECT task FROM runs WHERE id = ?)",
                (task_status, run_id),
            )

    def run(self, run_id: str) -> RunRow | None:
        """One run by id."""
        row = self._db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        return RunRow(*row) if row else None

    def open_runs(self, site: str) -> list[RunRow]:
        """Runs of this site that have not ended (left by a runner that died, or still going)."""
        return [
            RunRow(*r)
            for r in self._db.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE site = ? AND ended_at IS NULL ORDER BY started_at",
                (site,),
            )
        ]

    def last_run(self, task: str) -> RunRow | None:
        """The most recent run of a task."""
        row = self._db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE task = ? ORDER BY started_at DESC, rowid DESC LIMIT 1",
            (task,),
        ).fetchone()
        return RunRow(*row) if row else None

    # -- steps ---------------------------------------------------------------

    def step_status(self, run_id: str, phase: str) -> dict[int, str | None]:
        """Status of each recorded step of a run's phase (None: started, never finished)."""
        return {
            int(idx): status
            for idx, status in self._db.execute(
                "SELECT idx, status FROM steps WHERE run_id = ? AND phase = ?", (run_id, phase)
            )
        }

    def start_step(self, run_id: str, phase: str, idx: int, now: float) -> None:
        """Record durably that a step is about to be launched."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO steps (run_id, phase, idx, started_at) VALUES (?, ?, ?, ?)",
                (run_id, phase, idx, now),
            )

    def finish_step(
        self,
        run_id: str,
        phase: str,
        idx: int,
        *,
        status: str,
        exit_code: int | None,
        error: str | None,
        now: float,
    ) -> None:
        """Record a step's outcome."""
        with self._transaction() as db:
            db.execute(
                "UPDATE steps SET ended_at = ?, status = ?, exit_code = ?, error = ? "
                "WHERE run_id = ? AND phase = ? AND idx = ?",
                (now, status, exit_code, error, run_id, phase, idx),
            )

    # -- membership ----------------------------------------------------------

    def sync_members(
        self,
        task: str,
        members: Iterable[tuple[str, str, str]],
        *,
        now: float,
    ) -> SyncReport:
        """Bring the task's items in line with its group.

        `members` yields (item id, attributes as JSON, missing required attributes comma-joined).
        New members enter `unattempted` (or `incomplete` when attributes are missing);
        `incomplete` items whose attributes arrived move to `unattempted`; waiting items that
        lost a required attribute move to `incomplete`; members that left are flagged, not
        deleted (their history stays); `trash` and `incorrect-format` never come back.
        """
        with self._transaction() as db:
            db.execute("DROP TABLE IF EXISTS temp.incoming")
            db.execute(
                "CREATE TEMP TABLE incoming (item_id TEXT PRIMARY KEY, attributes TEXT, missing TEXT, "
                "pos INTEGER) WITHOUT ROWID"
            )
            db.executemany(
                "INSERT INTO temp.incoming VALUES (?, ?, ?, ?)",
                (
                    (item_id, attrs, missing, pos)
                    for pos, (item_id, attrs, missing) in enumerate(members)
                ),
            )
            total = int(db.execute("SELECT count(*) FROM temp.incoming").fetchone()[0])
            left = db.execute(
                "UPDATE items SET in_group = 0, updated = ? WHERE task = ? AND in_group = 1 "
                "AND item_id NOT IN (SELECT item_id FROM temp.incoming)",
                (now, task),
            ).rowcount
            db.execute(
                "UPDATE items SET in_group = 1, "
                "attributes = (SELECT attributes FROM temp.incoming i WHERE i.item_id = items.item_id), "
                "missing = (SELECT missing FROM temp.incoming i WHERE i.item_id = items.item_id) "
                "WHERE task = ? AND item_id IN (SELECT item_id FROM temp.incoming)",
                (task,),
            )
            completed = db.execute(
                "UPDATE items SET queue = ?, entered_at = ?, updated = ? "
                "WHERE task = ? AND queue = ? AND missing = '' AND in_group = 1",
                (q.UNATTEMPTED, now, now, task, q.INCOMPLETE),
            ).rowcount
            waiting = tuple(q.DISPATCH_ORDER)
            db.execute(
                f"UPDATE items SET queue = ?, entered_at = ?, updated = ?, pending_queue = NULL "
                f"WHERE task = ? AND missing != '' AND running_attempt IS NULL "
                f"AND queue IN ({', '.join('?' * len(waiting))})",
                (q.INCOMPLETE, now, now, task, *waiting),
            )
            added = db.execute(
                "INSERT INTO items (task, item_id, queue, entered_at, attributes, missing, updated) "
                "SELECT ?, i.item_id, CASE WHEN i.missing = '' THEN ? ELSE ? END, ? + i.pos * 1e-9, "
                "i.attributes, i.missing, ? FROM temp.incoming i "
                "WHERE NOT EXISTS (SELECT 1 FROM items t WHERE t.task = ? AND t.item_id = i.item_id) "
                "ORDER BY i.pos",
                (task, q.UNATTEMPTED, q.INCOMPLETE, now, now, task),
            ).rowcount
            incomplete = int(
                db.execute(
                    "SELECT count(*) FROM items WHERE task = ? AND queue = ? AND in_group = 1",
                    (task, q.INCOMPLETE),
                ).fetchone()[0]
            )
            db.execute("DROP TABLE temp.incoming")
        return SyncReport(
            total=total, added=added, incomplete=incomplete, completed=completed, left=left
        )

    # -- items ---------------------------------------------------------------

    def item(self, task: str, item_id: str) -> ItemRow | None:
        """One item of a task."""
        row = self._db.execute(
            f"SELECT {_ITEM_COLUMNS} FROM items WHERE task = ? AND item_id = ?", (task, item_id)
        ).fetchone()
        return _item(row) if row else None

    def eligible_items(
        self, task: str, *, now: float, in_schedule: bool, limit: int
    ) -> list[ItemRow]:
        """Items to dispatch next, in SPEC §3 order: run-now, rescheduled, retry (due), unattempted; FIFO.

        One statement: each queue's part walks the (task, queue, entered_at) index and stops at
        `limit`, so the cost does not grow with the number of waiting items.
        """
        parts = []
        args: list[object] = []
        for rank, queue in enumerate(q.DISPATCH_ORDER):
            if queue != q.RUN_NOW and not in_schedule:
                continue
            due = " AND (retry_at IS NULL OR retry_at <= ?)" if queue == q.RETRY else ""
            parts.append(
                f"SELECT * FROM (SELECT {rank} AS rank, rowid AS rid, {_ITEM_COLUMNS} FROM items "
                f"WHERE task = ? AND queue = ? AND in_group = 1 AND running_attempt IS NULL{due} "
                "ORDER BY entered_at, rowid LIMIT ?)"
            )
            args += [task, queue, *([now] if due else []), limit]
        sql = " UNION ALL ".join(parts) + " ORDER BY rank, entered_at, rid LIMIT ?"
        return [_item(r[2:]) for r in self._db.execute(sql, [*args, limit])]

    def items_with_checkpoints(self, task: str, item_ids: Sequence[str]) -> set[str]:
        """Which of these items have processed sub-ids recorded."""
        found: set[str] = set()
        for start in range(0, len(item_ids), 500):
            chunk = item_ids[start : start + 500]
            found.update(
                str(r[0])
                for r in self._db.execute(
                    "SELECT DISTINCT item_id FROM processed WHERE task = ? "
                    f"AND item_id IN ({', '.join('?' * len(chunk))})",
                    (task, *chunk),
                )
            )
        return found

    def next_retry_at(self, task: str) -> float | None:
        """When the earliest waiting retry of a task becomes due."""
        row = self._db.execute(
            "SELECT min(retry_at) FROM items WHERE task = ? AND queue = ? AND in_group = 1 "
            "AND running_attempt IS NULL",
            (task, q.RETRY),
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def count_waiting(self, task: str, queues: Sequence[str]) -> int:
        """How many in-group, not running items of a task wait in these queues."""
        row = self._db.execute(
            f"SELECT count(*) FROM items WHERE task = ? AND in_group = 1 AND running_attempt IS NULL "
            f"AND queue IN ({', '.join('?' * len(queues))})",
            (task, *queues),
        ).fetchone()
        return int(row[0])

    def queue_counts(self, task: str) -> dict[str, int]:
        """Number of items of a task (still in its group) in each queue."""
        return {
            str(queue): int(count)
            for queue, count in self._db.execute(
                "SELECT queue, count(*) FROM items WHERE task = ? AND in_group = 1 GROUP BY queue",
                (task,),
            )
        }

    def list_items(
        self,
        task: str,
        *,
        queues: Sequence[str] = (),
        match: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ItemRow]:
        """Items of a task, filtered, ordered by queue entry (oldest first)."""
        sql = f"SELECT {_ITEM_COLUMNS} FROM items WHERE task = ?"
        args: list[object] = [task]
        if queues:
            sql += f" AND queue IN ({', '.join('?' * len(queues))})"
            args.extend(queues)
        if match:
            sql += " AND (instr(lower(item_id), lower(?)) > 0 OR instr(lower(coalesce(last_error, '')), lower(?)) > 0)"
            args.extend([match, match])
        if status:
            sql += " AND last_status = ?"
            args.append(status)
        sql += " ORDER BY entered_at, rowid"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args.extend([limit, offset])
        return [_item(r) for r in self._db.execute(sql, args)]

    # -- attempts ------------------------------------------------------------

    def start_attempts(
        self, starts: Sequence[AttemptStart], *, command: str | None = None
    ) -> list[int]:
        """Record attempts as started, durably, before their processes are launched.

        Each start carries its attempt number (the item's attempts + 1, read in the same
        transaction). `command` (already masked) becomes the task's "command in progress".
        Returns the attempt ids, in order.
        """
        if not starts:
            return []
        with self._transaction() as db:
            first = int(db.execute("SELECT coalesce(max(id), 0) FROM attempts").fetchone()[0]) + 1
            ids = list(range(first, first + len(starts)))
            db.executemany(
                "INSERT INTO attempts (id, task, item_id, run_id, site, number, definition_hash, started_at, "
                "output_dir) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        attempt_id,
                        s.task,
                        s.item_id,
                        s.run_id,
                        s.site,
                        s.number,
                        s.definition_hash,
                        s.started_at,
                        s.output_dir,
                    )
                    for attempt_id, s in zip(ids, starts, strict=True)
                ],
            )
            db.executemany(
                "UPDATE items SET attempts = ?, running_attempt = ?, updated = ? WHERE task = ? AND item_id = ?",
                [
                    (s.number, attempt_id, s.started_at, s.task, s.item_id)
                    for attempt_id, s in zip(ids, starts, strict=True)
                ],
            )
            if command is not None:
                db.execute("UPDATE tasks SET command = ? WHERE name = ?", (command, starts[0].task))
        return ids

    def finish_attempts(
        self,
        ends: Sequence[AttemptEnd],
        checkpoints: Sequence[tuple[int, Checkpoint, float]] = (),
    ) -> list[tuple[AttemptEnd, str]]:
        """Record outcomes (and pending checkpoints) in one durable transaction.

        An operator move made while the attempt ran takes effect now and wins over the
        policy's decision (`policy.at_attempt_end`); only the item's last move is marked
        applied, earlier ones it replaced stay unapplied. Returns each end with the queue
        the item actually entered.
        """
        applied: list[tuple[AttemptEnd, str]] = []
        with self._transaction() as db:
            self._write_checkpoints(db, checkpoints)
            if not ends:
                return applied
            ids = [end.attempt_id for end in ends]
            pending: dict[int, str] = {}
            for chunk in _chunks(ids, 500):
                pending.update(
                    (int(a), str(p))
                    for a, p in db.execute(
                        f"SELECT running_attempt, pending_queue FROM items WHERE pending_queue IS NOT NULL "
                        f"AND running_attempt IN ({', '.join('?' * len(chunk))})",
                        chunk,
                    )
                )
            attempt_rows = []
            item_rows = []
            sequence: dict[str, int] = {}
            for end in ends:
                decided = Standing(end.queue, end.retries_used, end.retry_at)
                standing = at_attempt_end(decided, pending.get(end.attempt_id))
                queue, retry_at = standing.queue, standing.retry_at
                attempt_rows.append(
                    (
                        end.launched_at,
                        end.ended_at,
                        end.status,
                        end.exit_code,
                        end.signal,
                        end.error,
                        queue,
                        end.duration_s,
                        end.attempt_id,
                    )
                )
                item_rows.append(
                    (
                        queue,
                        end.ended_at,
                        end.status,
                        end.error,
                        retry_at,
                        standing.retries_used,
                        end.ended_at,
                        end.task,
                        end.item_id,
                        end.attempt_id,
                    )
                )
                if end.status == OK:
                    sequence[end.task] = sequence.get(end.task, 0) + 1
                applied.append((end, queue))
            db.executemany(
                "UPDATE attempts SET started_at = coalesce(?, started_at), ended_at = ?, status = ?, "
                "exit_code = ?, signal = ?, error = ?, queue = ?, duration_s = ? "
                "WHERE id = ? AND ended_at IS NULL",
                attempt_rows,
            )
            db.executemany(
                "UPDATE items SET queue = ?, entered_at = ?, last_status = ?, last_error = ?, retry_at = ?, "
                "retries_used = ?, running_attempt = NULL, pending_queue = NULL, updated = ? "
                "WHERE task = ? AND item_id = ? AND running_attempt = ?",
                item_rows,
            )
            if pending:
                by_id = {end.attempt_id: end for end in ends}
                db.executemany(
                    "UPDATE moves SET applied_at = ? WHERE id = (SELECT max(id) FROM moves "
                    "WHERE task = ? AND item_id = ? AND applied_at IS NULL)",
                    [(by_id[a].ended_at, by_id[a].task, by_id[a].item_id) for a in pending],
                )
            db.executemany(
                "UPDATE tasks SET sequence = sequence + ? WHERE name = ?",
                [(n, t) for t, n in sequence.items()],
            )
        return applied

    def attempts_with_pending_moves(self) -> set[int]:
        """Running attempts whose item an operator moved meanwhile (a small partial index)."""
        return {
            int(r[0])
            for r in self._db.execute(
                "SELECT running_attempt FROM items "
                "WHERE pending_queue IS NOT NULL AND running_attempt IS NOT NULL"
            )
        }

    def cancel_attempts(self, attempt_ids: Sequence[int]) -> None:
        """Undo attempts recorded but never launched (a stop or a closed window came first)."""
        with self._transaction() as db:
            for attempt_id in attempt_ids:
                row = db.execute(
                    "SELECT task, item_id FROM attempts WHERE id = ? AND ended_at IS NULL",
                    (attempt_id,),
                ).fetchone()
                if row is None:
                    continue
                task, item_id = row
                db.execute("DELETE FROM attempts WHERE id = ?", (attempt_id,))
                pending = db.execute(
                    "SELECT pending_queue FROM items WHERE task = ? AND item_id = ? AND running_attempt = ?",
                    (task, item_id, attempt_id),
                ).fetchone()
                db.execute(
                    "UPDATE items SET attempts = attempts - 1, running_attempt = NULL, "
                    "queue = coalesce(pending_queue, queue), pending_queue = NULL "
                    "WHERE task = ? AND item_id = ? AND running_attempt = ?",
                    (task, item_id, attempt_id),
                )
                if pending and pending[0]:
                    db.execute(
                        "UPDATE moves SET applied_at = (SELECT updated FROM items WHERE task = ? AND item_id = ?) "
                        "WHERE id = (SELECT max(id) FROM moves WHERE task = ? AND item_id = ? "
                        "AND applied_at IS NULL)",
                        (task, item_id, task, item_id),
                    )

    def open_attempts(self, site: str) -> list[AttemptRow]:
        """Attempts of this site recorded as started and never finished."""
        return [
            AttemptRow(*r)
            for r in self._db.execute(
                f"SELECT {_ATTEMPT_COLUMNS} FROM attempts WHERE site = ? AND ended_at IS NULL ORDER BY id",
                (site,),
            )
        ]

    def attempts_of(self, task: str, item_id: str) -> list[AttemptRow]:
        """Every attempt of one item, oldest first."""
        return [
            AttemptRow(*r)
            for r in self._db.execute(
                f"SELECT {_ATTEMPT_COLUMNS} FROM attempts WHERE task = ? AND item_id = ? ORDER BY id",
                (task, item_id),
            )
        ]

    def attempt(self, attempt_id: int) -> AttemptRow | None:
        """One attempt by id."""
        row = self._db.execute(
            f"SELECT {_ATTEMPT_COLUMNS} FROM attempts WHERE id = ?", (attempt_id,)
        ).fetchone()
        return AttemptRow(*row) if row else None

    def run_error_items(self, run_id: str) -> int:
        """Items whose latest attempt in this run left them in an error queue."""
        errors = tuple(sorted(q.ERROR_QUEUES))
        row = self._db.execute(
            f"SELECT count(*) FROM attempts a WHERE a.run_id = ? AND a.ended_at IS NOT NULL "
            f"AND a.queue IN ({', '.join('?' * len(errors))}) "
            "AND a.id = (SELECT max(b.id) FROM attempts b WHERE b.task = a.task AND b.item_id = a.item_id "
            "AND b.run_id = a.run_id)",
            (run_id, *errors),
        ).fetchone()
        return int(row[0])

    # -- checkpoints ---------------------------------------------------------

    def _write_checkpoints(
        self, db: sqlite3.Connection, checkpoints: Sequence[tuple[int, Checkpoint, float]]
    ) -> None:
        for number, (attempt_id, event, at) in enumerate(checkpoints):
            if number == 1:
                failpoints.hit("during-checkpoint-write")  # one row written, the rest not
            if event.kind == "processed":
                db.execute(
                    "INSERT OR IGNORE INTO processed (task, item_id, sub_id, attempt_id, at) "
                    "SELECT task, item_id, ?, id, ? FROM attempts WHERE id = ?",
                    (event.value, at, attempt_id),
                )
            else:
                db.execute(
                    "INSERT INTO events (attempt_id, kind, value, at) VALUES (?, ?, ?, ?)",
                    (attempt_id, event.kind, event.value, at),
                )
                if event.kind == "detail":
                    db.execute(
                        "UPDATE tasks SET latest_detail = ? WHERE name = (SELECT task FROM attempts WHERE id = ?)",
                        (event.value, attempt_id),
                    )
            valid = 0 if event.kind == "invalid" else 1
            db.execute(
                "UPDATE attempts SET checkpoints = checkpoints + ?, events_read = events_read + 1 WHERE id = ?",
                (valid, attempt_id),
            )

    def processed_subids(self, task: str, item_id: str) -> Iterator[str]:
        """Every sub-id already processed for an item, across all attempts."""
        for (sub_id,) in self._db.execute(
            "SELECT sub_id FROM processed WHERE task = ? AND item_id = ? ORDER BY at",
            (task, item_id),
        ):
            yield str(sub_id)

    # -- moves ---------------------------------------------------------------

    def move_item(
        self, task: str, item_id: str, *, to_queue: str, by: str, reason: str, now: float
    ) -> MoveRow:
        """Move one item by hand; a running item's move waits for its attempt to end."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT queue, running_attempt FROM items WHERE task = ? AND item_id = ?",
                (task, item_id),
            ).fetchone()
            if row is None:
                raise StateError(f"task {task!r} has no item {item_id!r}")
            from_queue, running = row
            failpoints.hit("during-move")
            applied = None if running is not None else now
            if running is not None:
                db.execute(
                    "UPDATE items SET pending_queue = ?, updated = ? WHERE task = ? AND item_id = ?",
                    (to_queue, now, task, item_id),
                )
            else:
                db.execute(
                    "UPDATE items SET queue = ?, entered_at = ?, retry_at = NULL, retries_used = 0, updated = ? "
                    "WHERE task = ? AND item_id = ?",
                    (to_queue, now, now, task, item_id),
                )
            cursor = db.execute(
                "INSERT INTO moves (task, item_id, at, by, from_queue, to_queue, reason, applied_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (task, item_id, now, by, from_queue, to_queue, reason, applied),
            )
            return MoveRow(
                int(cursor.lastrowid or 0),
                task,
                item_id,
                now,
                by,
                from_queue,
                to_queue,
                reason,
                applied,
            )

    def moves_of(self, task: str, item_id: str) -> list[MoveRow]:
        """Every operator move of one item, oldest first."""
        return [
            MoveRow(*r)
            for r in self._db.execute(
                "SELECT id, task, item_id, at, by, from_queue, to_queue, reason, applied_at FROM moves "
                "WHERE task = ? AND item_id = ? ORDER BY id",
                (task, item_id),
            )
        ]

    # -- workers -------------------------------------------------------------

    def heartbeat(self, worker: WorkerRow) -> None:
        """Record this runner's state for its site (not fsync-critical: NORMAL durability is enough)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO workers (site, state, pid, host, started_at, heartbeat, items_done, "
                "throughput) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    worker.site,
                    worker.state,
                    worker.pid,
                    worker.host,
                    worker.started_at,
                    worker.heartbeat,
                    worker.items_done,
                    worker.throughput,
                ),
            )

    def workers(self) -> list[WorkerRow]:
        """Every site's last known runner."""
        return [
            WorkerRow(*r)
            for r in self._db.execute(
                "SELECT site, state, pid, host, started_at, heartbeat, items_done, throughput FROM workers "
                "ORDER BY site"
            )
        ]


def _disk_full(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_FULL: the disk (or a quota) is full."""
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(
        exc
    )


def _refuse_unsafe_side_files(path: Path) -> None:
    """SQLite opens `<state>-wal`, `-shm` and `-journal` itself, following symlinks: refuse those."""
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        if side.is_symlink():
            raise UnsafePathError(
                f"{side} is a symbolic link; the runner refuses to write through it "
                "(remove it: SQLite creates this file itself)"
            )
        if side.exists() and not side.is_file():
            raise UnsafePathError(
                f"{side} is not a regular file; remove it (SQLite creates this file itself)"
            )


def _chunks(values: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def open_store(path: Path, *, readonly: bool = False) -> StateStore:
    """Open (creating and migrating when writable) the state file at `path`."""
    return StateStore(path, readonly=readonly)


def state_disk_free(path: Path) -> int:
    """Bytes free on the file system holding `path` (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    info = os.statvfs(probe)
    return info.f_bavail * info.f_frsize
