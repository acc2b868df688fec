"""Taking over what a dead runner left: its running attempts become `interrupted`.

For each attempt recorded as started and never finished: kill whatever still
carries its marker (the dead runner's children live on in their own
sessions), merge the lines of its events file that were not yet recorded, and
record it `interrupted`, so the policy decides (normally: retry).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runner import queues as q
from runner.checkpoints import read_events_file
from runner.config.models import Pipeline, Policy
from runner.engine.verdicts import settle
from runner.launch import AttemptFiles
from runner.process import reap_orphans, sweep_marker
from runner.state import AttemptEnd, AttemptRow, Checkpoint, StateStore


def attempt_marker(run_id: str, attempt: object) -> str:
    """The value put in RUNNER_ATTEMPT_MARKER of an attempt's (or step's) process tree."""
    return f"{run_id}/{attempt}"


def recover(
    pipeline: Pipeline,
    store: StateStore,
    *,
    site: str,
    log: Any,
    mask: Callable[[Checkpoint], Checkpoint],
    now: float,
) -> int:
    """Record every open attempt of `site` as interrupted; return how many there were."""
    orphans = store.open_attempts(site)
    if not orphans:
        return 0
    ends: list[AttemptEnd] = []
    checkpoints: list[tuple[int, Checkpoint, float]] = []
    for attempt in orphans:
        killed = sweep_marker(attempt_marker(attempt.run_id, attempt.id))
        files = AttemptFiles(attempt.output_dir, attempt.number)
        merged = list(read_events_file(files.events, skip_lines=attempt.events_read))
        checkpoints.extend((attempt.id, mask(c), now) for c in merged)
        ends.append(_interrupted(pipeline, store, attempt, now))
        log.warning(
            "attempt.interrupted",
            task=attempt.task,
            run_id=attempt.run_id,
            item=attempt.item_id,
            attempt=attempt.number,
            status=q.INTERRUPTED,
            checkpoints_merged=len(merged),
            processes_killed=killed,
        )
    applied = store.finish_attempts(ends, checkpoints)
    rows = {attempt.id: attempt for attempt in orphans}
    for end, queue_name in applied:
        row = rows[end.attempt_id]
        AttemptFiles(row.output_dir, row.number).discard_protocol_files()
        log.info(
            "item.finished",
            task=row.task,
            run_id=row.run_id,
            item=row.item_id,
            attempt=row.number,
            status=end.status,
            queue=queue_name,
            error=end.error,
        )
    reap_orphans()
    return len(orphans)


def _interrupted(
    pipeline: Pipeline, store: StateStore, attempt: AttemptRow, now: float
) -> AttemptEnd:
    item = store.item(attempt.task, attempt.item_id)
    policy = pipeline.policy_for(attempt.task) if attempt.task in pipeline.tasks else Policy()
    return settle(
        attempt_id=attempt.id,
        task=attempt.task,
        item_id=attempt.item_id,
        status=q.INTERRUPTED,
        rule_queue=None,
        policy=policy,
        retries_used=item.retries_used if item else 0,
        error="the runner stopped while this attempt ran",
        exit_code=None,
        signal=None,
        now=now,
        duration_s=max(0.0, now - attempt.started_at),
    )
