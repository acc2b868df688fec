"""Task controls: halts, pauses and resumes (audited), and each task's brake window."""

from __future__ import annotations

from collections.abc import Sequence

from runner.domain.brakes import HALTED, PAUSED, BrakeWindow
from runner.state.database import RecordDatabase
from runner.state.records import ControlRow

_COLUMNS = "id, task, at, by, action, reason"
_HOLDING = f"('{HALTED}', '{PAUSED}')"


class ControlRecords(RecordDatabase):
    """Halts, pauses and resumes of tasks, and the attempts counted by their brakes.

    A state file opened read-only may predate these tables (no runner has migrated it yet):
    it then holds no controls, and the readers say so instead of failing.
    """

    _controls_known = False

    def _has_controls(self) -> bool:
        if not self._controls_known:
            self._controls_known = (
                self._db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'task_controls'"
                ).fetchone()
                is not None
            )
        return self._controls_known

    def control_task(
        self, task: str, *, action: str, by: str, reason: str, now: float
    ) -> ControlRow:
        """Record a halt, pause or resume; the task's brake window starts again (one transaction)."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO task_controls (task, at, by, action, reason) VALUES (?, ?, ?, ?, ?)",
                (task, now, by, action, reason),
            )
            db.execute("DELETE FROM brake_windows WHERE task = ?", (task,))
            return ControlRow(int(cursor.lastrowid or 0), task, now, by, action, reason)

    def task_halts(self) -> dict[str, ControlRow]:
        """The tasks halted or paused now, each with the control that holds it."""
        if not self._has_controls():
            return {}
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM task_controls WHERE id IN "
            "(SELECT MAX(id) FROM task_controls GROUP BY task) "
            f"AND action IN {_HOLDING} ORDER BY task"
        ).fetchall()
        return {row[1]: ControlRow(*row) for row in rows}

    def task_halt(self, task: str) -> ControlRow | None:
        """The control holding this task now (halted or paused), or None."""
        if not self._has_controls():
            return None
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM task_controls WHERE task = ? ORDER BY id DESC LIMIT 1",
            (task,),
        ).fetchone()
        if row is None or row[4] not in (HALTED, PAUSED):
            return None
        return ControlRow(*row)

    def task_controls(self, task: str) -> list[ControlRow]:
        """Every halt, pause and resume of a task, oldest first."""
        if not self._has_controls():
            return []
        return [
            ControlRow(*row)
            for row in self._db.execute(
                f"SELECT {_COLUMNS} FROM task_controls WHERE task = ? ORDER BY id", (task,)
            )
        ]

    def brake_window(self, task: str) -> BrakeWindow:
        """The attempts the task's brake counted since its window opened."""
        if not self._has_controls():
            return BrakeWindow()
        row = self._db.execute(
            "SELECT attempts, failed, consecutive FROM brake_windows WHERE task = ?", (task,)
        ).fetchone()
        return BrakeWindow() if row is None else BrakeWindow(*row)

    def count_brake_outcomes(self, task: str, outcomes: Sequence[bool]) -> BrakeWindow:
        """Add ended attempts (True: failed, in the order they ended) to the task's brake window."""
        with self._transaction() as db:
            window = self.brake_window(task).add(outcomes)
            db.execute(
                "INSERT OR REPLACE INTO brake_windows (task, attempts, failed, consecutive) "
                "VALUES (?, ?, ?, ?)",
                (task, window.attempts, window.failed, window.consecutive),
            )
            return window
