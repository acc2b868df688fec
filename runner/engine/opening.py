"""Opening runs: a new run or a resumed one, its group resolved and synced into the state.

Groups are resolved before any transaction (a resolver may run a command);
then the openings of up to OPEN_BATCH runs are recorded in one transaction,
and their log lines follow it. A resumed run whose group sources are unchanged
since the task's last sync (runner.groupsource) keeps the state's membership
without reading them again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from runner.domain.membership import ShrinkRefusal, shrink_refusal
from runner.domain.runs import (
    PHASE_AFTER,
    PHASE_BEFORE,
    PHASE_ITEMS,
    RUN_FAILED,
    RUN_RUNNING,
    run_id_for,
)
from runner.domain.statuses import MODE_RECURRING
from runner.domain.timefmt import iso
from runner.engine.active import ActiveRun
from runner.engine.context import EngineContext
from runner.engine.lifecycle import Lifecycle
from runner.engine.runs import RunRequest, task_config_hash
from runner.errors import GroupResolutionError
from runner.groups import Item, resolve_group
from runner.groupsource import source_fingerprint
from runner.launch import run_context, task_context
from runner.state import RunRow
from runner.system.user import os_user

OPEN_BATCH = 100
"""Runs whose openings share one commit when many fire at once."""


@dataclass(frozen=True)
class Resolution:
    """A group resolved for a run's opening (or found unchanged)."""

    items: list[Item] | None
    """The members; None: the state's membership stays (the shrink guard refused the
    resolution, or the sources are unchanged since the last sync)."""
    took: float
    """How long resolving took (seconds)."""
    source: str | None
    """The sources' fingerprint taken before they were read (None: none can be taken)."""
    unchanged: bool = False
    """The sources are unchanged since the task's last sync: they were not read."""


Resolved = Resolution | None
"""None: the resolution failed."""


