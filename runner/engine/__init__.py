"""Executes task runs: start steps, items under their policies, finish steps.

runs.py      what the engine is asked to run and what it reports (requests, reports, run source)
active.py    what the engine holds in memory about the runs and attempts it works on
verdicts.py  a finished process -> the record of its attempt (status, queue, retry time)
recovery.py  taking over what a dead runner left
loop.py      the Engine: one main loop owning the state store, worker threads for processes
"""

from runner.engine.loop import Engine
from runner.engine.runs import RunReport, RunRequest, RunSource, task_config_hash

__all__ = [
    "Engine",
    "RunReport",
    "RunRequest",
    "RunSource",
    "task_config_hash",
]
