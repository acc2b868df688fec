"""One runner session: what `runner run` and `runner serve` both hold while they work.

Opening a session configures logging, takes the site's lock, becomes the
subreaper of its children, opens the state, installs the signal handlers,
logs `runner.started`, builds the engine and takes over what a dead runner
left (recovery). Closing it records the runner as offline, stops the engine's
workers, logs `runner.stopped`, closes the state, releases the lock and closes
the logs, in that order, whatever ended the session.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from runner.config.pipeline import Pipeline
from runner.config.state_location import StateLocation
from runner.engine import Engine, RunReport, RunRequest, RunSource
from runner.state import StateStore

Handler = Callable[[], None]


class Control:
    """Stop or wake a runner from another thread; signal handlers use it too."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        """Set when a stop was asked for: nothing new starts, running attempts are interrupted."""
        self._waker: Handler | None = None

    def bind(self, waker: Handler | None) -> None:
        """How to wake the engine's loop (None: nothing to wake)."""
        self._waker = waker

    def wake(self) -> None:
        """Make the loop look at the clock, the files and the state now."""
        waker = self._waker
        if waker is not None:
            waker()

    def stop(self) -> None:
        """Ask the runner to stop (what SIGTERM, SIGINT and, for `runner run`, SIGHUP do)."""
        self.cancel.set()
        self.wake()

    def signal_handlers(self) -> dict[int, Handler]:
        """What each signal does while the session runs.

        SIGHUP (the terminal closed, or a session manager) stops `runner run` like SIGTERM:
        its default action would kill the runner with its attempts orphaned until the next
        runner. `runner serve` reloads on it instead.
        """
        return {signal.SIGTERM: self.stop, signal.SIGINT: self.stop, signal.SIGHUP: self.stop}


@contextmanager
def _signals(control: Control) -> Iterator[None]:
    """Install `control`'s signal handlers (only in the main thread, where Python delivers them)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(action: Handler) -> Callable[[int, FrameType | None], None]:
        return lambda _signum, _frame: action()

    previous = {
        signum: signal.signal(signum, handler(action))
        for signum, action in control.signal_handlers().items()
    }
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@dataclass
class Session:
    """An open runner session: its state, log and engine."""

    pipeline: Pipeline
    site: str
    store: StateStore
    log: Any
    engine: Engine
    recovered: int
    """Attempts of a dead runner that recovery found interrupted."""

    def resume_requests(self) -> list[RunRequest]:
        """The site's open runs (left by a runner that stopped or died), to resume."""
        return [
            RunRequest(r.task, r.trigger, r.fire_time, r.window_end, resume=r)
            for r in self.engine.resumable(self.store.open_runs(self.site))
            if r.task in self.pipeline.tasks
        ]

    def serve(self, source: ReportingSource, resume: Sequence[RunRequest]) -> list[RunReport]:
        """Run the engine's long-running loop on `source`, applying the reloads it reports."""
        return self.engine.serve(_ApplyingReloads(source, self.engine), resume)


class ReportingSource(RunSource, Protocol):
    """A run source that also reports a new configuration (once per reload) instead of applying it."""

    def take_reloaded(self) -> Pipeline | None:
        """The configuration loaded since the last call, if any."""
        ...


class _ApplyingReloads:
    """The engine's view of a `ReportingSource`: a reported configuration applies before the
    runs of the same poll open."""

    def __init__(self, source: ReportingSource, engine: Engine) -> None:
        self._source = source
        self._engine = engine

    def poll(self, now: float, busy: frozenset[str]) -> Sequence[RunRequest]:
        requests = self._source.poll(now, busy)
        reloaded = self._source.take_reloaded()
        if reloaded is not None:
            self._engine.use_pipeline(reloaded)
        return requests

    def next_wakeup(self, now: float) -> float | None:
        return self._source.next_wakeup(now)


BUSY_LOG_EVERY = 5.0
"""Seconds between two `state.busy` lines while a write waits for another process's lock."""


