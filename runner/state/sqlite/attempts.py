"""Attempt rows: recorded before launch, finished with their outcome, undone if never launched."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from runner.domain import queues as q
from runner.domain.policy import Standing, at_attempt_end
from runner.domain.statuses import OK
from runner.state.database import RecordDatabase
from runner.state.records import AttemptEnd, AttemptRow, AttemptStart, Checkpoint
from runner.state.sqlite.checkpoints import write_checkpoints

ATTEMPT_COLUMNS = (
    "id, task, item_id, run_id, site, number, definition_hash, started_at, ended_at, status, "
    "exit_code, signal, error, queue, duration_s, output_dir, checkpoints, events_read, runner"
)


def _chunks(values: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    """`values` in slices of at most `size` (SQLite binds a bounded number of parameters)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


class AttemptRecords(RecordDatabase):
    """Attempts of items: start, outcome, cancellation, lookups."""

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
                "output_dir, runner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                        s.runner,
                    )
                    for attempt_id, s in zip(ids, starts, strict=True)
                ],
            )
            # the claim: an item another runner of a shared state claimed meanwhile is not
            # taken again (writers take turns, so this never happens unless a rule is broken)
            updated = db.executemany(
                "UPDATE items SET attempts = ?, running_attempt = ?, updated = ? WHERE task = ? AND item_id = ? "
                "AND running_attempt IS NULL",
                [
                    (s.number, attempt_id, s.started_at, s.task, s.item_id)
                    for attempt_id, s in zip(ids, starts, strict=True)
                ],
            )
            self.expect_rows(updated, len(starts), "recording attempts as started on their items")
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
            write_checkpoints(db, checkpoints)
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
            updated = db.executemany(
                "UPDATE items SET queue = ?, entered_at = ?, last_status = ?, last_error = ?, retry_at = ?, "
                "retries_used = ?, running_attempt = NULL, pending_queue = NULL, updated = ? "
                "WHERE task = ? AND item_id = ? AND running_attempt = ?",
                item_rows,
            )
            self.expect_rows(updated, len(item_rows), "recording outcomes on their items")
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

    def open_attempts(self, site: str, runners: Sequence[str] | None = None) -> list[AttemptRow]:
        """Attempts of this site recorded as started and never finished (only those of
        `runners`, when given)."""
        rows = [
            AttemptRow(*r)
            for r in self._db.execute(
                f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE site = ? AND ended_at IS NULL ORDER BY id",
                (site,),
            )
        ]
        return rows if runners is None else [r for r in rows if r.runner in runners]

    def open_attempts_of_run(self, run_id: str) -> int:
        """How many attempts of the run are recorded as started and not finished (every runner's)."""
        row = self._db.execute(
            "SELECT count(*) FROM attempts WHERE run_id = ? AND ended_at IS NULL", (run_id,)
        ).fetchone()
        return int(row[0])

    def attempts_of(self, task: str, item_id: str) -> list[AttemptRow]:
        """Every attempt of one item, oldest first."""
        return [
            AttemptRow(*r)
            for r in self._db.execute(
                f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE task = ? AND item_id = ? ORDER BY id",
                (task, item_id),
            )
        ]

    def attempt(self, attempt_id: int) -> AttemptRow | None:
        """One attempt by id."""
        row = self._db.execute(
            f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE id = ?", (attempt_id,)
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
