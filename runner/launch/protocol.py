"""The protocol between the runner and an attempt's process, and where an attempt's files live.

Environment given to every attempt of an item: RUNNER_TASK, RUNNER_RUN_ID, RUNNER_ITEM,
RUNNER_ATTEMPT (1 for the first), RUNNER_PREVIOUS_STATUS, RUNNER_EVENTS (a file to which the
process appends JSON lines) and RUNNER_PROCESSED (a file of every sub-id already processed, one
a line). A start or finish step gets RUNNER_TASK, RUNNER_RUN_ID and RUNNER_STEP. The whole tree
of either carries the marker of `attempt_marker` in RUNNER_ATTEMPT_MARKER (a name of
`runner.process`, whose kill sequence searches for it).

Events lines: `{"processed": "<sub-id>"}`, `{"detail": "..."}`, `{"progress": 0.42}`,
`{"metric": {"name": value}}`. Anything else is kept as an `invalid` record so that the count
of lines read stays exact (a crash recovery resumes reading the file after the last line
already persisted).

Files of an attempt: `<prefix>.<n>.<kind>` where the prefix is the item's path stem under
`<logs>/attempts/<task>/<shard>/` (item ids never become paths: they are encoded by
`fsutil.safe_name`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from runner.state.records import Checkpoint
from runner.system.fs import safe_name

TASK_ENV = "RUNNER_TASK"
RUN_ID_ENV = "RUNNER_RUN_ID"
ITEM_ENV = "RUNNER_ITEM"
ATTEMPT_ENV = "RUNNER_ATTEMPT"
PREVIOUS_STATUS_ENV = "RUNNER_PREVIOUS_STATUS"
STEP_ENV = "RUNNER_STEP"
EVENTS_ENV = "RUNNER_EVENTS"
PROCESSED_ENV = "RUNNER_PROCESSED"

MAX_VALUE = 4096
"""Longest sub-id or detail kept; longer values are cut."""


def item_env(
    *, task: str, run_id: str, item: str, attempt: int, previous_status: str | None
) -> dict[str, str]:
    """The protocol variables of one attempt of an item (RUNNER_EVENTS/PROCESSED: the builder)."""
    return {
        TASK_ENV: task,
        ITEM_ENV: item,
        ATTEMPT_ENV: str(attempt),
        PREVIOUS_STATUS_ENV: previous_status or "",
        RUN_ID_ENV: run_id,
    }


def step_env(*, task: str, run_id: str, step: str) -> dict[str, str]:
    """The protocol variables of one start or finish step (`step`: e.g. `before[0]`)."""
    return {TASK_ENV: task, RUN_ID_ENV: run_id, STEP_ENV: step}


def attempt_marker(run_id: str, attempt: object) -> str:
    """The value put in RUNNER_ATTEMPT_MARKER of an attempt's (or step's) process tree."""
    return f"{run_id}/{attempt}"


def step_marker(run_id: str, phase: str, index: int) -> str:
    """The marker of a run's start or finish step (unique per run, phase and position)."""
    return attempt_marker(run_id, f"{phase}-{index}")


INVALID_EVENT = "invalid"
"""The kind of a recorded events-file line that is not a valid event."""


def parse_event(line: bytes) -> Checkpoint:
    """Turn one line of an events file into a checkpoint record."""
    try:
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return _invalid(line)
    if isinstance(data, dict) and len(data) == 1:
        ((kind, value),) = data.items()
        if kind == "processed" and isinstance(value, str) and not _usable_sub_id(value):
            return _invalid(line)
        if kind in ("processed", "detail") and isinstance(value, str):
            return Checkpoint(kind, value[:MAX_VALUE])
        if kind == "progress" and isinstance(value, int | float) and not isinstance(value, bool):
            return Checkpoint(kind, repr(float(value)))
        if kind == "metric" and isinstance(value, dict):
            return Checkpoint(kind, json.dumps(value, sort_keys=True)[:MAX_VALUE])
    return _invalid(line)


def _invalid(line: bytes) -> Checkpoint:
    """The record of a line that is not a valid event: its start, as text."""
    return Checkpoint(INVALID_EVENT, line[:200].decode("utf-8", "replace"))


def _usable_sub_id(value: str) -> bool:
    """A processed sub-id must be non-empty and on one line (RUNNER_PROCESSED lists one a line)."""
    return bool(value) and "\n" not in value and "\r" not in value


def processed_lines(sub_ids: Iterable[str]) -> Iterator[str]:
    """The lines of a RUNNER_PROCESSED file: every sub-id already processed, one a line."""
    return (f"{sub_id}\n" for sub_id in sub_ids)


@dataclass(frozen=True, slots=True)
class AttemptFiles:
    """Where one attempt's output, events and processed list are written.

    `prefix` is the item's path stem (recorded in the state); files are `<prefix>.<n>.<kind>`.
    `path(kind)` gives a plain string for the per-item hot path, where pathlib would cost more
    than everything else; the properties give `Path`s for readers.
    """

    prefix: str | Path
    number: int

    def path(self, kind: str) -> str:
        """`<prefix>.<n>.<kind>` as a string (kind: stdout, stderr, events.jsonl, processed)."""
        return f"{self.prefix}.{self.number}.{kind}"

    @property
    def directory(self) -> str:
        return os.path.dirname(self.prefix)

    @property
    def stdout(self) -> Path:
        return Path(self.path("stdout"))

    @property
    def stderr(self) -> Path:
        return Path(self.path("stderr"))

    @property
    def events(self) -> Path:
        return Path(self.path("events.jsonl"))

    @property
    def processed(self) -> Path:
        return Path(self.path("processed"))

    def discard_protocol_files(self) -> None:
        """Remove the events and processed files once the outcome (and their content) is recorded.

        The child writes its events file itself, so it may hold secret values; the state keeps
        a masked copy of every event.
        """
        for kind in ("events.jsonl", "processed"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path(kind))


@functools.lru_cache(maxsize=64)
def _task_attempts_dir(logs_dir: Path, task: str) -> str:
    return str(logs_dir / "attempts" / safe_name(task))


def item_prefix(logs_dir: Path, task: str, item_id: str) -> str:
    """The path stem of every attempt file of one item (its id encoded, never trusted).

    Items are spread over 256 shard directories per task so that no directory grows huge
    and no directory is created per item.
    """
    name = safe_name(item_id)
    return f"{_task_attempts_dir(logs_dir, task)}/{name[-2:]}/{name}"


def step_outputs(
    logs_dir: Path, task: str, run_id: str, phase: str, index: int
) -> tuple[Path, Path]:
    """The output files (stdout, stderr) of one start or finish step of a run.

    `<logs>/steps/<task>/<run id>/<phase>-<index>.stdout` (and `.stderr`), names encoded.
    """
    directory = logs_dir / "steps" / safe_name(task) / safe_name(run_id)
    return directory / f"{phase}-{index}.stdout", directory / f"{phase}-{index}.stderr"
