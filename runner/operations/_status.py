"""`runner status`: every site's runner (worker) and every task, with its queue counts."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from runner.domain import queues as q
from runner.domain.runs import (
    TASK_DISABLED,
    TASK_HALTED,
    TASK_INTERRUPTED,
    TASK_NEW,
    TASK_RUNNING,
)
from runner.domain.timefmt import iso
from runner.domain.workers import WORKER_OFFLINE, worker_state
from runner.operations._common import (
    check_task,
    known_tasks,
    open_read,
    process_alive,
    run_json,
)
from runner.operations._control import control_json
from runner.operations._metrics import metrics_json
from runner.state import (
    ControlRow,
    RunRequestRow,
    RunRow,
    StateStore,
    TaskRow,
    UnderWay,
    WorkerRow,
    read_under_way,
)

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """One runner of a site as `status` shows it."""

    site: str
    state: str
    heartbeat: float
    host: str
    pid: int
    throughput: float
    items_done: int
    started: float
    instance: str = ""
    """The runner's identity within its site (`--instance`, else `host:pid`)."""
    running: int = 0
    """Items with an open attempt this runner recorded (launched or about to be)."""

    def to_json(self) -> dict[str, Any]:
        """The `workers[]` element of `status --json`."""
        return {
            "site": self.site,
            "instance": self.instance,
            "running": self.running,
            "state": self.state,
            "heartbeat": iso(self.heartbeat),
            "host": self.host,
            "pid": self.pid,
            "throughput": self.throughput,
            "items_done": self.items_done,
            "started": iso(self.started),
        }


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """One task as `status` shows it."""

    name: str
    status: str
    site: str
    in_pipeline: bool
    created: float | None
    last_modified: float | None
    last_modified_by: str | None
    command: str | None
    latest_detail: str | None
    sequence: int
    queues: dict[str, int]
    running: int
    about_to_launch: int
    """Items whose attempt is recorded ahead of a free slot, not launched yet."""
    last_run: RunRow | None
    halted: ControlRow | None = None
    """The halt or pause holding the task (no new item starts), or None."""
    metrics: Mapping[str, float] = field(default_factory=dict)
    """Per metric name, the sum over the task's items (each: the sum over its attempts)."""
    run_requested: RunRequestRow | None = None
    """A `run --now` recorded for the serving runner and not taken yet, or None."""

    @property
    def categories(self) -> dict[str, int]:
        """Items per category (every category, zeros included)."""
        counts = dict.fromkeys(q.CATEGORIES, 0)
        for queue, count in self.queues.items():
            counts[q.CATEGORY[queue]] += count
        return counts

    @property
    def total(self) -> int:
        """Items in the queues counted in totals (not trash, incorrect-format, disabled)."""
        return sum(n for queue, n in self.queues.items() if queue in q.COUNTED_IN_TOTALS)

    def to_json(self) -> dict[str, Any]:
        """The `tasks[]` element of `status --json`."""
        return {
            "name": self.name,
            "status": self.status,
            "site": self.site,
            "in_pipeline": self.in_pipeline,
            "created": iso(self.created),
            "last_modified": iso(self.last_modified),
            "last_modified_by": self.last_modified_by,
            "command": self.command,
            "latest_detail": self.latest_detail,
            "sequence": self.sequence,
            "queues": dict(self.queues),
            "categories": self.categories,
            "running": self.running,
            "about_to_launch": self.about_to_launch,
            "total": self.total,
            "last_run": run_json(self.last_run),
            "halted": control_json(self.halted),
            "metrics": metrics_json(self.metrics),
            "run_requested": _request_json(self.run_requested),
        }


@dataclass(frozen=True, slots=True)
class StatusReport:
    """What `runner status` reports: every site's runner and every task."""

    workers: list[WorkerStatus]
    tasks: list[TaskStatus]

    def to_json(self) -> dict[str, Any]:
        """The documented shape of `status --json`."""
        return {
            "workers": [w.to_json() for w in self.workers],
            "tasks": [t.to_json() for t in self.tasks],
        }


