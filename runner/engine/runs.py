"""The vocabulary of runs shared by the engine, the scheduler and the CLI.

Run statuses, phases and triggers are persisted in the state file: stable forever.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from runner.config.pipeline import Pipeline
from runner.state import RunRow

# Run statuses, persisted.
RUN_RUNNING = "running"
RUN_OK = "ok"
RUN_FAILED = "failed"
RUN_WITH_ERRORS = "completed-with-errors"
RUN_INTERRUPTED = "interrupted"  # not persisted as final: the run stays open and is resumed

# Run phases, persisted.
PHASE_BEFORE = "before"
PHASE_ITEMS = "items"
PHASE_AFTER = "after"
PHASE_DONE = "done"

# Triggers, persisted.
TRIGGER_SCHEDULE = "schedule"
TRIGGER_NOW = "now"
TRIGGER_RUN_NOW = "run-now"


@dataclass(frozen=True, slots=True)
class RunRequest:
    """A run the caller wants started (or, with `resume`, an open run to take over)."""

    task: str
    trigger: str
    fire_time: float | None = None
    window_end: float | None = None
    resume: RunRow | None = None


@dataclass(slots=True)
class RunReport:
    """How a run ended (or why it did not end: interrupted runs stay open)."""

    task: str
    run_id: str
    status: str
    message: str = ""
    queues: dict[str, int] = field(default_factory=dict)
    error_items: int = 0


class RunSource(Protocol):
    """Where a long-running engine gets its new runs from (the scheduler)."""

    def poll(self, now: float, busy: frozenset[str]) -> Sequence[RunRequest]:
        """Runs to start now; `busy` names the tasks whose run is still going."""
        ...

    def next_wakeup(self, now: float) -> float | None:
        """When `poll` may next have something (None: no idea; the loop still wakes regularly)."""
        ...


def run_id_for(task: str, instant: float, trigger: str) -> str:
    """The id of a run: the scheduled UTC instant for a fire (one fire, one run), else the start time."""
    stamp = datetime.fromtimestamp(instant, UTC).strftime("%Y%m%dT%H%M%S")
    if trigger == TRIGGER_SCHEDULE:
        return f"{task}@{stamp}Z"
    micro = int((instant % 1) * 1_000_000)
    return f"{task}@{stamp}.{micro:06d}Z-{trigger}"


def task_config_hash(pipeline: Pipeline, name: str) -> str:
    """A hash of everything that decides what a task does: it, its definition, policy, schedule and group."""
    task = pipeline.tasks[name]
    parts: dict[str, object] = {
        "task": task.model_dump(mode="json"),
        "definition": pipeline.definitions[task.definition].model_dump(mode="json"),
        "policy": pipeline.policy_for(name).model_dump(mode="json"),
        "schedule": pipeline.schedules[task.schedule].model_dump(mode="json")
        if task.schedule
        else None,
        "group": pipeline.groups[task.group].model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def iso(ts: float | None) -> str:
    """A UTC instant as ISO 8601 with a Z (empty for None)."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
