"""What a run says of itself as it ends: its outcome so far, and the summary its finish steps
read (RUNNER_RUN_STATUS, RUNNER_RUN_SUMMARY) and its notifications list."""

from __future__ import annotations

from typing import Any, Final

from runner.domain.runs import RUN_FAILED, RUN_OK, RUN_WITH_ERRORS
from runner.state import RunErrors, StateStore

ERROR_ITEMS_SHOWN: Final = 1000
"""The most error items a run summary lists; `error_items_total` counts them all."""

ERROR_ITEMS_LOGGED: Final = 20
"""The most error items the `run.finished` event (and so a notification) lists."""


def outcome_so_far(*, failed: bool, error_items: int) -> str:
    """The run's status if it ended now: failed (a step with on_failure: error, or its group),
    completed-with-errors (items it left in error queues) or ok."""
    if failed:
        return RUN_FAILED
    return RUN_WITH_ERRORS if error_items else RUN_OK


def run_summary(
    store: StateStore, *, task: str, run_id: str, status: str, limit: int = ERROR_ITEMS_SHOWN
) -> dict[str, Any]:
    """The run's summary: its status, the task's items per queue, and the items whose latest
    attempt in this run left them in an error queue (the first `limit`, with their total)."""
    errors = store.run_errors(run_id, limit)
    return {
        "task": task,
        "run_id": run_id,
        "status": status,
        "queues": store.queue_counts(task),
        "error_items": error_entries(errors),
        "error_items_total": errors.total,
    }


def error_entries(errors: RunErrors) -> list[dict[str, str]]:
    """The listed error items as `{"id", "queue", "status"}` objects."""
    return [{"id": item, "queue": queue, "status": last} for item, queue, last in errors.items]
