"""What attempts produced, read back: metrics per attempt, item and task, and the report rows.

An attempt's metric is the last value it reported for the name (`attempt_metrics`, upserted as
its metric events are recorded); an item's is the sum over its attempts, a task's the sum over
its items. The report streams one row per item, ordered by id, joined with its attempts'
aggregates and its metrics without holding the task in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from runner.state.database import Connection, RecordDatabase
from runner.state.records import ItemResult


def write_metrics(db: Connection, attempt_id: int, value: str) -> None:
    """Keep the latest numeric value of each metric of a metric event (inside the caller's
    transaction); non-numeric values are kept only in the events table."""
    try:
        metrics = json.loads(value)
    except ValueError:
        return
    if not isinstance(metrics, dict):
        return
    rows = [
        (attempt_id, name, float(number))
        for name, number in metrics.items()
        if isinstance(number, int | float) and not isinstance(number, bool)
    ]
    if rows:
        db.executemany(
            "INSERT OR REPLACE INTO attempt_metrics (attempt_id, name, value) VALUES (?, ?, ?)",
            rows,
        )


_ITEM_RESULTS = """
SELECT i.item_id, i.queue, i.in_group, i.last_status, i.last_error,
       coalesce(a.n, 0), a.first_start, a.last_start, a.duration, a.last_end,
       (SELECT m.to_queue FROM moves m WHERE m.task = i.task AND m.item_id = i.item_id
        AND m.applied_at IS NOT NULL ORDER BY m.applied_at DESC, m.id DESC LIMIT 1),
       (SELECT max(m.applied_at) FROM moves m WHERE m.task = i.task AND m.item_id = i.item_id)
FROM items i
LEFT JOIN (
    SELECT item_id, count(*) AS n, min(started_at) AS first_start, max(started_at) AS last_start,
           sum(duration_s) AS duration, max(ended_at) AS last_end
    FROM attempts WHERE task = ? GROUP BY item_id
) a ON a.item_id = i.item_id
WHERE i.task = ?{left}
ORDER BY i.item_id
"""

_ITEM_METRICS = """
SELECT a.item_id, m.name, sum(m.value) FROM attempt_metrics m JOIN attempts a ON a.id = m.attempt_id
WHERE a.task = ? GROUP BY a.item_id, m.name ORDER BY a.item_id, m.name
"""


class ResultQueries(RecordDatabase):
    """Metrics and per-item results; nothing here writes."""

    def metrics_of_attempts(self, attempt_ids: Sequence[int]) -> dict[int, dict[str, float]]:
        """Each attempt's metrics (the last value it reported per name); attempts without none."""
        found: dict[int, dict[str, float]] = {}
        for start in range(0, len(attempt_ids), 500):
            chunk = list(attempt_ids[start : start + 500])
            for attempt_id, name, value in self._db.execute(
                "SELECT attempt_id, name, value FROM attempt_metrics "
                f"WHERE attempt_id IN ({', '.join('?' * len(chunk))}) ORDER BY attempt_id, name",
                chunk,
            ):
                found.setdefault(int(attempt_id), {})[str(name)] = float(value)
        return found

    def metrics_of_items(self, task: str, item_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        """Each item's metrics: per name, the sum over its attempts; items without none."""
        found: dict[str, dict[str, float]] = {}
        for start in range(0, len(item_ids), 500):
            chunk = list(item_ids[start : start + 500])
            for item_id, name, value in self._db.execute(
                "SELECT a.item_id, m.name, sum(m.value) FROM attempt_metrics m "
                "JOIN attempts a ON a.id = m.attempt_id WHERE a.task = ? "
                f"AND a.item_id IN ({', '.join('?' * len(chunk))}) "
                "GROUP BY a.item_id, m.name ORDER BY a.item_id, m.name",
                (task, *chunk),
            ):
                found.setdefault(str(item_id), {})[str(name)] = float(value)
        return found

    def metrics_of_task(self, task: str) -> dict[str, float]:
        """Per metric name, the sum over every attempt of the task."""
        return {
            str(name): float(value)
            for name, value in self._db.execute(
                "SELECT m.name, sum(m.value) FROM attempt_metrics m "
                "JOIN attempts a ON a.id = m.attempt_id WHERE a.task = ? "
                "GROUP BY m.name ORDER BY m.name",
                (task,),
            )
        }

    def item_results(self, task: str, *, include_left: bool = True) -> Iterator[ItemResult]:
        """One result per item of the task, ordered by id, read as they are consumed."""
        left = "" if include_left else " AND i.in_group = 1"
        metrics = self._db.execute(_ITEM_METRICS, (task,))
        pending = metrics.fetchone()
        for row in self._db.execute(_ITEM_RESULTS.format(left=left), (task, task)):
            item_id = str(row[0])
            values: dict[str, float] = {}
            while pending is not None and pending[0] < item_id:
                pending = metrics.fetchone()
            while pending is not None and pending[0] == item_id:
                values[str(pending[1])] = float(pending[2])
                pending = metrics.fetchone()
            yield ItemResult(
                item_id=item_id,
                queue=str(row[1]),
                in_group=bool(row[2]),
                last_status=row[3],
                last_error=row[4],
                attempts=int(row[5]),
                first_start=row[6],
                last_start=row[7],
                duration_s=row[8],
                last_end=row[9],
                last_move_to=row[10],
                last_move_applied=row[11],
                metrics=values,
            )
