"""Run child processes: their own session, bounded output, timeouts, whole-tree kill, reaping.

spec       LaunchSpec, ProcessResult and the constants of the contract
supervise  run_process: start, the poll loop, timeouts, idle timeouts, wait_full_timeout
capture    run_capture: a short command for its stdout
output     bounded output capture: the tail, the truncation line, masking
events     following the events file, handing complete lines on
linescan   searching each complete output line with the output rules' patterns
kill       the one kill sequence (group, descendants, marker sweep)
reaper     the registry of direct children, child subreaper, reaping orphans
"""

from runner.process.capture import run_capture
from runner.process.kill import kill_tree, sweep_marker
from runner.process.linescan import LineRule, Match
from runner.process.reaper import become_subreaper, reap_orphans
from runner.process.spec import (
    MARKER_ENV,
    TAIL_BYTES,
    LaunchSpec,
    Outcome,
    ProcessResult,
)
from runner.process.supervise import run_process

__all__ = [
    "MARKER_ENV",
    "TAIL_BYTES",
    "LaunchSpec",
    "LineRule",
    "Match",
    "Outcome",
    "ProcessResult",
    "become_subreaper",
    "kill_tree",
    "reap_orphans",
    "run_capture",
    "run_process",
    "sweep_marker",
]
