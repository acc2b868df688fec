"""The library behind the operators' verbs: status, items, move, history, explain, logs.

Each verb is a plain function taking a loaded `Pipeline` and returning dataclasses whose
`to_json()` gives the documented, stable `--json` shape (docs/operations.md); the CLI only
prints them. Reading verbs open the state file read-only and never take the runner lock, so
they are safe while a runner works. `move` writes through `StateStore.move_item`, all items
in one transaction, and logs one `item.moved` event per item to the pipeline's log files.
Errors are `RunnerError` subclasses saying what to do; a refused or unknown item is a
`UsageError` (exit 2).
"""

from __future__ import annotations

import difflib
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner import queues as q
from runner.errors import UsageError
from runner.state import (
    ItemRow,
    MoveRow,
    RunRow,
    StateStore,
    TaskRow,
    WorkerRow,
    open_store,
    reports,
)

if TYPE_CHECKING:
    from runner.config.models import Pipeline, Schedule, Task
    from runner.logview import EventStream, LogFilter

DEFAULT_LIMIT = 100
"""Rows `runner items` shows on a terminal table unless `--limit` says otherwise."""

STALE_HEARTBEATS = 3
"""A worker whose heartbeat is older than this many heartbeat intervals is `offline`."""

# Worker states (SPEC §4) and task statuses shown by `status`: stable forever.
WORKER_OFFLINE = "offline"
TASK_NEW = "new"
TASK_DISABLED = "disabled"
TASK_INTERRUPTED = "interrupted"
TASK_RUNNING = "running"

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
    q.OK: "the attempt succeeded (exit 0, or an outcome rule said ok)",
    q.FAILED: "non-zero exit and no outcome rule matched",
    q.TIMEOUT: "ran longer than the definition's timeout; its process tree was killed",
    q.HUNG: "no output and no event for idle_timeout; its process tree was killed",
    q.START_FAILED: "the command could not be started (not found, not executable, bad template)",
    q.INTERRUPTED: "the runner stopped or died while the attempt ran",
}
"""The built-in attempt statuses; any other status comes from an outcome rule."""


class MoveRefusedError(UsageError):
    """Raised when `runner move` refuses at least one item; nothing was moved."""


# -- shared helpers --------------------------------------------------------------------------


