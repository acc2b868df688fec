"""The YAML side of the runner: the pipeline file models, durations and the loader.

`load_pipeline(path)` reads a pipeline file or directory and returns a validated, frozen
`Pipeline`, or raises `runner.errors.ConfigError` listing every issue found. This package imports
no execution code (no processes, no state).
"""

from __future__ import annotations

from runner.config.definitions import Definition, OutcomeRule, OutcomeWhen
from runner.config.durations import (
    MAX_STEP_TIMEOUT,
    Duration,
    PositiveDuration,
    StepTimeout,
    parse_duration,
)
from runner.config.fields import (
    BUILTIN_STATUSES,
    ERROR_QUEUE_NAMES,
    EXHAUSTED_QUEUE_NAMES,
    OUTCOME_QUEUE_NAMES,
    QUEUE_NAMES,
)
from runner.config.groups import Group, Member
from runner.config.loader import load_pipeline
from runner.config.pipeline import Pipeline, PipelineFile
from runner.config.policies import Backoff, Policy
from runner.config.schedules import Schedule
from runner.config.settings import Settings
from runner.config.tasks import AfterStep, Step, Task

__all__ = [
    "BUILTIN_STATUSES",
    "ERROR_QUEUE_NAMES",
    "EXHAUSTED_QUEUE_NAMES",
    "MAX_STEP_TIMEOUT",
    "OUTCOME_QUEUE_NAMES",
    "QUEUE_NAMES",
    "AfterStep",
    "Backoff",
    "Definition",
    "Duration",
    "Group",
    "Member",
    "OutcomeRule",
    "OutcomeWhen",
    "Pipeline",
    "PipelineFile",
    "Policy",
    "PositiveDuration",
    "Schedule",
    "Settings",
    "Step",
    "StepTimeout",
    "Task",
    "format_duration",
    "load_pipeline",
    "parse_duration",
]
