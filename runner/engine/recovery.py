"""Taking over what a dead runner left: its running steps and attempts.

A step recorded as started and never finished runs again when its run
resumes; first, whatever still carries its marker is killed, so that the dead
runner's copy never runs beside the new one.

For each attempt recorded as started and never finished: kill whatever still
carries its marker (one pass over the process table finds every step's and
attempt's processes: engine/leftovers.py) (the dead runner's children live on in their own sessions).
If nothing did, the launch journal does not have it and it left no trace, it
never ran (it was recorded ahead of a free slot) and is withdrawn, as a
graceful stop would have done. Otherwise merge the lines of its events file
that were not yet recorded, and the sub-ids its output rules find in its output
files that the state lacks, and record it `interrupted`, so the policy decides
(normally: retry).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from typing import Any

from runner.config.pipeline import Pipeline
from runner.config.policies import Policy
from runner.domain.runs import PHASE_AFTER, PHASE_BEFORE
from runner.domain.statuses import INTERRUPTED
from runner.engine.leftovers import sweep_markers
from runner.engine.verdicts import settle
from runner.launch import AttemptFiles, attempt_marker, read_events_file, step_marker
from runner.launch.outputevents import processed_in_output
from runner.process import reap_orphans
from runner.state import AttemptEnd, AttemptRow, Checkpoint, StateStore


def recover(
    pipeline: Pipeline,
    store: StateStore,
    *,
    site: str,
    log: Any,
    mask: Callable[[Checkpoint], Checkpoint],
    now: float,
    launched: Collection[int] | None,
    runners: Sequence[str] | None = None,
    claim: Callable[[], bool] | None = None,
) -> int | None:
    """Settle every open attempt of `site` (of the `runners` only, when given: runners of a
    shared state that were taken over); return how many were interrupted.

    `launched`: the ids in the launch journal (runner.state.launches); None: another host's
    journal, unknown here, so every attempt counts as launched. The processes of every open
    step and attempt are found and killed in one pass over this host's process table; the
    withdrawals and interruptions are recorded in one transaction, then logged.

    `claim`, when given, runs first in that transaction (a live runner marking a dead one
    taken over); when it returns False nothing is recorded and None is returned.
    """
    steps = [
        (run, phase, index)
        for run in store.open_runs(site)
        if runners is None or run.owner in runners
        for phase in (PHASE_BEFORE, PHASE_AFTER)
        for index, status in store.step_status(run.id, phase).items()
        if status is None
    ]
    attempts = store.open_attempts(site, runners)
    by_marker = sweep_markers(
        [step_marker(run.id, phase, index) for run, phase, index in steps]
        + [attempt_marker(attempt.run_id, attempt.id) for attempt in attempts]
    )
    for run, phase, index in steps:
        swept = by_marker[step_marker(run.id, phase, index)]
        if swept:  # none: stopped gracefully, or it ended with its runner
            log.warning(
                "step.interrupted",
                task=run.task,
                run_id=run.id,
                step=f"{phase}[{index}]",
                processes_killed=swept,
            )
    orphans: list[tuple[AttemptRow, int]] = []
    never_ran: list[AttemptRow] = []
    for attempt in attempts:
        swept = by_marker[attempt_marker(attempt.run_id, attempt.id)]
        if swept or launched is None or attempt.id in launched or _left_traces(attempt):
            orphans.append((attempt, swept))
        else:
            never_ran.append(attempt)
    if not never_ran and not orphans and claim is None:
        return 0
    ends: list[AttemptEnd] = []
    checkpoints: list[tuple[int, Checkpoint, float]] = []
    merged_counts: dict[int, int] = {}
    for attempt, _ in orphans:
        files = AttemptFiles(attempt.output_dir, attempt.number)
        merged = list(read_events_file(files.events, skip_lines=attempt.events_read))
        checkpoints.extend((attempt.id, mask(c), now) for c in merged)
        found = _processed_in_output(pipeline, store, attempt, files)
        checkpoints.extend((attempt.id, replace(mask(c), from_output=True), now) for c in found)
        merged_counts[attempt.id] = len(merged) + len(found)
        ends.append(_interrupted(pipeline, store, attempt, now))
    try:
        with store.batch():  # withdrawals and interruptions: one commit
            if claim is not None and not claim():
                raise _NotClaimed
            if never_ran:
                store.cancel_attempts([attempt.id for attempt in never_ran])
            applied = store.finish_attempts(ends, checkpoints) if ends else []
    except _NotClaimed:
        return None
    _withdrawn(never_ran, log)
    for attempt, killed in orphans:
        log.warning(
            "attempt.interrupted",
            task=attempt.task,
            run_id=attempt.run_id,
            item=attempt.item_id,
            attempt=attempt.number,
            status=INTERRUPTED,
            checkpoints_merged=merged_counts[attempt.id],
            processes_killed=killed,
        )
    rows = {attempt.id: attempt for attempt, _ in orphans}
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
    if orphans:
        reap_orphans()
    return len(orphans)


class _NotClaimed(Exception):
    """The claim of a takeover failed: roll back what the transaction recorded."""


def _processed_in_output(
    pipeline: Pipeline, store: StateStore, attempt: AttemptRow, files: AttemptFiles
) -> list[Checkpoint]:
    """The sub-ids its definition's output rules find in its output files that the state lacks."""
    task = pipeline.tasks.get(attempt.task)
    if task is None or not attempt.output_dir:
        return []
    rules = pipeline.definitions[task.definition].output_events
    found = processed_in_output(rules, (files.stdout, files.stderr))
    if not found:
        return []
    known = set(store.processed_subids(attempt.task, attempt.item_id))
    fresh = [sub_id for sub_id in dict.fromkeys(found) if sub_id not in known]
    return [Checkpoint("processed", sub_id) for sub_id in fresh]


def _left_traces(attempt: AttemptRow) -> bool:
    """The attempt's process wrote something: an output or events file, a recorded checkpoint."""
    if attempt.checkpoints or attempt.events_read:
        return True
    files = AttemptFiles(attempt.output_dir, attempt.number)
    return any(os.path.lexists(files.path(kind)) for kind in ("stdout", "stderr", "events.jsonl"))


def _withdrawn(attempts: list[AttemptRow], log: Any) -> None:
    """Announce attempts undone (recorded, never launched): their items wait as before."""
    for attempt in attempts:
        AttemptFiles(attempt.output_dir, attempt.number).discard_protocol_files()
        log.info(
            "attempt.withdrawn",
            task=attempt.task,
            run_id=attempt.run_id,
            item=attempt.item_id,
            attempt=attempt.number,
            reason="recorded ahead of a free slot; the runner stopped before launching it",
        )


def _interrupted(
    pipeline: Pipeline, store: StateStore, attempt: AttemptRow, now: float
) -> AttemptEnd:
    item = store.item(attempt.task, attempt.item_id)
    policy = pipeline.policy_for(attempt.task) if attempt.task in pipeline.tasks else Policy()
    return settle(
        attempt_id=attempt.id,
        task=attempt.task,
        item_id=attempt.item_id,
        status=INTERRUPTED,
        rule_queue=None,
        policy=policy,
        retries_used=item.retries_used if item else 0,
        error="the runner stopped while this attempt ran",
        exit_code=None,
        signal=None,
        now=now,
        duration_s=max(0.0, now - attempt.started_at),
    )