def iso(ts: float | None) -> str | None:
    """An epoch time as ISO 8601 UTC (`2026-11-21T09:00:00Z`), None for None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def os_user() -> str:
    """The name of the user running this process (who a move is recorded as by default)."""
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get("USER", "unknown")


def _state_path(pipeline: Pipeline) -> Path:
    return pipeline.resolve_path(pipeline.settings.state)


def _open_read(pipeline: Pipeline) -> StateStore | None:
    """The state file opened read-only, or None when nothing has run yet."""
    path = _state_path(pipeline)
    if not path.exists():
        return None
    return open_store(path, readonly=True)


def _need_state(pipeline: Pipeline, task: str) -> StateStore:
    store = _open_read(pipeline)
    if store is None:
        raise UsageError(
            f"task {task!r} has no items yet: there is no state file at {_state_path(pipeline)} "
            f"(run it first: runner run --task {task} --now)"
        )
    return store


def _known_tasks(pipeline: Pipeline, store: StateStore | None) -> list[str]:
    names = set(pipeline.tasks)
    if store is not None:
        names.update(row.name for row in store.tasks())
    return sorted(names)


def _check_task(pipeline: Pipeline, store: StateStore | None, name: str) -> None:
    """Refuse a task that is neither in the pipeline nor in the state, naming the nearest."""
    if name in pipeline.tasks:
        return
    known = _known_tasks(pipeline, store)
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


def _no_item(task: str, item_id: str) -> UsageError:
    return UsageError(
        f"task {task!r} has no item {item_id!r}; find it with: "
        f"runner items --task {task} --match TEXT"
    )


def _worker_state(
    worker: WorkerRow, now: float, alive: Callable[[WorkerRow], bool], stale_after: float
) -> str:
    if now - worker.heartbeat > stale_after or not alive(worker):
        return WORKER_OFFLINE
    return worker.state


def process_alive(worker: WorkerRow) -> bool:
    """False only when the worker ran on this host and its process is gone."""
    if worker.host != socket.gethostname():
        return True
    try:
        os.kill(worker.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale_after() -> float:
    from runner.engine import HEARTBEAT_EVERY

    return STALE_HEARTBEATS * HEARTBEAT_EVERY


def _run_json(run: RunRow | None) -> dict[str, Any] | None:
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


def _move_json(move: MoveRow | None) -> dict[str, Any] | None:
    if move is None:
        return None
    return {
        "at": iso(move.at),
        "by": move.by,
        "from": move.from_queue,
        "to": move.to_queue,
        "reason": move.reason,
        "applied": iso(move.applied_at),
        "pending": move.applied_at is None,
    }


# -- status ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """One site's runner as `status` shows it."""

    site: str
    state: str
    heartbeat: float
    host: str
    pid: int
    throughput: float
    items_done: int
    started: float

    def to_json(self) -> dict[str, Any]:
        """The `workers[]` element of `status --json`."""
        return {
            "site": self.site,
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
    last_run: RunRow | None

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
            "total": self.total,
            "last_run": _run_json(self.last_run),
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

    A worker is `offline` when its heartbeat is older than `STALE_HEARTBEATS` heartbeat
    intervals or its process is known to be gone. A task is `disabled` when the pipeline
    says `enabled: false`, `new` when it never ran, `interrupted` when it has an open run and
    no runner is up for its site; otherwise the status the runner recorded (`running`,
    `idle`, `failed`).
    """
    instant = time.time() if now is None else now
    store = _open_read(pipeline)
    try:
        for name in tasks:
            _check_task(pipeline, store, name)
        names = [n for n in _known_tasks(pipeline, store) if not tasks or n in tasks]
        if store is None:
            return StatusReport(
                [], [_task_status(pipeline, None, n, {}, 0, None, None, set()) for n in names]
            )
        stale_after = _stale_after()
        workers = [
            WorkerStatus(
                site=w.site,
                state=_worker_state(w, instant, alive, stale_after),
                heartbeat=w.heartbeat,
                host=w.host,
                pid=w.pid,
                throughput=w.throughput,
                items_done=w.items_done,
                started=w.started_at,
            )
            for w in store.workers()
        ]
        up = {w.site for w in workers if w.state != WORKER_OFFLINE}
        running = reports.running_by_task(store)
        rows = {row.name: row for row in store.tasks()}
        result = []
        for name in names:
            row = rows.get(name)
            counts = store.queue_counts(name) if row is not None else {}
            last = store.last_run(name) if row is not None else None
            result.append(
                _task_status(pipeline, row, name, counts, running.get(name, 0), last, store, up)
            )
        return StatusReport(workers, result)
    finally:
        if store is not None:
            store.close()


def _task_status(
    pipeline: Pipeline,
    row: TaskRow | None,
    name: str,
    counts: Mapping[str, int],
    running: int,
    last: RunRow | None,
    store: StateStore | None,
    sites_up: set[str],
) -> TaskStatus:
    config = pipeline.tasks.get(name)
    site = pipeline.task_site(name) if config is not None else (row.site if row else "")
    if config is not None and not config.enabled:
        state = TASK_DISABLED
    elif row is None:
        state = TASK_NEW
    elif store is not None and site not in sites_up and reports.open_run(store, name) is not None:
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
        running=running,
        last_run=last,
    )


# -- items -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemEntry:
    """One item as `runner items` lists it."""

    id: str
    queue: str
    attempts: int
    status: str | None
    last_error: str | None
    updated: float
    entered: float
    retry_at: float | None
    running: bool
    pending_queue: str | None
    in_group: bool

    @classmethod
    def of(cls, row: ItemRow) -> ItemEntry:
        """The entry of a state row."""
        return cls(
            id=row.item_id,
            queue=row.queue,
            attempts=row.attempts,
            status=row.last_status,
            last_error=row.last_error,
            updated=row.updated,
            entered=row.entered_at,
            retry_at=row.retry_at,
            running=row.running_attempt is not None,
            pending_queue=row.pending_queue,
            in_group=row.in_group,
        )

    def to_json(self) -> dict[str, Any]:
        """One element of `items --json`."""
        return {
            "id": self.id,
            "queue": self.queue,
            "attempts": self.attempts,
            "status": self.status,
            "last_error": self.last_error,
            "updated": iso(self.updated),
            "entered": iso(self.entered),
            "retry_at": iso(self.retry_at),
            "running": self.running,
            "pending_queue": self.pending_queue,
            "in_group": self.in_group,
        }


@dataclass(frozen=True, slots=True)
class ItemsPage:
    """A page of `runner items`: `total` items match, `items` are those from `offset` on."""

    task: str
    total: int
    offset: int
    limit: int | None
    items: list[ItemEntry] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def items(
    pipeline: Pipeline,
    task: str,
    *,
    queues: Sequence[str] = (),
    category: str | None = None,
    match: str | None = None,
    status: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    include_left: bool = False,
) -> ItemsPage:
    """The task's items that match, in listing order (`reports.LISTING_ORDER`, FIFO in a queue).

    `queues` and `category` narrow the queues (both: their intersection); `match` is a
    case-insensitive substring of the id or last error; `status` the last status; `limit`
    None shows every item. Items that left the group are left out unless `include_left`.
    """
    for name in queues:
        check_queue_name(name)
    if category is not None and category not in q.CATEGORIES:
        close = difflib.get_close_matches(category, q.CATEGORIES, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise UsageError(
            f"unknown category '{category}'; {hint}categories are: {', '.join(q.CATEGORIES)}"
        )
    if (limit is not None and limit < 0) or offset < 0:
        raise UsageError("--limit and --offset take a number of items, 0 or more")
    chosen = tuple(dict.fromkeys(queues)) or q.ALL_QUEUES
    if category is not None:
        chosen = tuple(name for name in chosen if q.CATEGORY[name] == category)
    store = _open_read(pipeline)
    try:
        _check_task(pipeline, store, task)
        if store is None or not chosen:
            return ItemsPage(task, 0, offset, limit)
        query = reports.ItemQuery(
            task=task, queues=chosen, match=match, status=status, include_left=include_left
        )
        counts = reports.count_items_by_queue(store, query)
        rows = reports.page_items(store, query, limit=limit, offset=offset, counts=counts)
        return ItemsPage(
            task, sum(counts.values()), offset, limit, [ItemEntry.of(r) for r in rows], counts
        )
    finally:
        if store is not None:
            store.close()


# -- move ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MoveRecord:
    """One item moved; `pending` when it was running and the move applies when its attempt ends."""

    item: str
    from_queue: str
    to_queue: str
    at: float
    by: str
    reason: str
    pending: bool

    def to_json(self) -> dict[str, Any]:
        """One element of `moves` in `move --json`."""
        return {
            "item": self.item,
            "from": self.from_queue,
            "to": self.to_queue,
            "at": iso(self.at),
            "by": self.by,
            "reason": self.reason,
            "pending": self.pending,
        }


@dataclass(frozen=True, slots=True)
class MoveOutcome:
    """What `runner move` did."""

    task: str
    to_queue: str
    moves: list[MoveRecord]

    @property
    def pending(self) -> int:
        """Moves waiting for a running attempt to end."""
        return sum(1 for m in self.moves if m.pending)

    def to_json(self) -> dict[str, Any]:
        """The documented shape of `move --json`."""
        return {
            "task": self.task,
            "to": self.to_queue,
            "moved": len(self.moves),
            "pending": self.pending,
            "moves": [m.to_json() for m in self.moves],
        }


def move(
    pipeline: Pipeline,
    task: str,
    to_queue: str,
    item_ids: Sequence[str] = (),
    *,
    from_queue: str | None = None,
    reason: str = "",
    by: str | None = None,
    now: float | None = None,
    env: Mapping[str, str] | None = None,
) -> MoveOutcome:
    """Move items by hand: the named ones, or (with only `from_queue`) every item of a queue.

    All or nothing: unknown ids, or any item `queues.check_move` refuses (or, with both ids
    and `from_queue`, a named item not in that queue), raise `UsageError` /
    `MoveRefusedError` and nothing moves. The moves are one transaction; a running item's
    move waits for its attempt to end. Who is `by` or the OS user; `by` and `reason` are
    masked like every other text the runner keeps. Each move is logged as `item.moved`.
    Safe while a runner works: no lock is taken, the state's own transactions order it.
    """
    from runner.logging import close_logging, configure_logging, get_logger
    from runner.masking import Masker

    if not item_ids and from_queue is None:
        raise UsageError(
            "name the items to move, or give --from-queue Q to move every item of a queue"
        )
    check_queue_name(to_queue, "target")
    if from_queue is not None:
        check_queue_name(from_queue, "source")
    instant = time.time() if now is None else now
    masker = Masker.from_env(pipeline.settings.secrets, os.environ if env is None else env)
    who = masker.mask_text(by if by else os_user())
    why = masker.mask_text(reason)
    path = _state_path(pipeline)
    if not path.exists():
        raise UsageError(
            f"task {task!r} has no items to move: there is no state file at {path} "
            f"(run it first: runner run --task {task} --now)"
        )
    site = pipeline.task_site(task) if task in pipeline.tasks else pipeline.settings.site
    configure_logging(
        log_dir=pipeline.resolve_path(pipeline.settings.logs),
        stderr_format="json",
        masker=masker,
        level="warning",  # the file gets `info` and above; stderr stays quiet
    )
    try:
        store = open_store(path)
        try:
            _check_task(pipeline, store, task)
            with store.batch():
                rows = _rows_to_move(store, task, item_ids, from_queue)
                _refuse(task, to_queue, rows, from_queue if item_ids else None)
                moved = [
                    store.move_item(
                        task, row.item_id, to_queue=to_queue, by=who, reason=why, now=instant
                    )
                    for row in rows
                ]
        finally:
            store.close()
        log = get_logger(site=site)
        records = []
        for done in moved:
            record = MoveRecord(
                item=done.item_id,
                from_queue=done.from_queue,
                to_queue=done.to_queue,
                at=done.at,
                by=done.by,
                reason=done.reason,
                pending=done.applied_at is None,
            )
            records.append(record)
            log.info(
                "item.moved",
                task=task,
                item=record.item,
                from_queue=record.from_queue,
                to_queue=record.to_queue,
                by=record.by,
                reason=record.reason,
                pending=record.pending,
            )
        return MoveOutcome(task, to_queue, records)
    finally:
        close_logging()


def _rows_to_move(
    store: StateStore, task: str, item_ids: Sequence[str], from_queue: str | None
) -> list[ItemRow]:
    if item_ids:
        wanted = list(dict.fromkeys(item_ids))
        found = reports.find_items(store, task, wanted)
        unknown = [i for i in wanted if i not in found]
        if unknown:
            shown = ", ".join(repr(i) for i in unknown[:10])
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            noun = "item" if len(unknown) == 1 else "items"
            raise UsageError(
                f"nothing was moved: task {task!r} has no {noun} {shown}{more}; "
                f"find ids with: runner items --task {task} --match TEXT"
            )
        return [found[i] for i in wanted]
    assert from_queue is not None
    ids = reports.item_ids_in_queue(store, task, from_queue)
    found = reports.find_items(store, task, ids)
    return [found[i] for i in ids]


def _refuse(task: str, to_queue: str, rows: Sequence[ItemRow], only_from: str | None) -> None:
    """Raise MoveRefusedError listing every refused item, grouped by the reason."""
    refused: dict[str, list[str]] = {}
    for row in rows:
        current = row.pending_queue or row.queue
        if only_from is not None and current != only_from:
            why = f"it is in '{current}', not in '{only_from}'"
        else:
            why = q.check_move(current, to_queue, missing_attributes=row.missing) or ""
            if why:
                why = f"in '{current}': {why}"
        if why:
            refused.setdefault(why, []).append(row.item_id)
    if not refused:
        return
    count = sum(len(ids) for ids in refused.values())
    lines = [
        f"nothing was moved: {count} of {len(rows)} items of task {task!r} "
        f"cannot go to '{to_queue}':"
    ]
    for why, ids in refused.items():
        shown = ", ".join(repr(i) for i in ids[:5])
        more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
        lines.append(f"  {shown}{more}: {why}")
    raise MoveRefusedError("\n".join(lines))


# -- history ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptEntry:
    """One attempt in an item's history."""

    at: float
    number: int
    run_id: str
    ended: float | None
    status: str | None
    exit_code: int | None
    signal: int | None
    error: str | None
    queue: str | None
    duration_s: float | None
    definition_hash: str
    checkpoints: int
    events: int
    stdout: str | None
    stderr: str | None

    kind = "attempt"

    def to_json(self) -> dict[str, Any]:
        """One `attempt` element of `history --json`."""
        return {
            "kind": self.kind,
            "at": iso(self.at),
            "attempt": self.number,
            "run_id": self.run_id,
            "ended": iso(self.ended),
            "status": self.status,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "error": self.error,
            "queue": self.queue,
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "definition_hash": self.definition_hash,
            "checkpoints": self.checkpoints,
            "events": self.events,
            "stdout": self.stdout,
            "stderr": self.stderr,
        }


@dataclass(frozen=True, slots=True)
class MoveEntry:
    """One operator move in an item's history."""

    at: float
    by: str
    from_queue: str
    to_queue: str
    reason: str
    applied: float | None

    kind = "move"

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
            "pending": self.applied is None,
        }


