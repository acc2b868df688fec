"""What several operator verbs share: time and user helpers, state access, task and queue checks.

Also the tables and constants more than one verb shows: what each queue and each built-in
status means, and when a worker counts as `offline`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.domain import queues as q
from runner.domain.statuses import FAILED, HUNG, INTERRUPTED, OK, START_FAILED, TIMEOUT
from runner.domain.timefmt import iso
from runner.errors import UsageError
from runner.state import ItemRow, MoveRow, RunRow, StateStore, WorkerRow, open_existing
from runner.system.liveness import gone_here

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline


QUEUE_MEANING: Mapping[str, str] = {
    q.RUN_NOW: "starts first, at the next chance, even out of schedule or for a task without a schedule",
    q.RESCHEDULED: "runs again in the task's next run, before retries and new items",
    q.RETRY: "failed with a status its policy retries; runs again once its backoff is over",
    q.UNATTEMPTED: "not tried yet (or moved back to start over); runs in turn, first in first out",
    q.INCOMPLETE: "lacks attributes its definition requires; leaves by itself once the group supplies them",
    q.PAUSED: "held by an operator: kept, never run until moved",
    q.SUCCESSFUL: "done: its last attempt succeeded",
    q.CORRUPT: "an outcome rule found the item corrupt; waits for a person",
    q.IN_USE: "an outcome rule found the item in use; waits for a person",
    q.INACCESSIBLE: "an outcome rule found the item inaccessible; waits for a person",
    q.PASSWORD_PROTECTED: "an outcome rule found the item password protected; waits for a person",
    q.AWAITING_INTERVENTION: "failed and not retried (or its retries ran out); waits for a person",
    q.TRASH: "dropped by an operator: never run, not counted, not brought back by the group",
    q.INCORRECT_FORMAT: "an outcome rule found it unusable: never run, not counted, not brought back",
    q.DISABLED: "switched off by an operator: never run, not counted",
}
"""What each queue means for an item, as `explain` and docs/operations.md say it."""

STATUS_MEANING: Mapping[str, str] = {
    OK: "the attempt succeeded (exit 0, or an outcome rule said ok)",
    FAILED: "non-zero exit and no outcome rule matched",
    TIMEOUT: "ran longer than the definition's timeout; its process tree was killed",
    HUNG: "no output and no event for idle_timeout; its process tree was killed",
    START_FAILED: "the command could not be started (not found, not executable, bad template)",
    INTERRUPTED: "the runner stopped or died while the attempt ran",
}
"""The built-in attempt statuses; any other status comes from an outcome rule."""


def process_alive(worker: WorkerRow) -> bool:
    """False only when the worker ran on this host and its process is gone."""
    return not gone_here(worker.host, worker.pid)


def open_read(pipeline: Pipeline) -> StateStore | None:
    """The state opened read-only, or None when nothing has run yet."""
    return open_existing(pipeline.state_location)


def known_tasks(pipeline: Pipeline, store: StateStore | None) -> list[str]:
    """Every task name of the pipeline and of the state, sorted."""
    names = set(pipeline.tasks)
    if store is not None:
        names.update(row.name for row in store.tasks())
    return sorted(names)


def check_task(pipeline: Pipeline, store: StateStore | None, name: str) -> None:
    """Refuse a task that is neither in the pipeline nor in the state, naming the nearest."""
    if name in pipeline.tasks:
        return
    known = known_tasks(pipeline, store)
    if name in known:
        return
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; tasks: {', '.join(known) or 'none'}"
    raise UsageError(f"no task named {name!r} in the pipeline or its state{hint}")


def check_queue_name(name: str, role: str = "") -> str:
    """Return `name` if it is a queue; else UsageError with the nearest queue and the list."""
    if name in q.CATEGORY:
        return name
    close = difflib.get_close_matches(name, q.ALL_QUEUES, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    what = f"{role} queue" if role else "queue"
    raise UsageError(f"unknown {what} '{name}'; {hint}queues are: {', '.join(q.ALL_QUEUES)}")


@contextmanager
def read_item(pipeline: Pipeline, task: str, item_id: str) -> Iterator[tuple[StateStore, ItemRow]]:
    """The state file opened read-only and the item's row, closed on leaving the block.

    UsageError when `task` has not run yet (no state file), is unknown, or has no such item.
    """
    store = open_read(pipeline)
    if store is None:
        raise UsageError(
            f"task {task!r} has no items yet: there is no state at {pipeline.state_location} "
            f"(run it first: runner run --task {task} --now)"
        )
    try:
        check_task(pipeline, store, task)
        row = store.item(task, item_id)
        if row is None:
            raise UsageError(
                f"task {task!r} has no item {item_id!r}; find it with: "
                f"runner items --task {task} --match TEXT"
            )
        yield store, row
    finally:
        store.close()


def run_json(run: RunRow | None) -> dict[str, Any] | None:
    """A run as `status --json` and `explain --json` show it, None for None."""
    if run is None:
        return None
    return {
        "id": run.id,
        "trigger": run.trigger,
        "status": run.status,
        "phase": run.phase,
        "started": iso(run.started_at),
        "ended": iso(run.ended_at),
        "window_end": iso(run.window_end),
    }


@dataclass(frozen=True, slots=True)
class MoveEntry:
    """One operator move in an item's history (and, without its `kind`, in `explain`)."""

    at: float
    by: str
    from_queue: str
    to_queue: str
    reason: str
    applied: float | None
    superseded: bool = False
    """A later move replaced it before it took effect (`policy.superseded`)."""

    kind = "move"

    @classmethod
    def of(cls, row: MoveRow, *, superseded: bool = False) -> MoveEntry:
        """The entry of a state row."""
        applied = None if superseded else row.applied_at
        return cls(row.at, row.by, row.from_queue, row.to_queue, row.reason, applied, superseded)

    def to_json(self) -> dict[str, Any]:
        """One `move` element of `history --json`."""
        return {
            "kind": self.kind,
            "at": iso(self.at),
            "by": self.by,
            "from": self.from_queue,
            "to": self.to_queue,
            "reason": self.reason,
            "applied": iso(self.applied),
            "pending": self.applied is None and not self.superseded,
            "superseded": self.superseded,
            "manual": self.manual,
        }

    @property
    def manual(self) -> bool:
        """A move to `successful`: the item's work declared done by hand."""
        return self.to_queue == q.SUCCESSFUL


def move_json(move: MoveRow | None) -> dict[str, Any] | None:
    """The latest move as `explain --json` shows it: its history entry without `kind`."""
    if move is None:
        return None
    shown = MoveEntry.of(move).to_json()
    del shown["kind"]
    return shown
