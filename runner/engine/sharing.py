"""The runners of one site: registering, leases, taking over dead runners, joining runs.

Every runner registers under its identity when it starts (`--instance`, else `host:pid`):
the state gives it an epoch, one more than the last start of that identity, so an earlier
start that is still about can no longer write. Then:

- On SQLite one runner works a site (its lock file says so): at start it takes over every
  earlier runner of the site, as it always did (runner.engine.recovery).
- On a shared database (PostgreSQL) several runners of a site work at once. Each renews its
  lease with its heartbeat, every lease/4 seconds at most 5 s, on the database's clock, and
  every write it makes is fenced by that lease (runner.state.postgresql.db). At start a runner
  takes over its own identity's earlier start, the site's runners of this host whose process
  is gone, and any whose lease expired; while it runs, at every heartbeat, any runner of the
  site whose lease expired (or that stopped cleanly, leaving runs open). Taking over: the dead
  runner's open attempts are recorded `interrupted` (the policy decides) and its open runs
  become this runner's, resumed here, all in the transaction that marks it taken over.
- A `runner serve` joins the site's open runs that another runner owns once they are in their
  items phase with items to start (looked at every JOIN_EVERY seconds), and takes items from
  them; the owner runs the steps and ends the run once no attempt of it is open anywhere.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Collection, Sequence

from runner.domain.runs import PHASE_AFTER, PHASE_BEFORE, PHASE_ITEMS
from runner.domain.workers import WORKER_ONLINE, heartbeat_every
from runner.engine.active import run_in_schedule
from runner.engine.context import EngineContext
from runner.engine.opening import Opener
from runner.engine.recovery import recover
from runner.engine.runs import RunRequest
from runner.state import RunRow, WorkerRow
from runner.system.liveness import gone_here

JOIN_EVERY = 1.0
"""Seconds between two looks of a `runner serve` for runs of its site other runners opened."""
LAUNCH_MARGIN = 0.5
"""A runner of a shared state launches only within this share of its lease since a write last
found the lease its own: past it, it cannot be sure no live runner has taken it over."""


class Sharing:
    """This runner among the runners of its site (see the module's description)."""

    def __init__(
        self, ctx: EngineContext, opener: Opener, launched: Callable[[], Collection[int]]
    ) -> None:
        self._ctx = ctx
        self._opener = opener
        self._launched = launched
        self._host = socket.gethostname()
        self._last_check = 0.0
        self._last_join = 0.0
        self.epoch = 0

    @property
    def lease(self) -> float:
        return self._ctx.pipeline.settings.lease

    def may_launch(self) -> bool:
        """Whether a process may start now: always on SQLite; on a shared state while a write
        found the lease this runner's own within LAUNCH_MARGIN of the lease."""
        store = self._ctx.store
        if not store.shared:
            return True
        return time.monotonic() - store.fence_passed_at < self.lease * LAUNCH_MARGIN

    def register(self, started_at: float) -> None:
        """Record this runner's start under its identity, and fence its writes by its lease."""
        ctx = self._ctx
        worker = WorkerRow(
            site=ctx.site,
            state=WORKER_ONLINE,
            pid=os.getpid(),
            host=self._host,
            started_at=started_at,
            heartbeat=ctx.now(),
            items_done=0,
            throughput=0.0,
            instance=ctx.instance,
        )
        self.epoch = ctx.store.register_runner(worker, lease=self.lease)
        ctx.store.fence(ctx.site, ctx.instance, self.epoch, lease=self.lease)

    def recover_at_start(self) -> int:
        """Take over what earlier runners left; returns how many attempts were interrupted.

        SQLite: every open attempt and run of the site (its lock file says no runner of it
        is about). A shared state: this identity's earlier start, then the site's runners of
        this host whose process is gone and any whose lease expired.
        """
        ctx = self._ctx
        if not ctx.store.shared:
            interrupted = self._recover(None, launched=self._launched()) or 0
            for worker in self._others():
                ctx.store.mark_lost(worker, now=ctx.now(), expired_only=False)
            ctx.store.forget_runners(ctx.site, keep=ctx.instance)
            return interrupted
        interrupted = self._recover([ctx.instance], launched=self._launched(), shared=True) or 0
        expired = {w.name for w in ctx.store.expired_runners(ctx.site)}
        for worker in self._others():
            gone = self._gone_here(worker)
            if gone or worker.name in expired:
                done = self.take_over(worker, expired_only=not gone)
                interrupted += done[0] if done is not None else 0
        ctx.store.forget_runners(ctx.site, keep=ctx.instance)
        return interrupted

    def resumable(self, runs: Sequence[RunRow]) -> list[RunRow]:
        """The open runs this runner resumes at start: on a shared state only its own (and
        those of a state written before runners shared sites); others it may join."""
        if not self._ctx.store.shared:
            return list(runs)
        return [r for r in runs if r.owner in ("", self._ctx.instance)]

    def tick(self, *, join: bool) -> list[RunRequest]:
        """On a shared state, when due: take over the site's runners whose lease expired
        (returning the runs to resume that were theirs) and, with `join`, join the runs of
        the site other runners opened."""
        ctx = self._ctx
        if not ctx.store.shared:
            return []
        now = time.monotonic()
        resume: list[RunRequest] = []
        if now - self._last_check >= heartbeat_every(self.lease):
            self._last_check = now
            taken = [
                self.take_over(worker, expired_only=True)
                for worker in ctx.store.expired_runners(ctx.site)
                if worker.name != ctx.instance
            ]
            for done in taken:
                if done is not None:
                    resume += self._resume(done[1])
            if any(done is not None for done in taken):
                ctx.store.forget_runners(ctx.site, keep=ctx.instance)
        if join and now - self._last_join >= JOIN_EVERY:
            self._last_join = now
            self._join(ctx.now())
        return resume

    def take_over(
        self, worker: WorkerRow, *, expired_only: bool
    ) -> tuple[int, list[RunRow]] | None:
        """Take over a dead runner: its open attempts interrupted, its open runs made this
        runner's, in the transaction that marks it taken over. Returns the attempts
        interrupted and the runs taken; None when it came back or another runner won."""
        ctx = self._ctx
        runs: list[RunRow] = []

        def claim() -> bool:
            if not ctx.store.mark_lost(worker, now=ctx.now(), expired_only=expired_only):
                return False
            runs.extend(ctx.store.take_runs(ctx.site, [worker.name], ctx.instance))
            return True

        local = worker.host == self._host
        interrupted = self._recover(
            [worker.name], launched=self._launched() if local else None, claim=claim, shared=True
        )
        if interrupted is None:
            return None
        ctx.log.warning(
            "runner.taken_over",
            instance=worker.name,
            host=worker.host,
            pid=worker.pid,
            heartbeat_age_s=round(max(0.0, ctx.now() - worker.heartbeat), 1),
            attempts_interrupted=interrupted,
            runs=[r.id for r in runs],
        )
        return interrupted, runs

    # -- inside --------------------------------------------------------------

    def _recover(
        self,
        runners: Sequence[str] | None,
        *,
        launched: Collection[int] | None,
        claim: Callable[[], bool] | None = None,
        shared: bool = False,
    ) -> int | None:
        """Settle the open attempts of `runners` (None: every runner of the site); with
        `shared`, this directory's journal speaks for this directory's attempts only. None:
        the `claim` failed, nothing was recorded."""
        ctx = self._ctx
        found = recover(
            ctx.pipeline,
            ctx.store,
            site=ctx.site,
            log=ctx.log,
            mask=ctx.masked,
            now=ctx.now(),
            launched=launched,
            runners=runners,
            claim=claim,
            journal_dir=ctx.logs_dir if shared else None,
        )
        return found

    def _others(self) -> list[WorkerRow]:
        ctx = self._ctx
        return [
            w
            for w in ctx.store.workers()
            if w.site == ctx.site and w.name != ctx.instance and w.lost_at is None
        ]

    def _gone_here(self, worker: WorkerRow) -> bool:
        """A runner of this host named by its process (no `--instance`) whose process is gone."""
        return worker.name == f"{worker.host}:{worker.pid}" and gone_here(worker.host, worker.pid)

    def _resume(self, runs: Sequence[RunRow]) -> list[RunRequest]:
        """The runs taken over: one this runner had joined is now its own (it goes on from its
        phase); the others are resumed like any run a dead runner left."""
        ctx = self._ctx
        requests = []
        for row in runs:
            if row.task not in ctx.pipeline.tasks:
                continue
            active = next((r for r in ctx.active if r.row.id == row.id), None)
            if active is None:
                requests.append(RunRequest.resuming(row))
                continue
            active.row, active.joined, active.leaving = row, False, False
            active.steps_done = {
                phase: ctx.store.step_status(row.id, phase) for phase in (PHASE_BEFORE, PHASE_AFTER)
            }
        return requests

    def _join(self, now: float) -> None:
        """Join the site's open runs other runners own that have items to start here; leave
        (once their attempts here end) those whose owner moved past the items phase."""
        ctx = self._ctx
        store = ctx.store
        rows = {r.id: r for r in store.open_runs(ctx.site)}
        for run in ctx.active:
            if run.joined:
                row = rows.get(run.row.id)
                run.leaving = row is None or row.phase != PHASE_ITEMS
        working = {r.name for r in ctx.active}
        wanted = [
            row
            for row in rows.values()
            if row.owner != ctx.instance
            and row.phase == PHASE_ITEMS
            and row.task in ctx.pipeline.tasks
            and row.task not in working
            and ctx.pipeline.task_site(row.task) == ctx.site
            and ctx.halts.get(row.task) is None
        ]
        for row in wanted:
            in_schedule = run_in_schedule(row, now)
            if store.eligible_items(row.task, now=now, in_schedule=in_schedule, limit=1):
                ctx.active.append(self._opener.join(row))
