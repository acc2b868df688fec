"""`runner output`: the captured stdout and stderr of one attempt of an item, or of a run's step.

An attempt's streams are stored apart, each in its own bounded file (`<prefix>.<n>.stdout` and
`.stderr`, runner.launch.protocol); a step's in `<logs>/steps/<task>/<run>/<phase>-<i>.*`.
They were masked when written; they are masked again here with today's secrets, in case one
was added since. A child that printed nothing leaves no file, and retention may have removed
old ones: both read as a missing file, so a missing pair is explained, never guessed at.
The state records each site's runner host, not each attempt's: the host shown is that of the
attempt's site's runner as last seen.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.domain.timefmt import iso
from runner.errors import RunnerError, UsageError
from runner.operations._common import check_task, open_read
from runner.state import AttemptRow, RunRow, StateStore

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline
    from runner.masking import Masker

STREAMS = ("stdout", "stderr")
"""The stream names, in the order they are shown."""

_TRUNCATION = re.compile(rb"\A\[\.\.\. (\d+) bytes truncated \.\.\.\]\n")
_STEP = re.compile(r"\A(before|after)(?:\[(\d+)\]|-(\d+))?\Z")


class OutputUnavailableError(RunnerError):
    """Raised when an attempt's or step's output files are not on this host (exit code 1)."""


@dataclass(frozen=True, slots=True)
class StreamOutput:
    """One stream (stdout or stderr) as stored."""

    name: str
    path: str
    exists: bool
    size: int
    """The file's size in bytes (0 when it does not exist)."""
    dropped: int
    """Bytes left out: the head the runner dropped at `output_limit`, plus any cut by a tail."""
    text: str

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "exists": self.exists,
            "size": self.size,
            "truncated": self.truncated,
            "dropped_bytes": self.dropped,
            "text": self.text,
        }


@dataclass(frozen=True, slots=True)
class AttemptOutput:
    """What `output()` found: which attempt or step, where, on which host, and the text."""

    task: str
    item: str | None
    attempt: int | None
    """The attempt's number (None for a step)."""
    step: str | None
    """`before[i]` or `after[i]` for a step (None for an attempt)."""
    run_id: str
    site: str
    host: str | None
    """The host of the site's runner as last recorded (None: no runner recorded)."""
    started: float | None
    ended: float | None
    status: str | None
    streams: tuple[StreamOutput, ...]
    error: str | None = None
    """The attempt's recorded error (masked): why it failed, or why an output file is cut short
    (`could not be written from byte N on`); None for a step."""

    @property
    def stdout(self) -> StreamOutput:
        return self.streams[0]

    @property
    def stderr(self) -> StreamOutput:
        return self.streams[1]

    @property
    def truncated(self) -> bool:
        return any(stream.truncated for stream in self.streams)

    def to_json(self) -> dict[str, Any]:
        """The documented shape of `runner output --json`."""
        return {
            "task": self.task,
            "item": self.item,
            "attempt": self.attempt,
            "step": self.step,
            "run_id": self.run_id,
            "site": self.site,
            "host": self.host,
            "started": iso(self.started),
            "ended": iso(self.ended),
            "status": self.status,
            "truncated": self.truncated,
            "error": self.error,
            "streams": {stream.name: stream.to_json() for stream in self.streams},
        }


def output(
    pipeline: Pipeline,
    task: str,
    item_id: str | None,
    *,
    attempt: int | None = None,
    step: str | None = None,
    run: str | None = None,
    tail_bytes: int | None = None,
) -> AttemptOutput:
    """The captured output of one attempt of an item, or of one start/finish step of a run.

    Without `step`: attempt `attempt` of `item_id` (None: its latest attempt). With `step`
    (`before[0]`, `after[1]`; `before` alone is `before[0]`): that step of run `run`; without
    `run`, the run of the item's chosen attempt when `item_id` is given, else the task's latest
    run. `tail_bytes` keeps only the last bytes of each stream. UsageError for an unknown task,
    item, attempt, run or step; OutputUnavailableError when neither stream's file exists once
    the attempt or step has ended (it printed nothing, its files were removed, or they are on
    another host: the message says which can be told apart).
    """
    if tail_bytes is not None and tail_bytes < 0:
        raise UsageError(f"the tail must be a number of bytes, 0 or more (got {tail_bytes})")
    if step is None and item_id is None:
        raise UsageError("name an item (or a step with --step)")
    if run is not None and step is None:
        raise UsageError("--run picks the run of a step: use it with --step")
    with _reading(pipeline, task) as store:
        chosen = _attempt(store, task, item_id, attempt) if item_id is not None else None
        if step is None:
            assert chosen is not None
            return _attempt_output(pipeline, store, chosen, tail_bytes)
        run_row = _run(store, task, run if run is not None else _default_run(store, task, chosen))
        return _step_output(pipeline, store, run_row, item_id, step, tail_bytes)


@contextmanager
def _reading(pipeline: Pipeline, task: str) -> Iterator[StateStore]:
    store = open_read(pipeline)
    if store is None:
        raise UsageError(
            f"task {task!r} has not run yet: there is no state at {pipeline.state_location}"
        )
    try:
        check_task(pipeline, store, task)
        yield store
    finally:
        store.close()


def _attempt(store: StateStore, task: str, item_id: str, number: int | None) -> AttemptRow:
    if store.item(task, item_id) is None:
        raise UsageError(
            f"task {task!r} has no item {item_id!r}; find it with: "
            f"runner items --task {task} --match TEXT"
        )
    attempts = store.attempts_of(task, item_id)
    if not attempts:
        raise UsageError(f"item {item_id!r} of task {task!r} has not been attempted yet")
    if number is None:
        return attempts[-1]
    for row in attempts:
        if row.number == number:
            return row
    numbers = ", ".join(str(row.number) for row in attempts)
    raise UsageError(
        f"item {item_id!r} of task {task!r} has no attempt {number}; its attempts: {numbers}"
    )


