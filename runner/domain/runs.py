"""Run statuses, phases and triggers (persisted in the state file: stable forever) and run ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

# Run statuses.
RUN_RUNNING: Final = "running"
RUN_OK: Final = "ok"
RUN_FAILED: Final = "failed"
RUN_WITH_ERRORS: Final = "completed-with-errors"
RUN_INTERRUPTED: Final = "interrupted"  # not persisted as final: the run stays open and is resumed

# Run phases.
PHASE_BEFORE: Final = "before"
PHASE_ITEMS: Final = "items"
PHASE_AFTER: Final = "after"
PHASE_DONE: Final = "done"

# Triggers.
TRIGGER_SCHEDULE: Final = "schedule"
TRIGGER_NOW: Final = "now"
TRIGGER_RUN_NOW: Final = "run-now"


def run_id_for(task: str, instant: float, trigger: str) -> str:
    """The id of a run: the scheduled UTC instant for a fire (one fire, one run), else the start time."""
    stamp = datetime.fromtimestamp(instant, UTC).strftime("%Y%m%dT%H%M%S")
    if trigger == TRIGGER_SCHEDULE:
        return f"{task}@{stamp}Z"
    micro = int((instant % 1) * 1_000_000)
    return f"{task}@{stamp}.{micro:06d}Z-{trigger}"
