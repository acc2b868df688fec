"""Task rows: existence, status, command in progress, last fire."""

from __future__ import annotations

from runner.state.database import RecordDatabase
from runner.state.records import TaskRow

TASK_COLUMNS = (
    "name, site, created, last_modified, last_modified_by, config_hash, status, command, "
    "latest_detail, sequence, last_fire, last_run_id"
)


class TaskRecords(RecordDatabase):
    """What the state knows of each task."""

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
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE name = ?", (name,)
        ).fetchone()
        return TaskRow(*row) if row else None

    def tasks(self) -> list[TaskRow]:
        """Every task the state knows, by name."""
        return [
            TaskRow(*r) for r in self._db.execute(f"SELECT {TASK_COLUMNS} FROM tasks ORDER BY name")
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
