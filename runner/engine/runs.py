"""What the engine is asked to run and what it reports: requests, reports, the run source.

The run vocabulary (statuses, phases, triggers, run ids) is in runner.domain.runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from runner.config.pipeline import Pipeline
from runner.state import RunRow


@dataclass(frozen=True, slots=True)
class RunRequest:
    """A run the caller wants started (or, with `resume`, an open run to take over)."""

    task: str
    trigger: str
    fire_time: float | None = None
    window_end: float | None = None
    resume: RunRow | None = None

    @classmethod
    def resuming(cls, row: RunRow) -> RunRequest:
        """The request that resumes the open run `row`."""
        return cls(row.task, row.trigger, row.fire_time, row.window_end, resume=row)


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