def status(
    pipeline: Pipeline,
    *,
    tasks: Sequence[str] = (),
    now: float | None = None,
    alive: Callable[[WorkerRow], bool] = process_alive,
) -> StatusReport:
    """Workers and tasks (those of the pipeline, and any other the state still holds).

    A worker is `offline` as runner.domain.workers.worker_state says (stale heartbeat, clean exit,
    or its process known to be gone). A task is `disabled` when the pipeline
    says `enabled: false`, `halted` when its brake or an operator (`pause`) holds it, `new`
    when it never ran, `interrupted` when it has an open run and
    no runner is up for its site; otherwise the status the runner recorded (`running`,
    `idle`, `failed`).
    """
    instant = time.time() if now is None else now
    store = open_read(pipeline)
    try:
        for name in tasks:
            check_task(pipeline, store, name)
        names = [n for n in known_tasks(pipeline, store) if not tasks or n in tasks]
        if store is None:
            return StatusReport(
                [],
                [_task_status(pipeline, None, n, {}, None, None, None, set(), None) for n in names],
            )
        by_runner = Counter(runner for *_, runner in store.running_attempts())
        workers = [
            WorkerStatus(
                site=w.site,
                state=worker_state(w, instant, alive=alive),
                heartbeat=w.heartbeat,
                host=w.host,
                pid=w.pid,
                throughput=w.throughput,
                items_done=w.items_done,
                started=w.started_at,
                instance=w.name,
                running=by_runner.get(w.name, 0),
            )
            for w in store.workers()
        ]
        up = {w.site for w in workers if w.state != WORKER_OFFLINE}
        under_way = read_under_way(store)
        rows = {row.name: row for row in store.tasks()}
        halts = store.task_halts()
        pending: dict[str, RunRequestRow] = {}
        for site in {pipeline.task_site(n) for n in pipeline.tasks} | {w.site for w in workers}:
            for request in store.pending_run_requests(site):
                pending.setdefault(request.task, request)
        result = []
        for name in names:
            row = rows.get(name)
            counts = store.queue_counts(name) if row is not None else {}
            last = store.last_run(name) if row is not None else None
            entry = _task_status(
                pipeline, row, name, counts, under_way, last, store, up, halts.get(name)
            )
            result.append(replace(entry, run_requested=pending.get(name)))
        return StatusReport(workers, result)
    finally:
        if store is not None:
            store.close()


def _task_status(
    pipeline: Pipeline,
    row: TaskRow | None,
    name: str,
    counts: Mapping[str, int],
    under_way: UnderWay | None,
    last: RunRow | None,
    store: StateStore | None,
    sites_up: set[str],
    halted: ControlRow | None,
) -> TaskStatus:
    config = pipeline.tasks.get(name)
    site = pipeline.task_site(name) if config is not None else (row.site if row else "")
    if config is not None and not config.enabled:
        state = TASK_DISABLED
    elif halted is not None:
        state = TASK_HALTED
    elif row is None:
        state = TASK_NEW
    elif store is not None and site not in sites_up and store.open_run(name) is not None:
        state = TASK_INTERRUPTED
    else:
        state = row.status
    return TaskStatus(
        name=name,
        status=state,
        site=site,
        in_pipeline=config is not None,
        created=row.created if row else None,
        last_modified=row.last_modified if row else None,
        last_modified_by=(row.last_modified_by or None) if row else None,
        command=(row.command or None) if row and state == TASK_RUNNING else None,
        latest_detail=(row.latest_detail or None) if row else None,
        sequence=row.sequence if row else 0,
        queues={queue: int(counts.get(queue, 0)) for queue in q.ALL_QUEUES},
        running=under_way.running.get(name, 0) if under_way else 0,
        about_to_launch=under_way.ahead.get(name, 0) if under_way else 0,
        last_run=last,
        halted=halted,
        metrics=store.metrics_of_task(name) if store is not None and row is not None else {},
    )


def _request_json(request: RunRequestRow | None) -> dict[str, Any] | None:
    """A pending run-now request as `status --json` shows it: `{"by", "at"}` or null."""
    if request is None:
        return None
    return {"by": request.by, "at": iso(request.at)}
