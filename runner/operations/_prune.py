"""`runner prune`: remove what `settings.retention` no longer keeps (a dry run unless applied).

Order of removal, so that a crash at any instant leaves nothing the runner trips over: for
each batch, the files first, then the state rows in one short transaction. A crash in
between leaves rows whose files are gone, which every reader shows as pruned, and the next
prune finishes them; never a file that no row names and no prune would find again.

Batches of `BATCH` rows keep each transaction short, so a runner working on the same state
meanwhile waits at most a moment for its own commits; no lock is taken.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from runner.domain.timefmt import format_duration, iso
from runner.state import AttemptRow, StateStore, open_existing, open_store
from runner.system.fs import file_modes, safe_name

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline

BATCH: Final = 500
"""Rows removed per transaction."""

KINDS: Final = ("attempt_output", "attempts", "runs", "logs")
"""What a prune removes, in the order it does: the keys of `prune --json`."""

_ATTEMPT_FILE_KINDS: Final = ("stdout", "stderr", "events.jsonl", "processed")


@dataclass(slots=True)
class PruneCount:
    """What one kind of pruning removed (or, in a dry run, would remove)."""

    kind: str
    kept_for: float | None
    """The retention in seconds; None: not set, nothing of this kind is pruned."""
    count: int = 0
    files: int = 0
    bytes: int = 0
    oldest: float | None = None
    newest: float | None = None
    failed: list[str] = field(default_factory=list)
    """Files that could not be removed (their rows were kept)."""

    def add(self, at: float | None, files: int, size: int) -> None:
        self.count += 1
        self.files += files
        self.bytes += size
        if at is not None:
            self.oldest = at if self.oldest is None else min(self.oldest, at)
            self.newest = at if self.newest is None else max(self.newest, at)

    def to_json(self) -> dict[str, Any]:
        return {
            "retention": None if self.kept_for is None else format_duration(self.kept_for),
            "count": self.count,
            "files": self.files,
            "bytes": self.bytes,
            "oldest": iso(self.oldest),
            "newest": iso(self.newest),
            "failed": list(self.failed),
        }


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What `runner prune` removed (`applied`) or would remove (a dry run)."""

    applied: bool
    at: float
    counts: Mapping[str, PruneCount]

    @property
    def bytes(self) -> int:
        return sum(c.bytes for c in self.counts.values())

    @property
    def failed(self) -> int:
        return sum(len(c.failed) for c in self.counts.values())

    def to_json(self) -> dict[str, Any]:
        """The documented shape of `prune --json`."""
        return {
            "applied": self.applied,
            "at": iso(self.at),
            "bytes": self.bytes,
            **{kind: self.counts[kind].to_json() for kind in KINDS},
        }

    def event_fields(self) -> dict[str, Any]:
        """The fields of the `prune.done` event."""
        fields: dict[str, Any] = {kind: self.counts[kind].count for kind in KINDS}
        fields["bytes"] = self.bytes
        fields["failed"] = self.failed
        return fields


def prune(
    pipeline: Pipeline,
    *,
    apply: bool = False,
    now: float | None = None,
    log: Any = None,
    cancel: threading.Event | None = None,
) -> PruneReport:
    """Remove (with `apply`; else only count) what `settings.retention` no longer keeps.

    Safe while a runner works on the same state. With `apply`, the removal is logged as
    `prune.done` to `log` (a running session's, whose file modes then apply), or (when None)
    to the pipeline's log files. A set `cancel` ends it
    between two batches (what was removed so far stays removed and recorded).
    """
    instant = time.time() if now is None else now
    retention = pipeline.settings.retention
    counts = {
        "attempt_output": PruneCount("attempt_output", retention.attempt_output),
        "attempts": PruneCount("attempts", retention.runs),
        "runs": PruneCount("runs", retention.runs),
        "logs": PruneCount("logs", retention.logs),
    }
    # Under serve (`log` given) the session already set the file modes, process-wide.
    modes = file_modes(pipeline.settings.file_mode) if log is None else contextlib.nullcontext()
    with modes:
        stop = cancel if cancel is not None else threading.Event()
        earliest_open = _prune_state(pipeline, counts, apply=apply, now=instant, stop=stop)
        if retention.logs is not None:
            _prune_logs(
                pipeline.logs_dir,
                counts["logs"],
                cutoff=instant - retention.logs,
                keep_from=min(instant, earliest_open or instant),
                apply=apply,
            )
        report = PruneReport(apply, instant, counts)
        if apply:
            _log_done(pipeline, report, log)
    return report


def _prune_state(
    pipeline: Pipeline,
    counts: Mapping[str, PruneCount],
    *,
    apply: bool,
    now: float,
    stop: threading.Event,
) -> float | None:
    """Prune attempts, runs and attempt output; the start of the oldest open run (or None)."""
    retention = pipeline.settings.retention
    path = pipeline.state_location
    store = open_existing(path)  # None: nothing has run yet, nothing to prune
    if store is None:
        return None
    if apply:
        store.close()
        store = open_store(path)
    try:
        doomed: set[int] = set()
        if retention.runs is not None:
            cutoff = now - retention.runs
            doomed = _prune_attempts(
                store, counts["attempts"], cutoff=cutoff, apply=apply, stop=stop
            )
            _prune_runs(
                store, pipeline.logs_dir, counts["runs"], cutoff=cutoff, apply=apply, stop=stop
            )
        if retention.attempt_output is not None:
            _prune_outputs(
                store,
                counts["attempt_output"],
                cutoff=now - retention.attempt_output,
                skip=doomed,
                apply=apply,
                now=now,
                stop=stop,
            )
        return store.earliest_open_run()
    finally:
        store.close()


