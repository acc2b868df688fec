"""Run rows and their before/after steps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from runner.domain import queues as q
from runner.domain.runs import PHASE_DONE, TASK_RUNNING
from runner.state.database import RecordDatabase
from runner.state.records import RunRow

RUN_COLUMNS = (
    "id, task, site, trigger, fire_time, window_end, started_at, ended_at, phase, status, "
    "definition_hash, message, owner"
)


class RunRecords(RecordDatabase):
    """Runs of tasks and the steps of their phases."""

    def begin_run(
        self,
        run: RunRow,
        *,
        recurring: bool,
    ) -> None:
        """Record a new run; in recurring mode every finished item becomes eligible again."""
        with self._transaction() as db:
            db.execute(
                f"INSERT INTO runs ({RUN_COLUMNS}) VALUES ({', '.join('?' * 13)})",
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
                    run.owner,
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
            updated = db.execute(
                "UPDATE tasks SET last_run_id = ?, last_fire = coalesce(?, last_fire), status = ? "
                "WHERE name = ?",
                (run.id, run.fire_time, TASK_RUNNING, run.task),
            )
            self.expect_rows(updated, 1, f"recording run {run.id} on its task")

    def set_run_phase(self, run_id: str, phase: str) -> None:
        """Advance a run to its next phase (before, items, after)."""
        with self._transaction() as db:
            updated = db.execute("UPDATE runs SET phase = ? WHERE id = ?", (phase, run_id))
            self.expect_rows(updated, 1, f"advancing run {run_id}")

    def finish_run(
        self, run_id: str, *, status: str, message: str, now: float, task_status: str
    ) -> None:
        """Close a run with its final status."""
        with self._transaction() as db:
            updated = db.execute(
                "UPDATE runs SET ended_at = ?, status = ?, phase = ?, message = ? WHERE id = ?",
                (now, status, PHASE_DONE, message, run_id),
            )
            self.expect_rows(updated, 1, f"finishing run {run_id}")
            db.execute(
                "UPDATE tasks SET status = ?, command = '' WHERE name = (SELECT task FROM runs WHERE id = ?)",
                (task_status, run_id),
            )

    def run(self, run_id: str) -> RunRow | None:
        """One run by id."""
        row = self._db.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return RunRow(*row) if row else None

    def open_runs(self, site: str) -> list[RunRow]:
        """Runs of this site that have not ended (left by a runner that died, or still going)."""
        return [
            RunRow(*r)
            for r in self._db.execute(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE site = ? AND ended_at IS NULL ORDER BY started_at",
                (site,),
            )
        ]

    def take_runs(self, site: str, runners: Sequence[str], owner: str) -> list[RunRow]:
        """Make `owner` the owner of the open runs the `runners` owned (they were taken over);
        returns those runs as they are now."""
        taken = [r for r in self.open_runs(site) if r.owner in runners]
        if taken:
            with self._transaction() as db:
                db.executemany(
                    "UPDATE runs SET owner = ? WHERE id = ?", [(owner, r.id) for r in taken]
                )
        return [replace(r, owner=owner) for r in taken]

    def has_open_run(self, task: str, site: str) -> bool:
        """A run of `task` on `site` has not ended (one the engine stopped, or still going)."""
        found = self._db.execute(
            "SELECT 1 FROM runs WHERE task = ? AND site = ? AND ended_at IS NULL LIMIT 1",
            (task, site),
        ).fetchone()
        return found is not None

    def last_run(self, task: str) -> RunRow | None:
        """The most recent run of a task."""
        row = self._db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE task = ? ORDER BY started_at DESC, rowid DESC LIMIT 1",
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
            updated = db.execute(
                "UPDATE steps SET ended_at = ?, status = ?, exit_code = ?, error = ? "
                "WHERE run_id = ? AND phase = ? AND idx = ?",
                (now, status, exit_code, error, run_id, phase, idx),
            )
            self.expect_rows(
                updated, 1, f"recording the outcome of step {phase}[{idx}] of run {run_id}"
            )
