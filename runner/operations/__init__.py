"""The library behind the operators' verbs: status, items, move, history, explain, logs, runs,
output.

Each verb is a plain function taking a loaded `Pipeline` and returning dataclasses whose
`to_json()` gives the documented, stable `--json` shape (docs/operations.md); the CLI only
prints them. Reading verbs open the state file read-only and never take the runner lock, so
they are safe while a runner works. `move` writes through `StateStore.move_item`, all items
in one transaction, and logs one `item.moved` event per item to the pipeline's log files.
Errors are `RunnerError` subclasses saying what to do; a refused or unknown item is a
`UsageError` (exit 2).

The package splits by verb (one private module each: `_status`, `_items`, `_move`,
`_history`, `_explain`, `_logs`, `_runs`, `_schedule`, `_output`) with what several verbs
share in `_common`; this module is its public face: callers import every name from here
(`from runner import operations`).
"""

from __future__ import annotations

from runner.domain.runs import TASK_DISABLED, TASK_INTERRUPTED, TASK_NEW, TASK_RUNNING
from runner.domain.timefmt import iso
from runner.domain.workers import WORKER_OFFLINE
from runner.operations._common import (
    QUEUE_MEANING,
    STATUS_MEANING,
    MoveEntry,
    check_queue_name,
    process_alive,
)
from runner.operations._explain import (
    EXPLAIN_REASONS,
    R_ABOUT_TO_LAUNCH,
    R_BACKOFF,
    R_CONCURRENCY,
    R_DONE,
    R_ERROR_QUEUE,
    R_HELD,
    R_INTERRUPTED,
    R_LEFT_GROUP,
    R_MISSING,
    R_NEXT_RUN,
    R_NO_RUNNER,
    R_NO_SCHEDULE,
    R_OUT_OF_SCHEDULE,
    R_RUNNING,
    R_TASK_DISABLED,
    R_TASK_REMOVED,
    R_WAITING,
    Explanation,
    explain,
)
from runner.operations._history import AttemptEntry, ItemHistory, history
from runner.operations._items import DEFAULT_LIMIT, ItemEntry, ItemsPage, items
from runner.operations._logs import log_events, parse_when
from runner.operations._move import MoveOutcome, MoveRecord, MoveRefusedError, move
from runner.operations._output import AttemptOutput, OutputUnavailableError, StreamOutput, output
from runner.operations._runs import RUNS_LIMIT, RunEntry, RunsPage, runs
from runner.operations._schedule import NextFire, next_fires
from runner.operations._status import (
    StatusReport,
    TaskStatus,
    WorkerStatus,
    status,
)
from runner.system.user import os_user

__all__ = [
    "DEFAULT_LIMIT",
    "EXPLAIN_REASONS",
    "QUEUE_MEANING",
    "RUNS_LIMIT",
    "R_ABOUT_TO_LAUNCH",
    "R_BACKOFF",
    "R_CONCURRENCY",
    "R_DONE",
    "R_ERROR_QUEUE",
    "R_HELD",
    "R_INTERRUPTED",
    "R_LEFT_GROUP",
    "R_MISSING",
    "R_NEXT_RUN",
    "R_NO_RUNNER",
    "R_NO_SCHEDULE",
    "R_OUT_OF_SCHEDULE",
    "R_RUNNING",
    "R_TASK_DISABLED",
    "R_TASK_REMOVED",
    "R_WAITING",
    "STATUS_MEANING",
    "TASK_DISABLED",
    "TASK_INTERRUPTED",
    "TASK_NEW",
    "TASK_RUNNING",
    "WORKER_OFFLINE",
    "AttemptEntry",
    "AttemptOutput",
    "Explanation",
    "ItemEntry",
    "ItemHistory",
    "ItemsPage",
    "MoveEntry",
    "MoveOutcome",
    "MoveRecord",
    "MoveRefusedError",
    "NextFire",
    "OutputUnavailableError",
    "RunEntry",
    "RunsPage",
    "StatusReport",
    "StreamOutput",
    "TaskStatus",
    "WorkerStatus",
    "check_queue_name",
    "explain",
    "history",
    "iso",
    "items",
    "log_events",
    "move",
    "next_fires",
    "os_user",
    "output",
    "parse_when",
    "process_alive",
    "runs",
    "status",
]
