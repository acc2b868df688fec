"""Retention: finding what may be pruned, and removing it in bounded batches.

The rules live in the WHERE clauses below and are checked again inside the deleting
transaction, so a runner working meanwhile can never lose what it needs:

- nothing of a run that has not ended (its attempts, its steps, its row);
- never an item's latest finished attempt (an attempt is prunable only when a later attempt
  of the same item has finished: an attempt still open may yet be cancelled);
- never a task's most recent run, nor a run some attempt still belongs to;
- processed sub-ids and operator moves belong to the item, not to an attempt: never touched.
"""

from __future__ import annotations

from collections.abc import Sequence

from runner.state.database import RecordDatabase
from runner.state.records import AttemptRow, RunRow
from runner.state.sqlite.attempts import ATTEMPT_COLUMNS
from runner.state.sqlite.runs import RUN_COLUMNS

_PRUNABLE_ATTEMPT = (
    "a.ended_at IS NOT NULL "
    "AND NOT EXISTS (SELECT 1 FROM runs o WHERE o.id = a.run_id AND o.ended_at IS NULL) "
    "AND EXISTS (SELECT 1 FROM attempts b WHERE b.task = a.task AND b.item_id = a.item_id "
    "AND b.id > a.id AND b.ended_at IS NOT NULL)"
)
"""An attempt that ended, in a run that ended, with a later finished attempt of its item."""

_ENDED_EARLIER_RUN = (
    "r.ended_at IS NOT NULL "
    "AND r.id IS NOT (SELECT last_run_id FROM tasks t WHERE t.name = r.task) "
    "AND EXISTS (SELECT 1 FROM runs n WHERE n.task = r.task AND n.started_at > r.started_at)"
)
"""A run that ended and is not its task's most recent."""

_PRUNABLE_RUN = (
    f"{_ENDED_EARLIER_RUN} AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.run_id = r.id "
    f"AND NOT ({_PRUNABLE_ATTEMPT}))"
)
"""Such a run whose attempts may all go (a dry run counts it before they are gone)."""

_EMPTY_RUN = f"{_ENDED_EARLIER_RUN} AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.run_id = r.id)"
"""Such a run with no attempt left: the only kind `delete_runs` removes."""

_COLUMNS = ", ".join(f"a.{c.strip()}" for c in ATTEMPT_COLUMNS.split(","))
_RUN_COLUMNS = ", ".join(f"r.{c.strip()}" for c in RUN_COLUMNS.split(","))


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))