@dataclass(frozen=True, slots=True)
class ItemHistory:
    """Every attempt and move of one item, oldest first."""

    task: str
    item: str
    queue: str
    current_definition: str | None
    entries: list[AttemptEntry | MoveEntry]

    def to_json(self) -> list[dict[str, Any]]:
        """The documented shape of `history --json`: the entries in time order."""
        return [entry.to_json() for entry in self.entries]


def history(pipeline: Pipeline, task: str, item_id: str) -> ItemHistory:
    """Every attempt (with its outcome, definition hash, checkpoints and output files) and
    every operator move of one item, in time order (a move before an attempt of the same instant).

    An attempt's `checkpoints` are the sub-ids it announced (`{"processed": ...}`) that no
    earlier attempt had; `events` counts every valid event line it wrote (processed, detail,
    progress, metric). Output files are given only when they still exist.
    """
    from runner.launch import AttemptFiles

    store = _need_state(pipeline, task)
    try:
        _check_task(pipeline, store, task)
        row = store.item(task, item_id)
        if row is None:
            raise _no_item(task, item_id)
        entries: list[tuple[float, int, int, AttemptEntry | MoveEntry]] = []
        processed = reports.processed_by_attempt(store, task, item_id)
        for a in store.attempts_of(task, item_id):
            files = AttemptFiles(Path(a.output_dir), a.number) if a.output_dir else None
            entries.append(
                (
                    a.started_at,
                    1,
                    a.id,
                    AttemptEntry(
                        at=a.started_at,
                        number=a.number,
                        run_id=a.run_id,
                        ended=a.ended_at,
                        status=a.status,
                        exit_code=a.exit_code,
                        signal=a.signal,
                        error=a.error,
                        queue=a.queue,
                        duration_s=a.duration_s,
                        definition_hash=a.definition_hash,
                        checkpoints=processed.get(a.id, 0),
                        events=a.checkpoints,
                        stdout=_existing(files.stdout) if files else None,
                        stderr=_existing(files.stderr) if files else None,
                    ),
                )
            )
        for m in store.moves_of(task, item_id):
            entries.append(
                (
                    m.at,
                    0,
                    m.id,
                    MoveEntry(m.at, m.by, m.from_queue, m.to_queue, m.reason, m.applied_at),
                )
            )
        entries.sort(key=lambda e: e[:3])
        config = pipeline.tasks.get(task)
        current = pipeline.definitions[config.definition].fingerprint() if config else None
        return ItemHistory(task, item_id, row.queue, current, [e[3] for e in entries])
    finally:
        store.close()