class BusyWait:
    """Told of each try of a write that found the state's write lock held by another process:
    says so at most every BUSY_LOG_EVERY seconds, and once when a stop was asked meanwhile.

    A stop during the wait needs nothing more from here: the signal handler sets `cancel`, so
    nothing new starts and the running attempts are stopped as in any stop, while this write
    goes on waiting, since what finished must still be recorded.
    """

    def __init__(self, path: StateLocation, log: Any, cancel: threading.Event) -> None:
        self._path = path
        self._log = log
        self._cancel = cancel
        self._logged_at: float | None = None
        self._stop_told = False

    def __call__(self, waited: float) -> None:
        stopping = self._cancel.is_set()
        if stopping and not self._stop_told:
            self._stop_told = True
        elif self._logged_at is not None and 0 <= waited - self._logged_at < BUSY_LOG_EVERY:
            return
        self._logged_at = waited
        self._log.warning(
            "state.busy",
            path=str(self._path),
            waited_s=round(waited, 1),
            stopping=stopping,
            action=(
                "another process holds the state's write lock; a stop was asked: nothing new "
                "starts and running attempts are stopped, and the runner waits for the lock to "
                "record what finished before it exits (the file is sound)"
                if stopping
                else "another process holds the state's write lock; waiting for it (the file "
                "is sound)"
            ),
        )


def _open_state(pipeline: Pipeline, log: Any, cancel: threading.Event) -> StateStore:
    """The state, checked (a broken index on items included) before anything runs.

    A write waits for another process's lock as long as it takes (what finished must be
    recorded), saying so at a bounded rate (`BusyWait`); a damaged file is logged and refused.
    """
    from runner.errors import StateHaltError
    from runner.state import open_store

    path = pipeline.state_location
    try:
        return open_store(
            path, check="start", wait_forever=True, on_busy=BusyWait(path, log, cancel)
        )
    except StateHaltError as exc:
        log.error(exc.event, path=str(path), action=exc.action, error=str(exc))
        raise


@contextmanager
def open_session(
    pipeline: Pipeline,
    *,
    site: str,
    control: Control,
    started: Mapping[str, object],
    stopped: Callable[[], Mapping[str, object]],
    log_format: str = "auto",
    log_level: str = "info",
    env: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
    status_line: Callable[[str], bool] | None = None,
    instance: str | None = None,
) -> Iterator[Session]:
    """Open a runner session for `site` (see the module's description).

    `started` and `stopped()` are the extra fields of the `runner.started` and
    `runner.stopped` log lines. Raises LockHeldError when another runner holds the lock.
    """
    from runner.logs.setup import close_logging, configure_logging, get_logger
    from runner.masking import Masker
    from runner.notify import notifying
    from runner.process import become_subreaper
    from runner.state import refuse_read_only_mount
    from runner.system.fs import file_modes
    from runner.system.lock import RunnerLock, lock_path_for

    refuse_read_only_mount(pipeline.state_file)  # before the logs beside it fail to open
    with file_modes(pipeline.settings.file_mode):
        environment = dict(os.environ if env is None else env)
        masker = Masker.from_env(pipeline.settings.secrets, environment)
        configure_logging(
            log_dir=pipeline.logs_dir,
            stderr_format=log_format,
            masker=masker,
            level=log_level,
            compact_items=status_line is not None,  # `runner run`: the live line counts them
        )
        log = get_logger(site=site)
        lock = RunnerLock(lock_path_for(pipeline.state_file, site))
        try:
            lock.acquire()
            become_subreaper()
            store = _open_state(pipeline, log, control.cancel)
            try:
                with notifying(pipeline, environment, log), _signals(control):
                    log.info(
                        "runner.started", pid=os.getpid(), pipeline=str(pipeline.root), **started
                    )
                    engine = Engine(
                        pipeline,
                        store,
                        site=site,
                        log=log,
                        cancel=control.cancel,
                        now=clock,
                        env=environment,
                        status_line=status_line,
                        instance=instance,
                    )
                    control.bind(engine.wake)
                    try:
                        recovered = engine.recover()
                        yield Session(pipeline, site, store, log, engine, recovered)
                    finally:
                        control.bind(None)
                        engine.set_offline()
                        engine.close()
                        log.info("runner.stopped", **stopped())
            finally:
                store.close()
        finally:
            lock.release()
            close_logging()
