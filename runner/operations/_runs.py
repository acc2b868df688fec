"""`runner runs`: a task's runs, newest first, with outcome, attempt counts and duration."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runner.domain.timefmt import iso
from runner.errors import UsageError
from runner.operations._common import check_task, open_read
from runner.state import RunRow

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline

RUNS_LIMIT = 50
"""Runs `runner runs` shows on a terminal table (and the console on a page) by default."""


@dataclass(frozen=True, slots=True)
class RunEntry:
    """One run as `runner runs` lists it."""

    id: str
    trigger: str
    status: str
    phase: str
    started: float
    ended: float | None
    duration_s: float
    """Until it ended, or until now for a run still open."""
    attempts: dict[str, int]
    """Its attempts by status (`running` for those still open)."""
    message: str

    @classmethod
    def of(cls, row: RunRow, attempts: dict[str, int], now: float) -> RunEntry:
        """The entry of a state row and its attempt counts."""
        end = row.ended_at if row.ended_at is not None else now
        return cls(
            id=row.id,
            trigger=row.trigger,
            status=row.status,
            phase=row.phase,
            started=row.started_at,
            ended=row.ended_at,
            duration_s=max(0.0, end - row.started_at),
            attempts=dict(attempts),
            message=row.message,
        )

    def to_json(self) -> dict[str, Any]:
        """One element of `runs --json`."""
        return {
            "id": self.id,
            "trigger": self.trigger,
            "status": self.status,
            "phase": self.phase,
            "started": iso(self.started),
            "ended": iso(self.ended),
            "duration_s": round(self.duration_s, 3),
            "attempts": dict(self.attempts),
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class RunsPage:
    """A page of `runner runs`: `total` runs, `runs` are those from `offset` on, newest first."""

    task: str
    total: int
    offset: int
    limit: int | None
    runs: list[RunEntry] = field(default_factory=list)

    def to_json(self) -> list[dict[str, Any]]:
        """The documented shape of `runs --json`: the runs of the page, newest first."""
        return [run.to_json() for run in self.runs]


def runs(
    pipeline: Pipeline,
    task: str,
    *,
    limit: int | None = RUNS_LIMIT,
    offset: int = 0,
    now: float | None = None,
) -> RunsPage:
    """The task's runs, newest first: trigger, outcome (status), phase, start, end, duration and
    attempts by status. `limit` None shows every run. Reads the state; takes no lock."""
    if (limit is not None and limit < 0) or offset < 0:
        raise UsageError("--limit and --offset take a number of runs, 0 or more")
    instant = time.time() if now is None else now
    store = open_read(pipeline)
    try:
        check_task(pipeline, store, task)
        if store is None:
            return RunsPage(task, 0, offset, limit)
        rows = store.runs_of(task, limit=limit, offset=offset)
        counts = store.attempt_counts([r.id for r in rows])
        entries = [RunEntry.of(r, counts.get(r.id, {}), instant) for r in rows]
        return RunsPage(task, store.count_runs(task), offset, limit, entries)
    finally:
        if store is not None:
            store.close()
