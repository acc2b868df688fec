"""What each task's group was last synced from (a fingerprint of its sources, runner.groupsource)."""

from __future__ import annotations

from runner.state.database import RecordDatabase


class GroupSourceRecords(RecordDatabase):
    """The source fingerprint of each task's last group sync."""

    def synced_source(self, task: str) -> str | None:
        """The fingerprint recorded with the task's last group sync, or None."""
        row = self._db.execute(
            "SELECT source FROM group_sources WHERE task = ?", (task,)
        ).fetchone()
        return str(row[0]) if row else None

    def record_synced_source(self, task: str, source: str | None, *, now: float) -> None:
        """Record the fingerprint of the sources a group sync just read (None: forget it, the
        sources cannot be fingerprinted and are read again next time). Durable."""
        with self._transaction() as db:
            if source is None:
                db.execute("DELETE FROM group_sources WHERE task = ?", (task,))
            else:
                db.execute(
                    "INSERT INTO group_sources (task, source, synced_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (task) DO UPDATE SET source = excluded.source, "
                    "synced_at = excluded.synced_at",
                    (task, source, now),
                )
