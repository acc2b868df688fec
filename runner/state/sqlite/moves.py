"""Move rows: operator moves of items, applied at once or when the running attempt ends."""

from __future__ import annotations

from runner.errors import StateError
from runner.state.database import RecordDatabase
from runner.state.records import MoveRow
from runner.system import failpoints


class MoveRecords(RecordDatabase):
    """Operators' moves of items between queues."""

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
                updated = db.execute(
                    "UPDATE items SET pending_queue = ?, updated = ? WHERE task = ? AND item_id = ?",
                    (to_queue, now, task, item_id),
                )
            else:
                updated = db.execute(
                    "UPDATE items SET queue = ?, entered_at = ?, retry_at = NULL, retries_used = 0, updated = ? "
                    "WHERE task = ? AND item_id = ?",
                    (to_queue, now, now, task, item_id),
                )
            self.expect_rows(updated, 1, f"moving item {item_id!r}")
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