def _default_run(store: StateStore, task: str, chosen: AttemptRow | None) -> str:
    if chosen is not None:
        return chosen.run_id
    latest = store.last_run(task)
    if latest is None:
        raise UsageError(f"task {task!r} has no run yet")
    return latest.id


def _run(store: StateStore, task: str, run_id: str) -> RunRow:
    row = store.run(run_id)
    if row is None or row.task != task:
        raise UsageError(
            f"task {task!r} has no run {run_id!r}; runs are listed by: runner logs --task {task}"
        )
    return row


def _runner_host(store: StateStore, site: str, runner: str = "") -> str | None:
    """The host of the runner that ran it: named by the attempt (`runner`), else the site's."""
    workers = [w for w in store.workers() if w.site == site]
    named = [w for w in workers if w.name == runner] if runner else []
    if runner and not named and ":" in runner:
        return runner.rsplit(":", 1)[0]  # `host:pid`, a runner whose record was dropped
    return next((w.host for w in named or workers), None)


def _attempt_output(
    pipeline: Pipeline, store: StateStore, row: AttemptRow, tail: int | None
) -> AttemptOutput:
    host = _runner_host(store, row.site, row.runner)
    what = f"attempt {row.number} of item {row.item_id!r} (task {row.task!r})"
    if not row.output_dir:
        raise OutputUnavailableError(f"{what} has no output files: it was never launched")
    paths = tuple(Path(f"{row.output_dir}.{row.number}.{name}") for name in STREAMS)
    masker = _masker(pipeline)
    streams = _read_streams(masker, paths, tail)
    if row.ended_at is not None:
        _check_present(streams, what, row.site, host)
    return AttemptOutput(
        task=row.task,
        item=row.item_id,
        attempt=row.number,
        step=None,
        run_id=row.run_id,
        site=row.site,
        host=host,
        started=row.started_at,
        ended=row.ended_at,
        status=row.status,
        streams=streams,
        error=masker.mask_text(row.error) if row.error else None,
    )


def _step_output(
    pipeline: Pipeline,
    store: StateStore,
    run: RunRow,
    item_id: str | None,
    step: str,
    tail: int | None,
) -> AttemptOutput:
    from runner.launch import step_outputs

    phase, index = _parse_step(step)
    label = f"{phase}[{index}]"
    recorded = store.step_status(run.id, phase)
    if index not in recorded:
        known = [
            f"{p}[{i}]" for p in ("before", "after") for i in sorted(store.step_status(run.id, p))
        ]
        listed = ", ".join(known) if known else "none"
        raise UsageError(
            f"run {run.id!r} of task {run.task!r} ran no step {label}; its steps: {listed}"
        )
    paths = step_outputs(pipeline.logs_dir, run.task, run.id, phase, index)
    streams = _read_streams(_masker(pipeline), paths, tail)
    host = _runner_host(store, run.site, run.owner)
    status = recorded[index]
    if status is not None:
        _check_present(streams, f"step {label} of run {run.id!r}", run.site, host)
    return AttemptOutput(
        task=run.task,
        item=item_id,
        attempt=None,
        step=label,
        run_id=run.id,
        site=run.site,
        host=host,
        started=None,
        ended=None,
        status=status,
        streams=streams,
    )


def _parse_step(step: str) -> tuple[str, int]:
    found = _STEP.match(step)
    if found is None:
        raise UsageError(
            f"unknown step {step!r}: name a step as before[N] or after[N] (N from 0, in the "
            "order of the task's before/after lists)"
        )
    number = found.group(2) or found.group(3) or "0"
    return found.group(1), int(number)


def _check_present(
    streams: tuple[StreamOutput, ...], what: str, site: str, host: str | None
) -> None:
    if any(stream.exists for stream in streams):
        return
    where = " and ".join(stream.path for stream in streams)
    if host is not None and host != socket.gethostname():
        raise OutputUnavailableError(
            f"the output of {what} is not on this host ({socket.gethostname()}): site {site!r} "
            f"ran it on host {host!r}, look there for {where}"
        )
    raise OutputUnavailableError(
        f"{what} left no output file ({where}): it printed nothing, or its files were removed "
        "(retention, runner prune, or by hand)"
    )


def _masker(pipeline: Pipeline) -> Masker:
    """Today's secrets: stored text is masked again with them, in case one was added since."""
    from runner.masking import Masker

    return Masker.from_env(pipeline.settings.secrets, os.environ)


def _read_streams(
    masker: Masker, paths: tuple[Path, ...], tail: int | None
) -> tuple[StreamOutput, ...]:
    return tuple(
        _read_stream(name, path, tail, masker) for name, path in zip(STREAMS, paths, strict=True)
    )


def _read_stream(name: str, path: Path, tail: int | None, masker: Masker) -> StreamOutput:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return StreamOutput(name, str(path), exists=False, size=0, dropped=0, text="")
    except OSError as exc:
        raise OutputUnavailableError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "rb") as handle:
        size = os.fstat(fd).st_size
        head = handle.read(64)
        marker = _TRUNCATION.match(head)
        dropped = int(marker.group(1)) if marker else 0
        start = marker.end() if marker else 0
        if tail is not None and size - start > tail:
            dropped += size - start - tail
            start = size - tail
        handle.seek(start)
        data = handle.read()
    text = masker.mask_text(data.decode("utf-8", errors="replace"))
    return StreamOutput(name, str(path), exists=True, size=size, dropped=dropped, text=text)
