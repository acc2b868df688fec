"""Retry times when the wall clock steps backwards: the backoffs keep their length."""

from __future__ import annotations

from collections.abc import Sequence

from runner.domain import queues as q
from runner.state.database import RecordDatabase


class RetryRecords(RecordDatabase):
    """Moving the retry times of waiting items when the clock stepped back."""

    def pull_retries_back(self, tasks: Sequence[str], by: float, *, now: float) -> int:
        """Bring the tasks' pending retry times `by` seconds earlier (never before `now`), so a
        backoff lasts what the policy says after the clock stepped back. Durable; how many."""
        if not tasks or by <= 0:
            return 0
        marks = ", ".join("?" * len(tasks))
        with self._transaction() as db:
            return db.execute(
                f"UPDATE items SET retry_at = max(?, retry_at - ?) "
                f"WHERE task IN ({marks}) AND queue = ? AND retry_at > ?",
                (now, by, *tasks, q.RETRY, now),
            ).rowcount
