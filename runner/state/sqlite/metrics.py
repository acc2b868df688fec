"""Aggregate queries for the metrics exposition and run summaries (read only).

Attempt counts and duration buckets are summed in SQL over the `attempts_status
(task, status, duration_s)` index, so a scrape reads that index once and never the
attempt rows themselves, and returns a few rows per task however many attempts there are.
"""

from __future__ import annotations

from collections.abc import Sequence

from runner.domain import queues as q
from runner.state.database import RecordDatabase
from runner.state.records import AttemptTally, RunErrors


class MetricQueries(RecordDatabase):
    """Counts over attempts and runs, for `runner metrics` and what a run reports when it ends."""

    def attempt_tallies(self, buckets: Sequence[float]) -> list[AttemptTally]:
        """Per (task, status) of ended attempts: how many, their summed duration, and per bucket
        bound in `buckets` (ascending) how many lasted at most that many seconds."""
        bounds = sorted(buckets)
        columns = "".join(f", sum(duration_s <= {float(b)!r})" for b in bounds)
        rows = self._db.execute(
            f"SELECT task, status, count(*), coalesce(sum(duration_s), 0){columns} FROM attempts "
            "WHERE status IS NOT NULL GROUP BY task, status ORDER BY task, status"
        )
        return [
            AttemptTally(
                task=str(row[0]),
                status=str(row[1]),
                count=int(row[2]),
                duration_sum=float(row[3]),
                buckets=tuple(zip(bounds, (int(n or 0) for n in row[4:]), strict=True)),
            )
            for row in rows
        ]

    def run_outcomes(self) -> dict[tuple[str, str], int]:
        """How many ended runs each (task, status) has."""
        return {
            (str(task), str(status)): int(n)
            for task, status, n in self._db.execute(
                "SELECT task, status, count(*) FROM runs WHERE ended_at IS NOT NULL "
                "GROUP BY task, status"
            )
        }

    def run_errors(self, run_id: str, limit: int) -> RunErrors:
        """The items whose latest attempt in this run left them in an error queue: the first
        `limit` of them (by when their attempt ended) and how many there are."""
        errors = tuple(sorted(q.ERROR_QUEUES))
        rows = self._db.execute(
            "SELECT a.item_id, a.queue, a.status FROM attempts a WHERE a.run_id = ? "
            f"AND a.ended_at IS NOT NULL AND a.queue IN ({', '.join('?' * len(errors))}) "
            "AND a.id = (SELECT max(b.id) FROM attempts b WHERE b.task = a.task "
            "AND b.item_id = a.item_id AND b.run_id = a.run_id) ORDER BY a.ended_at, a.id",
            (run_id, *errors),
        ).fetchall()
        shown = tuple((str(i), str(queue), str(status)) for i, queue, status in rows[:limit])
        return RunErrors(items=shown, total=len(rows))