def _existing(path: Path) -> str | None:
    return str(path) if path.is_file() else None


# -- explain ---------------------------------------------------------------------------------

# Reasons `explain` gives (the `reason` of its JSON): stable forever.
R_RUNNING = "running"
R_INTERRUPTED = "interrupted"
R_LEFT_GROUP = "left-group"
R_TASK_REMOVED = "task-removed"
R_MISSING = "missing-attributes"
R_HELD = "held"
R_ERROR_QUEUE = "error-queue"
R_DONE = "done"
R_TASK_DISABLED = "task-disabled"
R_BACKOFF = "backoff"
R_OUT_OF_SCHEDULE = "out-of-schedule"
R_NO_SCHEDULE = "no-schedule"
R_NEXT_RUN = "next-run"
R_NO_RUNNER = "no-runner"
R_CONCURRENCY = "concurrency-full"
R_WAITING = "waiting"

EXPLAIN_REASONS: tuple[str, ...] = (
    R_RUNNING,
    R_INTERRUPTED,
    R_LEFT_GROUP,
    R_TASK_REMOVED,
    R_MISSING,
    R_HELD,
    R_ERROR_QUEUE,
    R_DONE,
    R_TASK_DISABLED,
    R_BACKOFF,
    R_OUT_OF_SCHEDULE,
    R_NO_SCHEDULE,
    R_NEXT_RUN,
    R_NO_RUNNER,
    R_CONCURRENCY,
    R_WAITING,
)


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why an item is or is not running now: one sentence (`summary`), then details."""

    task: str
    item: str
    queue: str
    reason: str
    summary: str
    details: list[str]
    facts: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The documented shape of `explain --json`."""
        return {
            "task": self.task,
            "item": self.item,
            "queue": self.queue,
            "category": q.CATEGORY.get(self.queue),
            "meaning": QUEUE_MEANING.get(self.queue, ""),
            "reason": self.reason,
            "summary": self.summary,
            "details": list(self.details),
            **self.facts,
        }