class PruneRecords(RecordDatabase):
    """What `runner prune` asks of the state: candidates by page, and their removal.

    A state file written before retention existed, opened read-only (so not migrated), has no
    `attempts.output_pruned_at`: read as "nothing pruned yet".
    """

    def _knows_pruning(self) -> bool:
        known: bool | None = getattr(self, "_pruned_column", None)
        if known is None:
            columns = {str(r[1]) for r in self._db.execute("PRAGMA table_info(attempts)")}
            known = self._pruned_column = "output_pruned_at" in columns
        return known

    def prunable_outputs(
        self, *, ended_before: float, after_id: int, limit: int
    ) -> list[AttemptRow]:
        """Attempts (id > `after_id`, by id, at most `limit`) whose output files may go.

        They ended before `ended_before`, their output was not pruned yet, and they are not
        their item's latest finished attempt nor part of an open run.
        """
        not_yet = "AND a.output_pruned_at IS NULL " if self._knows_pruning() else ""
        return [
            AttemptRow(*row)
            for row in self._db.execute(
                f"SELECT {_COLUMNS} FROM attempts a WHERE a.id > ? AND a.ended_at < ? {not_yet}"
                f"AND a.output_dir != '' AND {_PRUNABLE_ATTEMPT} ORDER BY a.id LIMIT ?",
                (after_id, ended_before, limit),
            )
        ]

    def mark_outputs_pruned(self, attempt_ids: Sequence[int], *, now: float) -> None:
        """Record that these attempts' output files were removed, in one transaction. Durable."""
        if not attempt_ids:
            return
        with self._transaction() as db:
            db.execute(
                f"UPDATE attempts SET output_pruned_at = ? WHERE id IN ({_marks(attempt_ids)})",
                (now, *attempt_ids),
            )

    def outputs_pruned(self, task: str, item_id: str) -> dict[int, float]:
        """When the output of each attempt of an item was pruned (attempt id -> time)."""
        if not self._knows_pruning():
            return {}
        return {
            int(attempt_id): float(at)
            for attempt_id, at in self._db.execute(
                "SELECT id, output_pruned_at FROM attempts WHERE task = ? AND item_id = ? "
                "AND output_pruned_at IS NOT NULL",
                (task, item_id),
            )
        }

    def prunable_attempts(
        self, *, run_ended_before: float, after_id: int, limit: int
    ) -> list[AttemptRow]:
        """Attempts (id > `after_id`, by id, at most `limit`) whose rows may go.

        They belong to runs that ended before `run_ended_before` and are not their item's
        latest finished attempt.
        """
        return [
            AttemptRow(*row)
            for row in self._db.execute(
                f"SELECT {_COLUMNS} FROM attempts a WHERE a.id > ? "
                "AND (SELECT r.ended_at FROM runs r WHERE r.id = a.run_id) < ? "
                f"AND {_PRUNABLE_ATTEMPT} ORDER BY a.id LIMIT ?",
                (after_id, run_ended_before, limit),
            )
        ]

    def delete_attempts(self, attempt_ids: Sequence[int]) -> int:
        """Delete these attempts and the events they announced, in one transaction. Durable.

        The rule is checked again: an attempt that is no longer prunable stays. Processed
        sub-ids are kept (they belong to the item). Returns how many were deleted.
        """
        if not attempt_ids:
            return 0
        with self._transaction() as db:
            gone = [
                int(r[0])
                for r in db.execute(
                    f"SELECT a.id FROM attempts a WHERE a.id IN ({_marks(attempt_ids)}) "
                    f"AND {_PRUNABLE_ATTEMPT}",
                    tuple(attempt_ids),
                )
            ]
            if gone:
                db.execute(f"DELETE FROM events WHERE attempt_id IN ({_marks(gone)})", tuple(gone))
                db.execute(f"DELETE FROM attempts WHERE id IN ({_marks(gone)})", tuple(gone))
        return len(gone)

    def prunable_runs(self, *, ended_before: float, after_id: str, limit: int) -> list[RunRow]:
        """Runs (id > `after_id`, by id, at most `limit`) whose row and steps may go.

        Each ended before `ended_before`, is not its task's most recent run, and every attempt
        it still has may be pruned (`prunable_attempts`): once they are gone, so may it.
        """
        return [
            RunRow(*row)
            for row in self._db.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs r WHERE r.id > ? AND r.ended_at < ? "
                f"AND {_PRUNABLE_RUN} ORDER BY r.id LIMIT ?",
                (after_id, ended_before, limit),
            )
        ]

    def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Delete these runs and their steps, in one transaction. Durable.

        Only runs that have no attempt left (and are still not their task's most recent) go;
        returns how many did.
        """
        if not run_ids:
            return 0
        with self._transaction() as db:
            gone = [
                str(r[0])
                for r in db.execute(
                    f"SELECT r.id FROM runs r WHERE r.id IN ({_marks(run_ids)}) AND {_EMPTY_RUN}",
                    tuple(run_ids),
                )
            ]
            if gone:
                db.execute(f"DELETE FROM steps WHERE run_id IN ({_marks(gone)})", tuple(gone))
                db.execute(f"DELETE FROM runs WHERE id IN ({_marks(gone)})", tuple(gone))
        return len(gone)

    def earliest_open_run(self) -> float | None:
        """When the oldest run that has not ended (of any site) started, or None."""
        row = self._db.execute("SELECT min(started_at) FROM runs WHERE ended_at IS NULL").fetchone()
        return None if row[0] is None else float(row[0])