def _attempt_paths(row: AttemptRow) -> list[Path]:
    from runner.launch import AttemptFiles

    files = AttemptFiles(row.output_dir, row.number)
    return [Path(files.path(kind)) for kind in _ATTEMPT_FILE_KINDS] if row.output_dir else []


def _remove_files(
    paths: Iterable[Path], count: PruneCount, *, apply: bool
) -> tuple[int, int, bool]:
    """(files, bytes, every file gone): each existing file measured and (with `apply`) removed."""
    files = size = 0
    gone = True
    for path in paths:
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        files += 1
        size += info.st_size
        if apply:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                count.failed.append(f"{path}: {exc.strerror}")
                gone = False
    return files, size, gone


def _prune_attempts(
    store: StateStore, count: PruneCount, *, cutoff: float, apply: bool, stop: threading.Event
) -> set[int]:
    """Attempts of runs ended before `cutoff` (not an item's latest); the ids counted."""
    seen: set[int] = set()
    after = 0
    while not stop.is_set() and (
        rows := store.prunable_attempts(run_ended_before=cutoff, after_id=after, limit=BATCH)
    ):
        after = rows[-1].id
        removable = []
        for row in rows:
            files, size, gone = _remove_files(_attempt_paths(row), count, apply=apply)
            if gone:
                removable.append(row.id)
                seen.add(row.id)
                count.add(row.ended_at, files, size)
        if apply:
            count.count -= len(removable) - store.delete_attempts(removable)
    return seen


def _prune_runs(
    store: StateStore,
    logs_dir: Path,
    count: PruneCount,
    *,
    cutoff: float,
    apply: bool,
    stop: threading.Event,
) -> None:
    """Runs ended before `cutoff` with no attempt kept: their step output, steps and row."""
    after = ""
    while not stop.is_set() and (
        runs := store.prunable_runs(ended_before=cutoff, after_id=after, limit=BATCH)
    ):
        after = runs[-1].id
        removable = []
        for run in runs:
            directory = logs_dir / "steps" / safe_name(run.task) / safe_name(run.id)
            files, size = _tree_size(directory)
            if apply:
                try:
                    shutil.rmtree(directory)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    count.failed.append(f"{directory}: {exc.strerror}")
                    continue
            removable.append(run.id)
            count.add(run.ended_at, files, size)
        if apply:
            count.count -= len(removable) - store.delete_runs(removable)


def _tree_size(directory: Path) -> tuple[int, int]:
    files = size = 0
    for root, _dirs, names in os.walk(directory):
        for name in names:
            try:
                size += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                continue
            files += 1
    return files, size


def _prune_outputs(
    store: StateStore,
    count: PruneCount,
    *,
    cutoff: float,
    skip: set[int],
    apply: bool,
    now: float,
    stop: threading.Event,
) -> None:
    """Output files of attempts ended before `cutoff` (not an item's latest); marked pruned."""
    after = 0
    while not stop.is_set() and (
        rows := store.prunable_outputs(ended_before=cutoff, after_id=after, limit=BATCH)
    ):
        after = rows[-1].id
        removed = []
        for row in rows:
            if row.id in skip:
                continue
            files, size, gone = _remove_files(_attempt_paths(row), count, apply=apply)
            if gone:
                removed.append(row.id)
                count.add(row.ended_at, files, size)
        if apply:
            store.mark_outputs_pruned(removed, now=now)


def _prune_logs(
    logs_dir: Path, count: PruneCount, *, cutoff: float, keep_from: float, apply: bool
) -> None:
    """Daily log files whose day ended before `cutoff` and before the day of `keep_from`."""
    from runner.logs import iter_log_files, log_file_date

    keep_day = dt.datetime.fromtimestamp(keep_from, dt.UTC).date()
    for path in iter_log_files(logs_dir):
        day = log_file_date(path)
        if day is None or day >= keep_day:
            continue
        day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC).timestamp()
        if day_end > cutoff:
            continue
        files, size, gone = _remove_files([path], count, apply=apply)
        if files and gone:
            count.add(day_end - 86_400, files, size)


def _log_done(pipeline: Pipeline, report: PruneReport, log: Any) -> None:
    if log is not None:
        log.info("prune.done", **report.event_fields())
        return
    from runner.logs import close_logging, configure_logging, get_logger
    from runner.masking import Masker

    configure_logging(
        log_dir=pipeline.logs_dir,
        stderr_format="json",
        masker=Masker.from_env(pipeline.settings.secrets, os.environ),
        level="warning",  # the file gets `info` and above; stderr stays quiet
    )
    try:
        get_logger(site=pipeline.settings.site).info("prune.done", **report.event_fields())
    finally:
        close_logging()