@dataclass(frozen=True, slots=True)
class _ScheduleView:
    """Whether the item's task may start items from its schedule now, and what comes next."""

    in_schedule: bool
    due_now: bool
    next_fire: float | None
    window_end: float | None
    text: str


def explain(
    pipeline: Pipeline,
    task: str,
    item_id: str,
    *,
    now: float | None = None,
    alive: Callable[[WorkerRow], bool] = process_alive,
) -> Explanation:
    """Why the item is or is not running now, checked in this order: running; left the group;
    task no longer in the pipeline; its queue (incomplete, held, error, done); task disabled;
    backoff; schedule; no runner up; concurrency full; else waiting its turn.
    """
    instant = time.time() if now is None else now
    store = _need_state(pipeline, task)
    try:
        _check_task(pipeline, store, task)
        row = store.item(task, item_id)
        if row is None:
            raise _no_item(task, item_id)
        return _Explainer(pipeline, store, row, instant, alive).explain()
    finally:
        store.close()


class _Explainer:
    """Gathers the facts about one item once, then finds the first reason that applies."""

    def __init__(
        self,
        pipeline: Pipeline,
        store: StateStore,
        item: ItemRow,
        now: float,
        alive: Callable[[WorkerRow], bool],
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.item = item
        self.now = now
        self.config: Task | None = pipeline.tasks.get(item.task)
        self.task_row = store.task(item.task)
        moves = store.moves_of(item.task, item.item_id)
        self.latest_move = moves[-1] if moves else None
        self.open_run = reports.open_run(store, item.task)
        self.last_run = store.last_run(item.task)
        self.site = (
            pipeline.task_site(item.task)
            if self.config is not None
            else (self.task_row.site if self.task_row else pipeline.settings.site)
        )
        worker = next((w for w in store.workers() if w.site == self.site), None)
        self.worker = worker
        self.worker_state = (
            _worker_state(worker, now, alive, _stale_after()) if worker else WORKER_OFFLINE
        )
        settings = pipeline.settings
        self.runner_cap = settings.concurrency
        task_cap = self.config.concurrency if self.config is not None else None
        self.cap = min(task_cap or settings.concurrency, settings.concurrency)
        running = reports.running_by_task(store)
        self.running_task = running.get(item.task, 0)
        self.running_all = sum(running.values())
        self.policy = pipeline.policy_for(item.task) if self.config is not None else None
        self.ahead: int | None = None

    # -- the facts, in JSON and as detail lines -----------------------------------------------

    def facts(self, schedule: _ScheduleView | None) -> dict[str, Any]:
        item = self.item
        return {
            "running": item.running_attempt is not None,
            "attempts": item.attempts,
            "retries_used": item.retries_used,
            "max_retries": self.policy.max_retries if self.policy else None,
            "retry_at": iso(item.retry_at),
            "last_status": item.last_status,
            "last_error": item.last_error,
            "missing": list(item.missing),
            "in_group": item.in_group,
            "pending_queue": item.pending_queue,
            "task_enabled": self.config.enabled if self.config is not None else None,
            "latest_move": _move_json(self.latest_move),
            "open_run": _run_json(self.open_run),
            "next_fire": iso(schedule.next_fire) if schedule else None,
            "window_end": iso(schedule.window_end) if schedule else None,
            "concurrency": {
                "running": self.running_task,
                "cap": self.cap,
                "runner_running": self.running_all,
                "runner_cap": self.runner_cap,
            },
            "worker": {"site": self.site, "state": self.worker_state},
            "ahead": self.ahead,
        }

    def detail_lines(self, schedule: _ScheduleView | None) -> list[str]:
        item = self.item
        lines = [
            f"queue: {item.queue} ({q.CATEGORY.get(item.queue, '?')}): {QUEUE_MEANING.get(item.queue, '')}"
        ]
        tries = f"attempts: {item.attempts}"
        if self.policy is not None:
            tries += f"; retries used {item.retries_used} of {self.policy.max_retries}"
            if self.config is not None and self.config.policy:
                tries += f" (policy {self.config.policy})"
        lines.append(tries)
        if item.last_status is not None:
            lines.append(f"last status: {item.last_status} ({iso(item.updated)})")
        if item.last_error:
            lines.append(f"last error: {item.last_error}")
        if item.retry_at is not None and item.queue == q.RETRY:
            lines.append(f"backoff until: {iso(item.retry_at)}")
        if item.missing:
            lines.append(f"missing attributes: {', '.join(item.missing)}")
        if not item.in_group:
            lines.append("member of the group: no (it left the group)")
        if self.latest_move is not None:
            m = self.latest_move
            state = (
                f"applied {iso(m.applied_at)}" if m.applied_at else "pending until its attempt ends"
            )
            why = f": {m.reason}" if m.reason else ""
            lines.append(
                f"latest move: {iso(m.at)} by {m.by}, {m.from_queue} -> {m.to_queue} ({state}){why}"
            )
        if self.open_run is not None:
            r = self.open_run
            lines.append(
                f"open run: {r.id} (trigger {r.trigger}, started {iso(r.started_at)}, phase {r.phase})"
            )
        elif self.last_run is not None:
            r = self.last_run
            lines.append(
                f"no open run; last run {r.id} ended {iso(r.ended_at)} with status {r.status}"
            )
        else:
            lines.append("no run yet")
        if self.config is not None and not self.config.enabled:
            lines.append("task: disabled (enabled: false)")
        if schedule is not None:
            lines.append(f"schedule: {schedule.text}")
        lines.append(
            f"concurrency: {self.running_task} of {self.cap} running for this task, "
            f"{self.running_all} of {self.runner_cap} for the runner"
        )
        beat = f", heartbeat {iso(self.worker.heartbeat)}" if self.worker else ""
        lines.append(f"runner for site {self.site}: {self.worker_state}{beat}")
        if self.ahead is not None:
            lines.append(f"items ahead of it: {self.ahead}")
        return lines

    def result(
        self, reason: str, summary: str, schedule: _ScheduleView | None = None
    ) -> Explanation:
        return Explanation(
            task=self.item.task,
            item=self.item.item_id,
            queue=self.item.queue,
            reason=reason,
            summary=summary,
            details=self.detail_lines(schedule),
            facts=self.facts(schedule),
        )

    # -- the reasons, in order -----------------------------------------------------------------

    def explain(self) -> Explanation:
        item = self.item
        config = self.config
        if item.running_attempt is not None:
            return self._running()
        if not item.in_group:
            group = config.group if config is not None else "its group"
            return self.result(
                R_LEFT_GROUP,
                f"Not running: it left the group {group}; it keeps its queue ({item.queue}) and "
                "history, and runs again only if the group lists it again.",
            )
        if config is None:
            return self.result(
                R_TASK_REMOVED,
                f"Not running: task {item.task} is no longer in the pipeline; its items are kept "
                "in the state but nothing runs them.",
            )
        queue = item.queue
        if queue == q.INCOMPLETE:
            names = ", ".join(item.missing) or "attributes"
            return self.result(
                R_MISSING,
                f"Not running: it lacks {names}, which definition {config.definition} requires; "
                "it leaves incomplete by itself once the group supplies them.",
            )
        if queue in (q.PAUSED, q.DISABLED, q.TRASH):
            return self.result(R_HELD, self._held_sentence())
        if queue in q.ERROR_QUEUES or queue == q.INCORRECT_FORMAT:
            return self.result(R_ERROR_QUEUE, self._error_sentence())
        schedule = self._schedule(config)
        if queue == q.SUCCESSFUL:
            return self.result(R_DONE, self._done_sentence(config, schedule), schedule)
        if not config.enabled:
            return self.result(
                R_TASK_DISABLED,
                f"Not running: task {item.task} is disabled (enabled: false in the pipeline); "
                f"the item waits in {queue}.",
                schedule,
            )
        if queue == q.RETRY and item.retry_at is not None and item.retry_at > self.now:
            used = (
                f"retry {item.retries_used} of {self.policy.max_retries}"
                if self.policy
                else "a retry"
            )
            return self.result(
                R_BACKOFF,
                f"Not running: waiting for its backoff until {iso(item.retry_at)} ({used} after "
                f"status {item.last_status}).",
                schedule,
            )
        return self._dispatchable(config, schedule)

    def _running(self) -> Explanation:
        item = self.item
        attempt = self.store.attempt(item.running_attempt or 0)
        number = attempt.number if attempt else item.attempts
        since = iso(attempt.started_at) if attempt else "?"
        run_id = attempt.run_id if attempt else "?"
        pending = (
            f" An operator move to {item.pending_queue} applies when this attempt ends."
            if item.pending_queue
            else ""
        )
        if self.worker_state == WORKER_OFFLINE:
            return self.result(
                R_INTERRUPTED,
                f"Not running: attempt {number} (started {since} in run {run_id}) is recorded as "
                f"running, but no runner is up for site {self.site}; the next `runner run` "
                "records it as interrupted and its policy decides." + pending,
            )
        return self.result(
            R_RUNNING,
            f"Running: attempt {number} since {since} in run {run_id}." + pending,
        )

    def _held_sentence(self) -> str:
        item, move = self.item, self.latest_move
        if move is not None and move.to_queue == item.queue:
            why = f": {move.reason}" if move.reason else " (no reason given)"
            return (
                f"Not running: it is in {item.queue}, moved there by {move.by} at {iso(move.at)}"
                f"{why}. Move it to run-now or unattempted to run it."
            )
        return f"Not running: it is in {item.queue} ({QUEUE_MEANING[item.queue]})."

    def _error_sentence(self) -> str:
        item = self.item
        after = f" after status {item.last_status}" if item.last_status else ""
        tries = ""
        if self.policy is not None and item.last_status is not None:
            tries = f" (retries used {item.retries_used} of {self.policy.max_retries})"
        return (
            f"Not running: it is in the error queue {item.queue}{after}{tries} and waits for a "
            f"person; fix the cause, then: runner move --task {item.task} --to run-now "
            f"{_shell_word(item.item_id)}"
            if item.queue != q.INCORRECT_FORMAT
            else f"Not running: it is in incorrect-format{after}: it is never run again "
            "(move it to trash or disabled to take it out)."
        )

    def _done_sentence(self, config: Task, schedule: _ScheduleView | None) -> str:
        item = self.item
        when = iso(item.updated)
        if config.mode == q.MODE_ONCE:
            return (
                f"Not running: it succeeded ({when}); the task runs each item once (mode: once), "
                "so it is done. Move it to run-now to run it again."
            )
        upcoming = ""
        if schedule is not None and schedule.next_fire is not None:
            upcoming = f" (next fire {iso(schedule.next_fire)})"
        return (
            f"Not running: it succeeded ({when}); the task's next run (mode: recurring) runs it "
            f"again{upcoming}."
        )

    def _schedule(self, config: Task) -> _ScheduleView | None:
        if config.schedule is None:
            return None
        from runner.scheduler import due_fire, next_fire

        spec: Schedule = self.pipeline.schedules[config.schedule]
        window = f", window {_duration(spec.window)}" if spec.window else ""
        text = f"cron {spec.cron!r} in {spec.timezone}{window}"
        run = self.open_run
        if (
            run is not None
            and run.trigger == "schedule"
            and (run.window_end is None or self.now < run.window_end)
        ):
            until = f" until {iso(run.window_end)}" if run.window_end else ""
            return _ScheduleView(True, False, None, run.window_end, f"{text}; in its window{until}")
        row = self.task_row
        since = self.now
        if row is not None:
            since = (
                row.last_fire
                if row.last_fire is not None and row.last_fire <= self.now
                else row.created
            )
        due = due_fire(spec, since=since, now=self.now)
        if (
            run is None
            and due is not None
            and (due.window_end is None or due.window_end > self.now)
        ):
            return _ScheduleView(
                False,
                True,
                due.fire,
                due.window_end,
                f"{text}; fired at {iso(due.fire)}, not started yet",
            )
        fire = next_fire(spec, self.now)
        end = fire + spec.window if spec.window else None
        return _ScheduleView(False, False, fire, end, f"{text}; next fire {iso(fire)}")

    def _dispatchable(self, config: Task, schedule: _ScheduleView | None) -> Explanation:
        item, run = self.item, self.open_run
        needs_schedule = item.queue != q.RUN_NOW
        if run is not None:
            in_schedule = run.trigger == "now" or (
                run.trigger == "schedule" and schedule is not None and schedule.in_schedule
            )
            if needs_schedule and not in_schedule:
                return self._not_in_schedule(config, schedule)
            if self.worker_state == WORKER_OFFLINE:
                return self.result(
                    R_NO_RUNNER,
                    f"Not running: run {run.id} is open but no runner is up for site {self.site}; "
                    "the next `runner run` resumes it.",
                    schedule,
                )
            self.ahead = reports.items_ahead(
                self.store, item, now=self.now, in_schedule=in_schedule
            )
            if self.running_task >= self.cap or self.running_all >= self.runner_cap:
                full = (
                    f"{self.running_task} of {self.cap} for this task"
                    if self.running_task >= self.cap
                    else f"{self.running_all} of {self.runner_cap} for the runner"
                )
                return self.result(
                    R_CONCURRENCY,
                    f"Waiting: concurrency is full ({full} running); it starts when a slot frees"
                    f"{_ahead(self.ahead)}.",
                    schedule,
                )
            return self.result(
                R_WAITING,
                f"Waiting its turn in run {run.id}{_ahead(self.ahead)}.",
                schedule,
            )
        if not needs_schedule:
            return self.result(
                R_NEXT_RUN,
                "Not running yet: run-now items start at the next `runner run` (even out of "
                "schedule, and for a task without a schedule).",
                schedule,
            )
        return self._not_in_schedule(config, schedule)

    def _not_in_schedule(self, config: Task, schedule: _ScheduleView | None) -> Explanation:
        item = self.item
        if schedule is None:
            return self.result(
                R_NO_SCHEDULE,
                f"Not running: task {item.task} has no schedule; it runs with "
                f"`runner run --task {item.task} --now`, or move the item to run-now.",
                schedule,
            )
        if schedule.due_now:
            return self.result(
                R_NEXT_RUN,
                f"Not running yet: the schedule fired at {iso(schedule.next_fire)}; the next "
                "`runner run` starts the run.",
                schedule,
            )
        window = f" (window until {iso(schedule.window_end)})" if schedule.window_end else ""
        return self.result(
            R_OUT_OF_SCHEDULE,
            f"Not running: out of schedule until the next fire at {iso(schedule.next_fire)}"
            f"{window}; move it to run-now to run it sooner.",
            schedule,
        )


def _ahead(count: int | None) -> str:
    if not count:
        return "; it is next"
    return f"; {count} item{'s' if count != 1 else ''} ahead of it"


def _duration(seconds: float) -> str:
    from runner.config.durations import format_duration

    return format_duration(seconds)


def _shell_word(text: str) -> str:
    import shlex

    return shlex.quote(text)


# -- logs ------------------------------------------------------------------------------------


def parse_when(text: str, *, now: float | None = None) -> datetime:
    """A `--since`/`--until` value: ISO 8601 (without a zone: UTC), or a duration ago (`10m`)."""
    from runner.config.durations import parse_duration

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            seconds = parse_duration(text)
        except ValueError:
            raise UsageError(
                f"{text!r} is not a time; write ISO 8601 (2026-11-21T18:00, 2026-11-21T18:00+01:00) "
                "or a duration ago (90s, 10m, 2h, 1d)"
            ) from None
        instant = (time.time() if now is None else now) - seconds
        return datetime.fromtimestamp(instant, UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def log_events(
    pipeline: Pipeline,
    flt: LogFilter,
    *,
    follow: bool = False,
    backlog: int = 10,
) -> EventStream:
    """The pipeline's log events that pass `flt`, oldest first; with `follow`, the last
    `backlog` matching events of the newest file and then every new one, until closed.
    """
    from runner import logview

    log_dir = pipeline.resolve_path(pipeline.settings.logs)
    if follow:
        return logview.follow(log_dir, flt, backlog=backlog)
    return logview.read_events(log_dir, flt)
