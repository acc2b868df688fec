"""A task's runs, newest first, with each run's attempts counted by status (`runner runs`)."""

from __future__ import annotations

from collections.abc import Sequence

from runner.state.database import RecordDatabase
from runner.state.records import RunRow
from runner.state.sqlite.runs import RUN_COLUMNS


class RunListing(RecordDatabase):
    """Read-only: one page of a task's runs and what their attempts ended as."""

    def count_runs(self, task: str) -> int:
        """How many runs the task has had (through the `runs_task` index)."""
        row = self._db.execute("SELECT count(*) FROM runs WHERE task = ?", (task,)).fetchone()
        return int(row[0])

    def runs_of(self, task: str, *, limit: int | None, offset: int = 0) -> list[RunRow]:
        """The task's runs, newest first; `limit` None: every run from `offset` on."""
        cursor = self._db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE task = ? "
            "ORDER BY started_at DESC, rowid DESC LIMIT ? OFFSET ?",
            (task, -1 if limit is None else limit, max(0, offset)),
        )
        return [RunRow(*r) for r in cursor]

    def attempt_counts(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per run: its attempts by status (an attempt still open counts as `running`)."""
        counts: dict[str, dict[str, int]] = {run_id: {} for run_id in run_ids}
        for run_id in run_ids:
            # GROUP BY the bare column walks the covering attempts_run_status index in order
            cursor = self._db.execute(
                "SELECT status, count(*) FROM attempts WHERE run_id = ? GROUP BY status",
                (run_id,),
            )
            found = {"running" if status is None else str(status): int(n) for status, n in cursor}
            counts[run_id] = dict(sorted(found.items()))
        return counts
