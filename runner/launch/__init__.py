"""From a definition or step plus an item to a launch, and the protocol the child sees.

protocol  every RUNNER_* name given to a child, the marker, the events line format,
          the RUNNER_PROCESSED format, the attempt file layout
builder   definition/step + item -> LaunchSpec: rendered argv, environment, paths
files     creating step output directories and RUNNER_PROCESSED files
merge     crash-time merge: the events lines a dead runner had not recorded
"""

from runner.launch.builder import LaunchBuilder, display_command, run_context, task_context
from runner.launch.files import step_files, write_processed
from runner.launch.merge import read_events_file
from runner.launch.protocol import (
    INVALID_EVENT,
    AttemptFiles,
    attempt_marker,
    item_env,
    item_prefix,
    parse_event,
    step_env,
    step_marker,
    step_outputs,
)

__all__ = [
    "INVALID_EVENT",
    "AttemptFiles",
    "LaunchBuilder",
    "attempt_marker",
    "display_command",
    "item_env",
    "item_prefix",
    "parse_event",
    "read_events_file",
    "run_context",
    "step_env",
    "step_files",
    "step_marker",
    "step_outputs",
    "task_context",
    "write_processed",
]
