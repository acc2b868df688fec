"""The engine's main loop: runs task runs (start steps, items under their policies, finish steps).

One engine per runner process. A single main loop owns the state store (so
every state change is ordered and batched), launches processes on a pool of
worker threads (each thread blocks in the launcher for one child), and
receives their events and results through one inbox:

    advance runs (steps, phase changes, completion)
    dispatch: record the attempts durably, THEN launch them
    wait for results; record outcomes and checkpoints in one transaction

A crash at any point leaves either an attempt recorded as started (and so
`interrupted` on the next start) or a recorded outcome; never a launch that
the state does not know about, and never a finished item run again.

The loop's collaborators: `opening` (opening runs), `lifecycle` (phases, steps,
ends), `dispatch` (which items start), `pool` (worker threads), `recording`
(results), `hooks` (heartbeat, disk guard, reaping, progress line).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from runner.config.pipeline import Pipeline
from runner.domain.runs import TRIGGER_SCHEDULE
from runner.domain.workers import WORKER_OFFLINE
from runner.engine.context import AfterCommit, EngineContext
from runner.engine.dispatch import Dispatcher
from runner.engine.hooks import Housekeeping
from runner.engine.inbox import Inbox, Message, Wake
from runner.engine.launcher import REAL_LAUNCHER, Launcher
from runner.engine.lifecycle import Lifecycle
from runner.engine.opening import Opener
from runner.engine.pool import BATCH_LIMIT, WorkerPool
from runner.engine.recording import Recorder
from runner.engine.runs import RunReport, RunRequest, RunSource
from runner.engine.sharing import JOIN_EVERY, Sharing
from runner.errors import LeaseLostError, StateHaltError
from runner.launch import LaunchBuilder
from runner.masking import Masker
from runner.state import RunRow, StateStore
from runner.state.launches import LaunchJournal, journal_path, read_launched
from runner.system import failpoints
from runner.system.fs import ensure_runner_dir

MAX_WAIT = 1.0
MAX_IDLE_WAIT = 60.0
BATCH_WAIT = 0.004
"""Longest pause for more results before a commit, while every run still has queued attempts."""
IDLE_POLL = 0.05
"""With an `idle` hook (a fake clock): real seconds to wait for a result while processes run."""


class Engine:
    """Runs the runs of one site of one pipeline against one state store.

    `now` is the clock; `launcher` runs each process (default: real processes); `idle`, when
    given, is called with the seconds the loop would otherwise wait for a message (a fake
    clock advances by them: see `runner.testing`).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        store: StateStore,
        *,
        site: str,
        log: Any,
        cancel: threading.Event | None = None,
        now: Callable[[], float] = time.time,
        env: Mapping[str, str] | None = None,
        status_line: Callable[[str], bool] | None = None,
        launcher: Launcher = REAL_LAUNCHER,
        idle: Callable[[float], None] | None = None,
        instance: str | None = None,
    ) -> None:
        settings = pipeline.settings
        environment = dict(os.environ if env is None else env)
        logs_dir = ensure_runner_dir(pipeline.logs_dir)
        self.ctx = EngineContext(
            pipeline=pipeline,
            store=store,
            site=site,
            log=log,
            cancel=cancel or threading.Event(),
            now=now,
            env=environment,
            masker=Masker.from_env(settings.secrets, environment),
            logs_dir=logs_dir,
            state_path=pipeline.state_file,
            concurrency=settings.concurrency,
            builder=LaunchBuilder(
                pipeline,
                base_env=environment,
                secrets=[environment[n] for n in settings.secrets if environment.get(n)],
                logs_dir=logs_dir,
            ),
            after_commit=AfterCommit(log),
            instance=instance or f"{socket.gethostname()}:{os.getpid()}",
        )
        self.cancel = self.ctx.cancel
        self._inbox = Inbox()
        self._hooks = Housekeeping(self.ctx, status_line=status_line)
        self._recorder = Recorder(self.ctx, self._hooks)
        self._pool = WorkerPool(
            settings.concurrency,
            inbox=self._inbox,
            journal=LaunchJournal(journal_path(pipeline.state_file, site)),
            launcher=launcher,
            cancel=self.cancel,
            now=now,
            announce=lambda attempt: self._dispatcher.announce(attempt),
            may_launch=lambda: self._sharing.may_launch(),
        )
        self._dispatcher = Dispatcher(self.ctx, self._pool, self._inbox)
        self._lifecycle = Lifecycle(self.ctx, self._pool, self._inbox)
        self._opener = Opener(self.ctx, self._lifecycle)
        journal = self._pool.journal
        self._sharing = Sharing(self.ctx, self._opener, lambda: read_launched(journal.path))
        self._halted = False
        """The state cannot be written any more (full disk, damage, file gone): nothing is."""
        self._idle = idle

    # -- public --------------------------------------------------------------

    @property
    def pipeline(self) -> Pipeline:
        """The configuration runs opened from now on use."""
        return self.ctx.pipeline

    def runs_in_rotation(self) -> int:
        """Runs the launch slots still keep (queued, running, or not yet forgotten)."""
        return self._pool.runs_in_rotation()

    def close(self) -> None:
        """Stop the worker threads (call once no run is active); empty the launch journal."""
        self._pool.close()
        journal = self._pool.journal
        # Keep only what may still matter to the next start: attempts left open (a full disk).
        ctx = self.ctx
        mine = [ctx.instance] if ctx.store.shared else None  # other runners' are theirs to keep
        journal.rewrite(a.id for a in ctx.store.open_attempts(ctx.site, mine))
        journal.close()

    def recover(self) -> int:
        """Register this runner, then take over what dead runners left: their attempts become
        `interrupted` and go through the policy (runner.engine.sharing says whose).

        Attempts recorded but never launched are withdrawn instead. Returns how many
        attempts were interrupted. First, runners that died are reported, and a backward clock
        step made while no runner ran pulls the pending retries back (before recovery times
        new ones by the clock as it is).
        """
        self._hooks.look_for_offline(self.ctx.now())
        self._hooks.clock_check_at_start()
        self._sharing.register(self._hooks.started_at)
        interrupted = self._sharing.recover_at_start()
        self._pool.journal.rewrite(())  # every attempt it vouched for has ended
        return interrupted

    def resumable(self, runs: Sequence[RunRow]) -> list[RunRow]:
        """Of the site's open runs, those this runner resumes at start (on a shared state, its
        own: the others' it joins while they have items)."""
        return self._sharing.resumable(runs)

    def execute(self, requests: Sequence[RunRequest]) -> list[RunReport]:
        """Run (or resume) these runs until each ends, is interrupted, or its window closes."""
        ctx = self.ctx
        with self._session():
            self._open_all(requests)
            while ctx.active:
                self._open_all(self._sharing.tick(join=False))
                self._cycle(ctx.now())
                if ctx.active:
                    self._collect(self._wait_time(ctx.now()))
        return ctx.reports

    def serve(self, source: RunSource, resume: Sequence[RunRequest] = ()) -> list[RunReport]:
        """Stay up: start the runs `source` hands over, until a stop is requested and runs are left.

        `source.poll` is asked for new runs on every wake-up (it decides itself how often it
        really looks); between wake-ups the loop sleeps until the earliest of: a message from
        an attempt, a run's timer, `source.next_wakeup`, or `wake()` (signals call it).
        """
        ctx = self.ctx
        with self._session():
            self._open_all(resume)
            while ctx.active or not self.cancel.is_set():
                now = ctx.now()
                if not self.cancel.is_set():
                    self._open_all(source.poll(now, frozenset(r.name for r in ctx.active)))
                    self._open_all(self._sharing.tick(join=True))
                if ctx.active or self._recorder.pending():
                    self._cycle(now)
                wait = self._wait_time(now) if ctx.active else MAX_IDLE_WAIT
                if ctx.store.shared:
                    wait = min(wait, JOIN_EVERY)  # runs other runners open, leases to check
                wakeup = source.next_wakeup(now)
                if wakeup is not None:
                    wait = min(wait, max(0.0, wakeup - now))
                self._collect(wait)
        return ctx.reports

    def wake(self) -> None:
        """Wake the main loop now (from a signal handler or another thread)."""
        self._inbox.put(Wake())
        self._inbox.hurry.set()

    def use_pipeline(self, pipeline: Pipeline) -> None:
        """Take a new configuration: runs opened from now on use it; running runs keep theirs."""
        ctx = self.ctx
        ctx.pipeline = pipeline
        ctx.builder = LaunchBuilder(
            pipeline, base_env=ctx.env, secrets=ctx.builder.secrets, logs_dir=ctx.logs_dir
        )

    def set_offline(self) -> None:
        """Record that this runner is going away (its site shows `offline`), if the state can be written."""
        if not self._halted:
            self._hooks.beat(force=True, state=WORKER_OFFLINE)

    # -- the cycle -----------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[None]:
        """Around `execute` and `serve`: fresh reports; a state that cannot be written stops
        everything; whatever ends the loop, what already came back is recorded (unless the
        state cannot be written)."""
        self.ctx.reports = []
        try:
            yield
        except StateHaltError as exc:
            self._halt(exc)
            raise
        finally:
            if not self._halted:
                self._cycle(self.ctx.now(), dispatch=False)

    def _halt(self, exc: StateHaltError) -> None:
        """The state could not be written (full disk, damage, file gone): launch nothing more,
        interrupt what runs, stop.

        Everything the failed transaction recorded was rolled back (or, for a file gone,
        committed and written back), so the launches waiting for it are dropped; the attempts
        already running are interrupted and, since their start is recorded, resume as
        `interrupted` on the next start.
        """
        self._halted = True
        self.ctx.after_commit.clear()
        self.cancel.set()
        fields: dict[str, object] = {}
        if isinstance(exc, LeaseLostError):
            fields = {
                "instance": exc.instance,
                "outcomes_refused": len(self._recorder.results),
                "attempts_stopped": sum(len(r.running) for r in self.ctx.active),
            }
        self.ctx.log.error(
            exc.event, path=str(self.ctx.state_path), action=exc.action, error=str(exc), **fields
        )

    def _open_all(self, requests: Sequence[RunRequest]) -> None:
        self._opener.open(requests)
        if requests:
            self._hooks.beat(force=True)

    def _cycle(self, now: float, *, dispatch: bool = True) -> None:
        """One step of the loop, in ONE transaction: record results, advance runs, pick new items.

        Launches and the log lines that announce state changes wait in `after_commit`
        until the transaction is durable.
        """
        ctx = self.ctx
        self._hooks.clock_check(now)
        with ctx.store.batch():
            ctx.halts.refresh(ctx.store)
            for run, result in self._recorder.take_steps():
                self._lifecycle.step_finished(run, result)
            self._recorder.record(now)
            if dispatch:
                self._dispatcher.honour_moves()
                for run in list(ctx.active):
                    self._lifecycle.advance(run, now, disk_low=self._hooks.disk_low)
                if not self.cancel.is_set() and not self._hooks.check_disk(now):
                    self._dispatcher.dispatch(now)
        if ctx.after_commit:
            failpoints.hit("after-attempt-commit")
        ctx.after_commit.run()
        journal = self._pool.journal
        if journal.oversized:
            journal.rewrite(a for run in ctx.active for a in run.running)

    def _wait_time(self, now: float) -> float:
        active = self.ctx.active
        wakeups = [r.next_wakeup for r in active if r.next_wakeup is not None]
        for run in active:
            if (
                run.row.window_end is not None
                and run.row.trigger == TRIGGER_SCHEDULE
                and run.row.window_end > now
            ):
                wakeups.append(run.row.window_end)
        deadline = min(wakeups, default=now + MAX_WAIT)
        return max(0.0, min(deadline - now, MAX_WAIT))

    def _collect(self, timeout: float) -> None:
        """Wait for the next message (or the timeout), then take every message already there.

        Once results are in, wait (once) up to BATCH_WAIT for more, so that one commit
        records several: workers cut the pause short (`hurry`) when a run's queue of
        recorded attempts runs dry or BATCH_LIMIT results are waiting.
        """
        inbox, recorder = self._inbox, self._recorder
        message = self._wait(timeout)
        if message is None:
            self._hooks.beat()
            return
        paused = False
        while message is not None:
            recorder.file(message)
            message = inbox.get(0)
            if message is None and not paused and recorder.results and self._may_wait():
                paused = True
                inbox.hurry.clear()
                if self._may_wait():  # looked again: a worker may have hurried meanwhile
                    inbox.hurry.wait(BATCH_WAIT)
                message = inbox.get(0)
        for run in self.ctx.active:
            run.next_wakeup = None
        self._hooks.beat()
        self._hooks.show_progress(self.ctx.now())

    def _wait(self, timeout: float) -> Message | None:
        """The next message within `timeout` seconds. With an `idle` hook, time passes through
        the hook instead: at once when nothing runs that could send a message, else after a
        short real wait."""
        if self._idle is None or timeout <= 0:
            return self._inbox.get(timeout)
        busy = any(r.running or r.step for r in self.ctx.active)
        message = self._inbox.get(min(timeout, IDLE_POLL) if busy else 0)
        if message is None:
            self._idle(timeout)
        return message

    def _may_wait(self) -> bool:
        """Whether to pause for more results before committing (group commit).

        Only while every run with work in flight still has recorded attempts queued for its
        slots that its limits let start (so no slot starves while we wait), and below
        BATCH_LIMIT results.
        """
        if len(self._recorder.results) + self._inbox.size() >= BATCH_LIMIT:
            return False
        return all(self._pool.ready(run) for run in self.ctx.active if run.running)
