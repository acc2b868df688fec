"""The next scheduled fire of each task, as `plan` words it (for the console's overview)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline


@dataclass(frozen=True, slots=True)
class NextFire:
    """A task's next fire: the ISO instant in UTC and its local time in the schedule's zone."""

    at: str
    local: str


def next_fires(pipeline: Pipeline, *, now: float | None = None) -> dict[str, NextFire]:
    """The next fire after `now` of every enabled task that has a schedule, by task name."""
    from runner.schedule.fires import describe_next

    instant = time.time() if now is None else now
    fires: dict[str, NextFire] = {}
    for name, task in pipeline.tasks.items():
        if task.schedule is None or not task.enabled:
            continue
        at, local = describe_next(pipeline.schedules[task.schedule], instant)
        fires[name] = NextFire(at, local)
    return fires
