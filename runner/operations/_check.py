"""`runner check`: monitoring that stays red while something needs a person.

One problem per line, Nagios-style, and the plugin convention for the exit code: 0 OK,
1 WARNING, 2 CRITICAL. Problems: items sitting in error queues, a task halted by its
brake (CRITICAL) or paused by an operator (WARNING), a site's runner that stopped without
a clean exit (its heartbeat went stale: CRITICAL), a run that is stuck (open, and no
attempt or step of it started or ended for longer than `stuck_after`: CRITICAL) and a run
left open with no runner up for its site (WARNING: the next runner resumes it); the open run
of a halted task is not reported again. Reads the
state read-only; never takes the runner lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from runner.domain import queues as q
from runner.domain.brakes import HALTED
from runner.domain.timefmt import format_duration, iso
from runner.domain.workers import WORKER_OFFLINE, worker_state
from runner.operations._common import known_tasks, open_read, process_alive
from runner.state import StateStore, WorkerRow

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline

OK: Final = "OK"
WARNING: Final = "WARNING"
CRITICAL: Final = "CRITICAL"

CHECK_EXIT: Final = {OK: 0, WARNING: 1, CRITICAL: 2}
"""The Nagios plugin exit code of each outcome."""

STUCK_AFTER: Final = 7200.0
"""Default seconds without an attempt or step starting or ending after which an open run is stuck."""

# Problem kinds (stable: `check --json`).
K_ERROR_ITEMS: Final = "error-items"
K_HALTED: Final = "halted"
K_PAUSED: Final = "paused"
K_RUNNER_DIED: Final = "runner-died"
K_RUN_STUCK: Final = "run-stuck"
K_RUN_ORPHANED: Final = "run-orphaned"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing that needs a person."""

    severity: str
    kind: str
    subject: str
    """What it is about: `task T`, `runner for site S`, `run R`."""
    message: str
    task: str | None = None
    site: str | None = None
    run_id: str | None = None

    def line(self) -> str:
        """`CRITICAL task T: 3 items in error queues (corrupt 1, ...)`."""
        return f"{self.severity} {self.subject}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "kind": self.kind,
            "task": self.task,
            "site": self.site,
            "run_id": self.run_id,
            "message": self.message,
            "line": self.line(),
        }


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What `runner check` found."""

    checked_at: float
    tasks: int
    stuck_after: float
    problems: list[Problem] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The worst severity found, OK when none."""
        severities = {p.severity for p in self.problems}
        return CRITICAL if CRITICAL in severities else (WARNING if severities else OK)

    @property
    def exit_code(self) -> int:
        return CHECK_EXIT[self.status]

    def lines(self) -> list[str]:
        """One line per problem, worst first; a single OK line when there is none."""
        if not self.problems:
            return [f"OK: {self.tasks} tasks, no items in error queues, nothing halted or stuck"]
        return [p.line() for p in self.problems]

    def to_json(self) -> dict[str, Any]:
        """The documented shape of `check --json`."""
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "checked_at": iso(self.checked_at),
            "stuck_after_s": self.stuck_after,
            "problems": [p.to_json() for p in self.problems],
        }


def check(
    pipeline: Pipeline,
    *,
    stuck_after: float = STUCK_AFTER,
    now: float | None = None,
    alive: Callable[[WorkerRow], bool] = process_alive,
) -> CheckReport:
    """Every problem of the pipeline's state now (see the module's description)."""
    instant = time.time() if now is None else now
    store = open_read(pipeline)
    if store is None:
        return CheckReport(instant, len(pipeline.tasks), stuck_after)
    try:
        problems: list[Problem] = []
        names = known_tasks(pipeline, store)
        halts = store.task_halts()
        for name in names:
            problems += _task_problems(store, name)
            halt = halts.get(name)
            if halt is not None:
                severity = CRITICAL if halt.action == HALTED else WARNING
                problems.append(
                    Problem(
                        severity,
                        K_HALTED if halt.action == HALTED else K_PAUSED,
                        f"task {name}",
                        f"{halt.action} by {halt.by} at {iso(halt.at)}: {halt.reason or '-'}; "
                        f"no new item starts until `runner resume --task {name}`",
                        task=name,
                    )
                )
        problems += _runner_problems(store, instant, alive)
        problems += _run_problems(store, pipeline, instant, stuck_after, alive, set(halts))
        problems.sort(key=lambda p: (p.severity != CRITICAL, p.subject))
        return CheckReport(instant, len(names), stuck_after, problems)
    finally:
        store.close()


def _task_problems(store: StateStore, name: str) -> list[Problem]:
    counts = store.queue_counts(name)
    errors = {queue: counts.get(queue, 0) for queue in q.ERROR_QUEUES if counts.get(queue, 0)}
    if not errors:
        return []
    total = sum(errors.values())
    parts = ", ".join(f"{queue} {n}" for queue, n in errors.items())
    noun = "item" if total == 1 else "items"
    return [
        Problem(
            CRITICAL,
            K_ERROR_ITEMS,
            f"task {name}",
            f"{total} {noun} in error queues ({parts}); see: runner items --task {name} "
            "--category error",
            task=name,
        )
    ]


def _runner_problems(
    store: StateStore, now: float, alive: Callable[[WorkerRow], bool]
) -> list[Problem]:
    problems = []
    for worker in store.workers():
        if worker.state == WORKER_OFFLINE:
            continue  # it exited cleanly: a `run` from cron between two runs
        if worker_state(worker, now, alive=alive) != WORKER_OFFLINE:
            continue
        problems.append(
            Problem(
                CRITICAL,
                K_RUNNER_DIED,
                f"runner for site {worker.site}",
                f"stopped without a clean exit (pid {worker.pid} on {worker.host}, last "
                f"heartbeat {iso(worker.heartbeat)}, {format_duration(now - worker.heartbeat)} "
                "ago); start it again: it resumes what it left",
                site=worker.site,
            )
        )
    return problems


def _run_problems(
    store: StateStore,
    pipeline: Pipeline,
    now: float,
    stuck_after: float,
    alive: Callable[[WorkerRow], bool],
    halted: set[str],
) -> list[Problem]:
    up = {w.site for w in store.workers() if worker_state(w, now, alive=alive) != WORKER_OFFLINE}
    sites = {pipeline.task_site(name) for name in pipeline.tasks} | {
        w.site for w in store.workers()
    }
    problems = []
    for site in sorted(sites):
        for run in store.open_runs(site):
            if run.task in halted:
                continue  # reported as halted: its run waits for `runner resume`
            if site not in up:
                problems.append(
                    Problem(
                        WARNING,
                        K_RUN_ORPHANED,
                        f"run {run.id}",
                        f"open since {iso(run.started_at)} but no runner is up for site {site}; "
                        "the next `runner run` (or `serve`) resumes it",
                        task=run.task,
                        site=site,
                        run_id=run.id,
                    )
                )
                continue
            last = max(run.started_at, store.run_last_activity(run.id) or run.started_at)
            if now - last > stuck_after:
                problems.append(
                    Problem(
                        CRITICAL,
                        K_RUN_STUCK,
                        f"run {run.id}",
                        f"stuck: no attempt or step of task {run.task} started or ended since "
                        f"{iso(last)} ({format_duration(now - last)}, more than "
                        f"{format_duration(stuck_after)}); see: runner status --task {run.task}",
                        task=run.task,
                        site=site,
                        run_id=run.id,
                    )
                )
    return problems
