"""Run statuses, phases and triggers, task statuses (persisted in the state file and printed:
stable forever) and run ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

# Run statuses.
RUN_RUNNING: Final = "running"
RUN_OK: Final = "ok"
RUN_FAILED: Final = "failed"
RUN_WITH_ERRORS: Final = "completed-with-errors"
RUN_INTERRUPTED: Final = "interrupted"  # not persisted as final: the run stays open and is resumed
RUN_HALTED: Final = "halted"  # not persisted: its task was halted or paused; the run stays open

# Run phases.
PHASE_BEFORE: Final = "before"
PHASE_ITEMS: Final = "items"
PHASE_AFTER: Final = "after"
PHASE_DONE: Final = "done"

# Triggers.
TRIGGER_SCHEDULE: Final = "schedule"
TRIGGER_NOW: Final = "now"
TRIGGER_RUN_NOW: Final = "run-now"

# Task statuses the runner records: `scheduled`/`idle`/`disabled` while resting (a task with,
# without a schedule; switched off), `running` while a run is open, `failed` after a failed run.
TASK_SCHEDULED: Final = "scheduled"
TASK_IDLE: Final = "idle"
TASK_DISABLED: Final = "disabled"
TASK_RUNNING: Final = "running"
TASK_FAILED: Final = "failed"

# Task statuses `status` shows beyond those: never ran yet; its open run has no runner.
TASK_NEW: Final = "new"
TASK_INTERRUPTED: Final = "interrupted"
TASK_HALTED: Final = "halted"  # its brake (halt_on) or an operator (`runner pause`) holds it


def run_id_for(task: str, instant: float, trigger: str) -> str:
    """The id of a run: the scheduled UTC instant for a fire (one fire, one run), else the start time."""
    moment = datetime.fromtimestamp(instant, UTC)  # rounded to the microsecond, once
    stamp = moment.strftime("%Y%m%dT%H%M%S")
    if trigger == TRIGGER_SCHEDULE:
        return f"{task}@{stamp}Z"
    return f"{task}@{stamp}.{moment.microsecond:06d}Z-{trigger}"
