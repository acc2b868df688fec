"""Checkpoint rows: processed sub-ids and the other events attempts announce."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from runner.state.database import Connection, RecordDatabase
from runner.state.records import Checkpoint
from runner.state.sqlite.results import write_metrics
from runner.system import failpoints


def write_checkpoints(db: Connection, checkpoints: Sequence[tuple[int, Checkpoint, float]]) -> None:
    """Write checkpoints announced by attempts, inside the caller's transaction."""
    counted: dict[int, list[int]] = {}  # attempt id -> [valid events, events-file lines]
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
            if event.kind == "metric":
                write_metrics(db, attempt_id, event.value)
            if event.kind == "detail":
                db.execute(
                    "UPDATE tasks SET latest_detail = ? WHERE name = (SELECT task FROM attempts WHERE id = ?)",
                    (event.value, attempt_id),
                )
        counts = counted.setdefault(attempt_id, [0, 0])
        counts[0] += event.kind != "invalid"
        counts[1] += not event.from_output  # lines of the events file only
    db.executemany(
        "UPDATE attempts SET checkpoints = checkpoints + ?, events_read = events_read + ? WHERE id = ?",
        [(valid, read, attempt_id) for attempt_id, (valid, read) in counted.items()],
    )


class CheckpointRecords(RecordDatabase):
    """What attempts announced as done (processed sub-ids)."""

    def processed_subids(self, task: str, item_id: str) -> Iterator[str]:
        """Every sub-id already processed for an item, across all attempts."""
        for (sub_id,) in self._db.execute(
            "SELECT sub_id FROM processed WHERE task = ? AND item_id = ? ORDER BY at",
            (task, item_id),
        ):
            yield str(sub_id)

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
