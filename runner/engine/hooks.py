"""Housekeeping on the main loop: heartbeat (and runners seen going offline), disk guard, reaping
orphans, the live progress line."""

from __future__ import annotations

import os
import socket
from collections import deque
from collections.abc import Callable

from runner.domain.clocksteps import backward_step
from runner.domain.timefmt import iso
from runner.domain.workers import WORKER_ONLINE, WORKER_RUNNING, heartbeat_every
from runner.engine.context import EngineContext
from runner.engine.watch import OfflineWatch
from runner.process import reap_orphans
from runner.progress import format_progress
from runner.state import WorkerRow, state_disk_free

REAP_EVERY = 1.0
DISK_CHECK_EVERY = 2.0
PROGRESS_EVERY = 0.5
THROUGHPUT_SPAN = 300.0
"""Seconds of finished attempts the heartbeat's throughput figure covers."""


class Housekeeping:
    """What the main loop does besides running runs; each at its own pace."""

    def __init__(
        self, ctx: EngineContext, *, status_line: Callable[[str], bool] | None = None
    ) -> None:
        self._ctx = ctx
        self._status_line = status_line
        self._last_status_line = 0.0
        self._finished_times: deque[float] = deque()
        self._items_done = 0
        self.started_at = ctx.now()
        """When this runner started (its heartbeats carry it)."""
        self._last_heartbeat = 0.0
        self._last_reap = 0.0
        self._last_disk_check = 0.0
        self._last_now = self.started_at
        self._watch = OfflineWatch(ctx.site, ctx.instance, shared=ctx.store.shared)
        self.disk_low = False
        """Whether the last look found the disk below `settings.min_free_disk`."""

    def clock_check(self, now: float) -> None:
        """Notice the wall clock stepping backwards (NTP, an operator): pending retries are
        pulled back by the step, so a backoff lasts its length and not the step's on top, and
        the paced chores (heartbeat, reaping, disk check) run now instead of after the step."""
        step = backward_step(self._last_now, now)
        self._last_now = now
        if not step:
            return
        ctx = self._ctx
        moved = ctx.store.pull_retries_back(sorted({r.name for r in ctx.active}), step, now=now)
        for run in ctx.active:
            if run.next_wakeup is not None:
                run.next_wakeup = max(now, run.next_wakeup - step)
        self._last_heartbeat = self._last_reap = self._last_disk_check = 0.0
        self._last_status_line = 0.0
        ctx.log.warning(
            "clock.stepped_back", step_s=round(step, 3), retries_moved=moved, found_at="running"
        )

    def clock_check_at_start(self) -> None:
        """Notice a backward step made while no runner of this site ran.

        The site's heartbeat is the latest instant its runner recorded (written every
        HEARTBEAT_EVERY seconds, at its stop, and at once after a step it saw), so when it
        lies ahead of now the clock went back meanwhile. The pending retries of the site's
        tasks are pulled back by the step in one commit with a fresh heartbeat: the step is
        handled once, however often the runner starts. Call before recovery, whose retries
        are timed by the clock as it is now.
        """
        ctx = self._ctx
        now = ctx.now()
        self._last_now = now
        latest = max((w.heartbeat for w in ctx.store.workers() if w.site == ctx.site), default=None)
        step = backward_step(latest, now)
        if not step:
            return
        pipeline = ctx.pipeline
        tasks = sorted(t for t in pipeline.tasks if pipeline.task_site(t) == ctx.site)
        with ctx.store.batch():
            moved = ctx.store.pull_retries_back(tasks, step, now=now)
            self.beat(force=True)
        ctx.log.warning(
            "clock.stepped_back", step_s=round(step, 3), retries_moved=moved, found_at="start"
        )

    def item_finished(self, now: float) -> None:
        """Count one finished attempt (for the heartbeat's figures)."""
        self._items_done += 1
        self._finished_times.append(now)

    def check_disk(self, now: float) -> bool:
        """Whether free space is low (looked at every DISK_CHECK_EVERY seconds; changes logged)."""
        if now - self._last_disk_check < DISK_CHECK_EVERY:
            return self.disk_low
        self._last_disk_check = now
        ctx = self._ctx
        minimum = ctx.pipeline.settings.min_free_disk
        low = [
            (str(p), free)
            for p in (ctx.state_path, ctx.logs_dir)
            if (free := state_disk_free(p)) < minimum
        ]
        if low and not self.disk_low:
            for path, free in low:
                ctx.log.error(
                    "disk.low",
                    path=path,
                    free_bytes=free,
                    min_free_bytes=minimum,
                    action="no new items start until space is freed",
                )
        elif not low and self.disk_low:
            ctx.log.info("disk.ok")
        self.disk_low = bool(low)
        return self.disk_low

    def beat(self, *, force: bool = False, state: str | None = None) -> None:
        """Reap orphans and record the heartbeat, when each is due (`force`: the heartbeat now)."""
        ctx = self._ctx
        now = ctx.now()
        if now - self._last_reap >= REAP_EVERY:
            self._last_reap = now
            reap_orphans()  # descendants that outlived their attempt were re-parented to us
        lease = ctx.pipeline.settings.lease
        if not force and now - self._last_heartbeat < heartbeat_every(lease):
            return
        self._last_heartbeat = now
        while self._finished_times and self._finished_times[0] < now - THROUGHPUT_SPAN:
            self._finished_times.popleft()
        span = min(THROUGHPUT_SPAN, max(1.0, now - self.started_at))
        throughput = round(len(self._finished_times) * 60.0 / span, 2)
        self.look_for_offline(now)
        if state is None:
            state = (
                WORKER_RUNNING if any(r.running or r.step for r in ctx.active) else WORKER_ONLINE
            )
        ctx.store.heartbeat(
            WorkerRow(
                site=ctx.site,
                state=state,
                pid=os.getpid(),
                host=socket.gethostname(),
                started_at=self.started_at,
                heartbeat=now,
                items_done=self._items_done,
                throughput=throughput,
                instance=ctx.instance,
            ),
            lease=lease,
        )

    def look_for_offline(self, now: float) -> None:
        """Log `runner.offline` for each runner found gone without a clean exit since the last look."""
        ctx = self._ctx
        for gone in self._watch.look(ctx.store.workers(), now):
            ctx.log.warning(
                "runner.offline",
                offline_site=gone.worker.site,
                instance=gone.worker.name,
                host=gone.worker.host,
                pid=gone.worker.pid,
                last_heartbeat=iso(gone.worker.heartbeat),
                reason=gone.reason,
            )

    def show_progress(self, now: float) -> None:
        """Refresh the terminal's live progress line (at most twice a second)."""
        if self._status_line is None or now - self._last_status_line < PROGRESS_EVERY:
            return
        self._last_status_line = now
        active = self._ctx.active
        runs = [r.progress for r in active if r.progress is not None]
        for run in active:
            if run.progress is not None:
                run.progress.running = len(run.running)
        if not self._status_line(format_progress(runs, now)):
            self._status_line = None  # not a terminal: never again
