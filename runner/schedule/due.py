"""When tasks are due: catch-up, windows, run-now items, the runs to start now.

A run missed while nothing ran is made up once: only the latest fire since the
task's watermark counts. The watermark is the latest of: the task's last fire,
when the task was first seen, and when its configuration last changed. Stamps
later than now (the clock went back) are ignored, so they never hold fires back;
a fire whose run exists never starts another. The clock is always passed in;
nothing here sleeps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from runner.config.pipeline import Pipeline
from runner.config.schedules import Schedule
from runner.domain import queues as q
from runner.domain.runs import TRIGGER_RUN_NOW, TRIGGER_SCHEDULE
from runner.domain.timefmt import iso
from runner.engine import RunRequest
from runner.schedule.fires import previous_fire, scheduled_run_id
from runner.state import StateStore


@dataclass(frozen=True, slots=True)
class Due:
    """A fire that should start a run: its instant and when its window closes (None: never)."""

    fire: float
    window_end: float | None

    def window_open(self, now: float) -> bool:
        """Items of this fire may still start at `now`."""
        return self.window_end is None or now < self.window_end


def due_fire(schedule: Schedule, *, since: float, now: float) -> Due | None:
    """The latest fire in (since, now], if any: the one run to make up."""
    fire = previous_fire(schedule, now)
    if fire <= since:
        return None
    window_end = fire + schedule.window if schedule.window else None
    return Due(fire=fire, window_end=window_end)


def watermark(store: StateStore, task: str, now: float) -> float:
    """Fires at or before this instant are handled for `task` (see the module docstring)."""
    row = store.task(task)
    if row is None:
        return now
    stamps = [row.created, row.last_modified]
    if row.last_fire is not None:
        stamps.append(row.last_fire)
    return max((stamp for stamp in stamps if stamp <= now), default=-math.inf)


def run_exists(store: StateStore, task: str, fire: float) -> bool:
    """A run was already started for this fire (the clock went back, or another runner took it)."""
    return store.run(scheduled_run_id(task, fire)) is not None


def task_due(pipeline: Pipeline, store: StateStore, task: str, now: float) -> Due | None:
    """The fire that makes `task` due at `now`, if any (window not checked; see `Due.window_open`)."""
    name = pipeline.tasks[task].schedule
    if name is None:
        return None
    due = due_fire(pipeline.schedules[name], since=watermark(store, task, now), now=now)
    if due is None or run_exists(store, task, due.fire):
        return None
    return due


def has_run_now(store: StateStore, task: str) -> bool:
    """The task has items waiting in `run-now` (dispatched even out of schedule)."""
    return store.has_waiting(task, q.RUN_NOW)


def site_tasks(pipeline: Pipeline, site: str) -> list[str]:
    """The enabled tasks this site runs, by name."""
    return [
        name
        for name, task in sorted(pipeline.tasks.items())
        if task.enabled and pipeline.task_site(name) == site
    ]


def due_requests(
    pipeline: Pipeline,
    store: StateStore,
    *,
    site: str,
    now: float,
    tasks: Iterable[str] | None = None,
    busy: Iterable[str] = (),
    log: Any = None,
    run_now: bool = True,
) -> list[RunRequest]:
    """Runs to start now: tasks whose schedule fired since their watermark, and tasks with run-now items.

    `tasks` limits the tasks looked at; `busy` names tasks whose previous run is still going:
    they are not started again (`run.skipped` is logged for a due fire, which stays due until
    the run ends); nor are halted or paused tasks (a due fire stays due until they resume).
    A fire whose window has closed is logged `run.missed` and marked handled.
    `run_now=False` skips the run-now lookup.
    """
    wanted = None if tasks is None else set(tasks)
    held = set(busy)
    halts = store.task_halts()
    requests: list[RunRequest] = []
    for name in site_tasks(pipeline, site):
        if wanted is not None and name not in wanted:
            continue
        due = task_due(pipeline, store, name, now)
        halt = halts.get(name)
        if halt is not None:
            if due is not None and log is not None:
                log.info(
                    "run.skipped",
                    task=name,
                    fire_time=iso(due.fire),
                    reason=f"task {halt.action} by {halt.by}: {halt.reason}; "
                    "the fire starts when `runner resume` lets it go on",
                )
            continue
        if due is not None and not due.window_open(now):
            if log is not None:
                log.info(
                    "run.missed",
                    task=name,
                    fire_time=iso(due.fire),
                    window_end=iso(due.window_end),
                    reason="its window closed before the runner could start it",
                )
            store.mark_fire(name, due.fire)
            due = None
        if name in held:
            if due is not None and log is not None:
                log.info(
                    "run.skipped",
                    task=name,
                    fire_time=iso(due.fire),
                    reason="its previous run is still going; the fire starts when it ends",
                )
            continue
        if due is not None:
            requests.append(RunRequest(name, TRIGGER_SCHEDULE, due.fire, due.window_end))
        elif run_now and has_run_now(store, name):
            requests.append(RunRequest(name, TRIGGER_RUN_NOW))
    return requests
