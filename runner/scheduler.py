"""When tasks are due: cron fires in a time zone, windows, catch-up.

Fires are computed in the schedule's IANA zone and identified by their UTC
instant, so one fire can never start two runs (the run id is derived from it).
A run missed while nothing ran is made up once: only the latest fire since
the task's last run counts. The clock is passed in; nothing here sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter

from runner import queues as q
from runner.config.models import Pipeline, Schedule
from runner.engine import TRIGGER_RUN_NOW, TRIGGER_SCHEDULE, RunRequest
from runner.state import StateStore


def _local(instant: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(instant, UTC).astimezone(zone)


def previous_fire(schedule: Schedule, at: float) -> float:
    """The latest fire of `schedule` at or before the instant `at` (UTC seconds)."""
    zone = ZoneInfo(schedule.timezone)
    start = _local(at + 1e-6, zone)
    return float(croniter(schedule.cron, start).get_prev(datetime).timestamp())


def next_fire(schedule: Schedule, after: float) -> float:
    """The first fire of `schedule` strictly after the instant `after` (UTC seconds)."""
    zone = ZoneInfo(schedule.timezone)
    start = _local(after, zone)
    return float(croniter(schedule.cron, start).get_next(datetime).timestamp())


@dataclass(frozen=True, slots=True)
class Due:
    """A fire that should start a run now, or why it does not."""

    task: str
    fire: float
    window_end: float | None


def due_fire(schedule: Schedule, *, since: float, now: float) -> Due | None:
    """The latest fire in (since, now], if any: the one run to make up."""
    fire = previous_fire(schedule, now)
    if fire <= since:
        return None
    window_end = fire + schedule.window if schedule.window else None
    return Due(task="", fire=fire, window_end=window_end)


def due_requests(
    pipeline: Pipeline,
    store: StateStore,
    *,
    site: str,
    now: float,
    tasks: set[str] | None = None,
    log: object | None = None,
) -> list[RunRequest]:
    """Runs to start now: tasks whose schedule fired since their last run, and tasks with run-now items."""
    requests: list[RunRequest] = []
    for name, task in pipeline.tasks.items():
        if tasks is not None and name not in tasks:
            continue
        if pipeline.task_site(name) != site or not task.enabled:
            continue
        row = store.task(name)
        if task.schedule is not None:
            schedule = pipeline.schedules[task.schedule]
            since = row.created if row is not None else now
            if row is not None and row.last_fire is not None:
                since = max(since, row.last_fire) if row.last_fire <= now else since
            due = due_fire(schedule, since=since, now=now)
            if due is not None and (due.window_end is None or due.window_end > now):
                requests.append(RunRequest(name, TRIGGER_SCHEDULE, due.fire, due.window_end))
                continue
            if due is not None and log is not None:
                log.info(  # type: ignore[attr-defined]
                    "run.missed",
                    task=name,
                    fire_time=_iso(due.fire),
                    window_end=_iso(due.window_end),
                    reason="its window closed before the runner was started",
                )
                store.mark_fire(name, due.fire)
        if row is not None and store.count_waiting(name, (q.RUN_NOW,)):
            requests.append(RunRequest(name, TRIGGER_RUN_NOW))
    return requests


def _iso(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def describe_next(schedule: Schedule, after: float) -> str:
    """The next fire as an ISO instant in UTC and in the schedule's zone, for `plan`."""
    fire = next_fire(schedule, after)
    local = _local(fire, ZoneInfo(schedule.timezone))
    return f"{_iso(fire)} ({local.isoformat(timespec='minutes')} {schedule.timezone})"
