"""The library behind the operators' verbs: status, items, move, history, explain, logs,
pause, resume, check, output, report, metrics, prune, state, runs.

Each verb is a plain function taking a loaded `Pipeline` and returning dataclasses whose
`to_json()` gives the documented, stable `--json` shape (docs/operations.md); the CLI only
prints them. Reading verbs open the state file read-only and never take the runner lock, so
they are safe while a runner works. `move` writes through `StateStore.move_item`, all items
in one transaction, and logs one `item.moved` event per item to the pipeline's log files.
Errors are `RunnerError` subclasses saying what to do; a refused or unknown item is a
`UsageError` (exit 2).

The package splits by verb (one private module each: `_status`, `_items`, `_move`,
`_history`, `_explain`, `_logs`, `_control`, `_check`, `_output`, `_report`, `_metrics`,
`_exposition`, `_prune`, `_state`, `_runs`, `_schedule`) with what several verbs share in
`_common`; this module is its public face: callers import every name from here
(`from runner import operations`).
"""

from __future__ import annotations

from runner.domain.runs import TASK_DISABLED, TASK_INTERRUPTED, TASK_NEW, TASK_RUNNING
from runner.domain.timefmt import iso
from runner.domain.workers import WORKER_OFFLINE
from runner.operations._check import CheckReport, Problem, check
from runner.operations._common import (
    QUEUE_MEANING,
    STATUS_MEANING,
    MoveEntry,
    check_queue_name,
    process_alive,
)
from runner.operations._control import ControlOutcome, control_json, pause, resume
from runner.operations._copy import CopyReport, copy_state, state_location
from runner.operations._explain import (
    EXPLAIN_REASONS,
    R_ABOUT_TO_LAUNCH,
    R_BACKOFF,
    R_CONCURRENCY,
    R_DONE,
    R_ERROR_QUEUE,
    R_HALTED,
    R_HELD,
    R_INTERRUPTED,
    R_LEFT_GROUP,
    R_LIMIT,
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
from runner.operations._exposition import MetricsReport, metrics_report
from runner.operations._history import AttemptEntry, ItemHistory, history
from runner.operations._items import DEFAULT_LIMIT, ItemEntry, ItemsPage, items
from runner.operations._logs import log_events, parse_when
from runner.operations._metrics import metric_value, metrics_json, metrics_text
from runner.operations._move import MoveOutcome, MoveRecord, MoveRefusedError, move
from runner.operations._output import (
    STREAMS as OUTPUT_STREAMS,
)
from runner.operations._output import (
    AttemptOutput,
    OutputUnavailableError,
    StreamOutput,
    output,
)
from runner.operations._prune import PruneCount, PruneReport, prune
from runner.operations._report import COLUMNS as REPORT_COLUMNS
from runner.operations._report import FORMATS as REPORT_FORMATS
from runner.operations._report import ItemReport, ReportRow, report
from runner.operations._runs import RUNS_LIMIT, RunEntry, RunsPage, runs
from runner.operations._schedule import NextFire, next_fires
from runner.operations._state import StateCheck, backup_state, check_state, recover_state
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
    "OUTPUT_STREAMS",
    "QUEUE_MEANING",
    "REPORT_COLUMNS",
    "REPORT_FORMATS",
    "RUNS_LIMIT",
    "R_ABOUT_TO_LAUNCH",
    "R_BACKOFF",
    "R_CONCURRENCY",
    "R_DONE",
    "R_ERROR_QUEUE",
    "R_HALTED",
    "R_HELD",
    "R_INTERRUPTED",
    "R_LEFT_GROUP",
    "R_LIMIT",
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
    "CheckReport",
    "ControlOutcome",
    "CopyReport",
    "Explanation",
    "ItemEntry",
    "ItemHistory",
    "ItemReport",
    "ItemsPage",
    "MetricsReport",
    "MoveEntry",
    "MoveOutcome",
    "MoveRecord",
    "MoveRefusedError",
    "NextFire",
    "OutputUnavailableError",
    "Problem",
    "PruneCount",
    "PruneReport",
    "ReportRow",
    "RunEntry",
    "RunsPage",
    "StateCheck",
    "StatusReport",
    "StreamOutput",
    "TaskStatus",
    "WorkerStatus",
    "backup_state",
    "check",
    "check_queue_name",
    "check_state",
    "control_json",
    "copy_state",
    "explain",
    "history",
    "iso",
    "items",
    "log_events",
    "metric_value",
    "metrics_json",
    "metrics_report",
    "metrics_text",
    "move",
    "next_fires",
    "os_user",
    "output",
    "parse_when",
    "pause",
    "process_alive",
    "prune",
    "recover_state",
    "report",
    "resume",
    "runs",
    "state_location",
    "status",
]
