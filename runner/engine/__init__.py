"""Executes task runs: start steps, items under their policies, finish steps.

runs.py      the vocabulary shared with the scheduler and the CLI (statuses, requests, ids)
active.py    what the engine holds in memory about the runs and attempts it works on
verdicts.py  a finished process -> the record of its attempt (status, queue, retry time)
recovery.py  taking over what a dead runner left
loop.py      the Engine: one main loop owning the state store, worker threads for processes
"""

from runner.engine.loop import Engine
from runner.engine.runs import (
    PHASE_AFTER,
    PHASE_BEFORE,
    PHASE_DONE,
    PHASE_ITEMS,
    RUN_FAILED,
    RUN_INTERRUPTED,
    RUN_OK,
    RUN_RUNNING,
    RUN_WITH_ERRORS,
    TRIGGER_NOW,
    TRIGGER_RUN_NOW,
    TRIGGER_SCHEDULE,
    RunReport,
    RunRequest,
    RunSource,
    iso,
    run_id_for,
    task_config_hash,
)

__all__ = [
    "PHASE_AFTER",
    "PHASE_BEFORE",
    "PHASE_DONE",
    "PHASE_ITEMS",
    "RUN_FAILED",
    "RUN_INTERRUPTED",
    "RUN_OK",
    "RUN_RUNNING",
    "RUN_WITH_ERRORS",
    "TRIGGER_NOW",
    "TRIGGER_RUN_NOW",
    "TRIGGER_SCHEDULE",
    "Engine",
    "RunReport",
    "RunRequest",
    "RunSource",
    "iso",
    "run_id_for",
    "task_config_hash",
]
