"""Executes task runs: start steps, items under their policies, finish steps.

runs.py       the vocabulary shared with the scheduler and the CLI (statuses, requests, ids)
active.py     what the engine holds in memory about the runs and attempts it works on
context.py    what the collaborators share (pipeline, store, log, after-commit queue)
inbox.py      the typed messages worker threads send the main loop
launcher.py   the Launcher protocol (how a process is run; injected, like the clock)
opening.py    opening runs: group resolution and sync
lifecycle.py  run phases, before/after steps, finishing and stopping runs
dispatch.py   which items start next under the caps; attempts recorded before launch
slots.py      recorded attempts taken by worker threads under per-run and global caps
pool.py       the worker threads
recording.py  recording results: outcomes, checkpoints, withdrawals
verdicts.py   a finished process -> the record of its attempt (status, queue, retry time)
hooks.py      housekeeping: heartbeat, disk guard, reaping, progress line
recovery.py   taking over what a dead runner left
loop.py       the Engine: the main loop (execute, serve) and its cycle
"""

from runner.engine.launcher import Launcher
from runner.engine.loop import Engine
from runner.engine.runs import RunReport, RunRequest, RunSource, task_config_hash

__all__ = [
    "Engine",
    "Launcher",
    "RunReport",
    "RunRequest",
    "RunSource",
    "task_config_hash",
]