class Opener:
    """Opens the runs asked for and adds them to the active runs."""

    def __init__(self, ctx: EngineContext, lifecycle: Lifecycle) -> None:
        self._ctx = ctx
        self._lifecycle = lifecycle

    def open(self, requests: Sequence[RunRequest]) -> None:
        """Open the runs asked for, OPEN_BATCH at a time (a task with a run going is skipped)."""
        ctx = self._ctx
        busy = {r.name for r in ctx.active} | {r.task for r in requests if r.resume is not None}
        wanted: list[RunRequest] = []
        for request in requests:
            if request.resume is None and request.task in busy:
                ctx.log.info(
                    "run.skipped", task=request.task, reason="its previous run is still going"
                )
                continue
            busy.add(request.task)
            wanted.append(request)
        for start in range(0, len(wanted), OPEN_BATCH):
            prepared = []
            for request in wanted[start : start + OPEN_BATCH]:
                if ctx.cancel.is_set():
                    break
                prepared.append(self._prepare(request))
            if ctx.cancel.is_set():  # a stop came while resolving: open nothing only to abandon it
                self._not_opened(wanted[start:])
                return
            with ctx.store.batch():
                for active, resolved, resuming, now in prepared:
                    if self._record(active, resolved, resuming=resuming, now=now):
                        ctx.active.append(active)
            ctx.after_commit.run()

    def _not_opened(self, requests: Sequence[RunRequest]) -> None:
        """Log the runs a stop kept from opening (a resumed one stays open in the state)."""
        for request in requests:
            self._ctx.log.info(
                "run.skipped",
                task=request.task,
                reason="the runner is stopping; the run was not opened",
            )

    def _prepare(self, request: RunRequest) -> tuple[ActiveRun, Resolved, bool, float]:
        """A run to open (or resume) and its resolved group."""
        ctx = self._ctx
        name = request.task
        task = ctx.pipeline.tasks[name]
        definition = ctx.pipeline.definitions[task.definition]
        policy = ctx.pipeline.policy_for(name)
        fingerprint = definition.fingerprint()
        now = ctx.now()
        row = request.resume
        if row is None:
            instant = request.fire_time if request.fire_time is not None else now
            run_id = run_id_for(name, instant, request.trigger)
            row = RunRow(
                id=run_id,
                task=name,
                site=ctx.site,
                trigger=request.trigger,
                fire_time=request.fire_time,
                window_end=request.window_end,
                started_at=now,
                ended_at=None,
                phase=PHASE_BEFORE,
                status=RUN_RUNNING,
                definition_hash=fingerprint,
                message="",
                owner=ctx.instance,
            )
        active = ActiveRun(
            name=name,
            task=task,
            definition=definition,
            policy=policy,
            row=row,
            fingerprint=fingerprint,
            task_ctx=task_context(name, ctx.site, task.mode),
            run_ctx=run_context(row.id, name, row.trigger, iso(row.fire_time) or ""),
            phase=row.phase,
        )
        resuming = request.resume is not None
        return active, self._resolve_group(active, resuming=resuming), resuming, now

    def _record(self, active: ActiveRun, resolved: Resolved, *, resuming: bool, now: float) -> bool:
        """Record the opening of a run (inside the caller's transaction); False: it failed, or
        (on a shared state) another runner opened this fire's run or has the task's run open:
        that run is joined instead, while in its items phase."""
        ctx = self._ctx
        name, row = active.name, active.row
        if ctx.store.shared and not resuming:
            existing = ctx.store.run(row.id) or ctx.store.open_run(name)
            if existing is not None:
                joined = self._join_existing(active, existing)
                if joined is not None:
                    ctx.active.append(joined)
                return False
        ctx.store.upsert_task(
            name,
            site=ctx.site,
            config_hash=task_config_hash(ctx.pipeline, name),
            modified_by=os_user(),
            now=now,
        )
        if resolved is not None:
            if resolved.items is not None:
                self._sync_group(active, resolved.items, resolved.took)
                ctx.store.record_synced_source(name, resolved.source, now=now)
            elif resolved.unchanged:
                ctx.after_commit.log(
                    "info",
                    "group.unchanged",
                    {
                        "task": name,
                        "run_id": row.id,
                        "group": active.task.group,
                        "reason": "its sources are unchanged since the last sync; "
                        "the state's membership is kept",
                    },
                )
        elif not resuming:
            ctx.store.begin_run(row, recurring=False)
            self._lifecycle.finish(active, RUN_FAILED, active.failure)
            return False
        else:
            active.failed, active.failure = False, ""  # resume with the items the state already has
        if not resuming:
            ctx.store.begin_run(row, recurring=active.task.mode == MODE_RECURRING)
            ctx.after_commit.log(
                "info",
                "run.started",
                {
                    "task": name,
                    "run_id": row.id,
                    "trigger": row.trigger,
                    "fire_time": iso(row.fire_time) or "",
                    "definition_hash": active.fingerprint,
                },
            )
        else:
            if row.definition_hash != active.fingerprint:
                ctx.after_commit.log(
                    "warning",
                    "run.definition_changed",
                    {
                        "task": name,
                        "run_id": row.id,
                        "previous": row.definition_hash,
                        "current": active.fingerprint,
                    },
                )
            ctx.after_commit.log(
                "info", "run.resumed", {"task": name, "run_id": row.id, "phase": row.phase}
            )
        for phase in (PHASE_BEFORE, PHASE_AFTER):
            active.steps_done[phase] = ctx.store.step_status(row.id, phase)
        if active.phase == PHASE_ITEMS:
            self._lifecycle.start_progress(active)
        return True

    def join(self, row: RunRow) -> ActiveRun:
        """Take items from `row`, a run another runner of this shared state owns and works
        (its group, steps and end are the owner's)."""
        ctx = self._ctx
        task = ctx.pipeline.tasks[row.task]
        definition = ctx.pipeline.definitions[task.definition]
        active = ActiveRun(
            name=row.task,
            task=task,
            definition=definition,
            policy=ctx.pipeline.policy_for(row.task),
            row=row,
            fingerprint=definition.fingerprint(),
            task_ctx=task_context(row.task, ctx.site, task.mode),
            run_ctx=run_context(row.id, row.task, row.trigger, iso(row.fire_time) or ""),
            phase=row.phase,
            joined=True,
        )
        self._lifecycle.start_progress(active)
        ctx.log.info("run.joined", task=row.task, run_id=row.id, owner=row.owner)
        return active

    def _join_existing(self, active: ActiveRun, existing: RunRow) -> ActiveRun | None:
        """A run asked for that another runner already opened (the same fire, or the task's
        run is open): join it while its items phase lasts, else leave it be."""
        if existing.ended_at is None and existing.phase == PHASE_ITEMS:
            return self.join(existing)
        self._ctx.after_commit.log(
            "info",
            "run.skipped",
            {
                "task": active.name,
                "reason": f"runner {existing.owner or 'another runner'} opened its run "
                f"{existing.id}"
                + (" (ended)" if existing.ended_at is not None else f" ({existing.phase} phase)"),
            },
        )
        return None

    def _resolve_group(self, run: ActiveRun, *, resuming: bool) -> Resolved:
        """The run's group members and how long resolving took; None (logged) if it failed."""
        ctx = self._ctx
        started = time.monotonic()
        source = source_fingerprint(
            ctx.pipeline, run.task.group, (run.task.group, *run.definition.requires)
        )
        if resuming and source is not None and source == ctx.store.synced_source(run.name):
            return Resolution(None, time.monotonic() - started, source, unchanged=True)
        try:
            items = resolve_group(ctx.pipeline, run.task.group, env=ctx.env, cancel=ctx.cancel)
        except GroupResolutionError as exc:
            if ctx.cancel.is_set():
                return None  # stopped while resolving: the run is not opened (see `open`)
            # the run's message is stored and shown by `status`: a resolver's stderr may hold secrets
            failure = f"group {run.task.group!r} could not be resolved: {exc}"
            run.failed, run.failure = True, ctx.masker.mask_text(failure)
            ctx.log.error(
                "group.failed",
                task=run.name,
                run_id=run.row.id,
                group=run.task.group,
                error=str(exc),
                resuming=resuming,
            )
            return None
        took = time.monotonic() - started
        refusal = self._shrink_refusal(run, items)
        if refusal is not None:
            ctx.log.warning(
                "group.shrink_refused",
                task=run.name,
                run_id=run.row.id,
                group=run.task.group,
                current=refusal.current,
                resolved=refusal.resolved,
                dropped=refusal.dropped,
                reason=refusal.reason,
                action="the run goes on with the members the state holds; nothing leaves or "
                "joins until a resolution passes the guard (see the group's min_members, max_drop)",
            )
            return Resolution(None, took, source)
        return Resolution(items, took, source)

    def _shrink_refusal(self, run: ActiveRun, items: list[Item]) -> ShrinkRefusal | None:
        """Why this resolution must not replace the task's membership in the state, if it must not."""
        ctx = self._ctx
        group = ctx.pipeline.groups[run.task.group]
        current = ctx.store.group_members(run.name)
        staying = sum(1 for it in items if it.id in current) if current else 0
        return shrink_refusal(
            len(current),
            len(items),
            staying,
            min_members=group.min_members,
            max_drop=group.max_drop_share,
        )

    def _sync_group(self, run: ActiveRun, items: list[Item], took: float) -> None:
        ctx = self._ctx
        requires = run.definition.requires
        report = ctx.store.sync_members(
            run.name,
            (
                (
                    it.id,
                    json.dumps(dict(it.attributes), ensure_ascii=False, separators=(",", ":")),
                    ",".join(r for r in requires if not it.attributes.get(r)),
                )
                for it in items
            ),
            now=ctx.now(),
        )
        ctx.after_commit.log(
            "info",
            "group.resolved",
            {
                "task": run.name,
                "run_id": run.row.id,
                "group": run.task.group,
                "total": report.total,
                "added": report.added,
                "incomplete": report.incomplete,
                "left": report.left,
                "duration_s": round(took, 3),
            },
        )
