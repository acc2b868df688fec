"""`runner serve`: stay up, start runs when schedules fire, pick up run-now items, reload config.

The engine's long-running loop (`Engine.serve`) asks a `ScheduleSource` for new
runs each time it wakes, and sleeps until the source's next wake-up: the next
fire of any task, or the next look at the files (every `WATCH_EVERY` seconds:
a `stat` of each pipeline file and one `PRAGMA data_version`, which changes only
when another process, such as `runner move`, wrote to the state).

A changed configuration is loaded and checked; an invalid one is logged
(`config.invalid`) and the old one kept. A valid one applies at once
(`config.reloaded`): runs opened from then on use it, runs already going keep
the models they were opened with. SIGTERM/SIGINT stop the runner (running
attempts are interrupted and recorded, open runs are resumed by the next
runner); SIGHUP reloads the configuration now.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from runner import exitcodes
from runner.config.loader import load_pipeline, pipeline_files
from runner.config.pipeline import Pipeline
from runner.engine import Engine, RunRequest
from runner.errors import ConfigError, RunnerError
from runner.scheduler import due_requests, next_fire, site_tasks
from runner.state import StateStore
from runner.taskinfo import record_tasks, settle_status

WATCH_EVERY: Final = 2.0
"""Seconds between looks at the pipeline files' mtimes and at the state's data version."""

RESUME_AFTER: Final = 30.0
"""A run the engine stopped but left open (disk nearly full) is taken up again this much later."""

RESTART_SETTINGS: Final = ("state", "logs", "concurrency", "secrets")
"""Settings a running runner cannot change: a reload that changes them says a restart is needed."""

Clock = Callable[[], float]


class ServeControl:
    """Stop, reload or wake a serving runner from another thread (signal handlers use it too)."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        """Set when a stop was asked for: nothing new starts, running attempts are interrupted."""
        self.ready = threading.Event()
        """Set once the runner holds the lock, has resumed what was left, and waits for fires."""
        self._reload = threading.Event()
        self._waker: Callable[[], None] | None = None

    def bind(self, waker: Callable[[], None]) -> None:
        """Called by `serve`: how to wake its loop."""
        self._waker = waker

    def wake(self) -> None:
        """Make the loop look at the clock, the files and the state now."""
        waker = self._waker
        if waker is not None:
            waker()

    def stop(self) -> None:
        """Ask the runner to stop (what SIGTERM and SIGINT do)."""
        self.cancel.set()
        self.wake()

    def reload(self) -> None:
        """Ask the runner to re-read its configuration now (what SIGHUP does)."""
        self._reload.set()
        self.wake()

    def take_reload(self) -> bool:
        """True once after each `reload()`."""
        if self._reload.is_set():
            self._reload.clear()
            return True
        return False


class ConfigWatcher:
    """Notices a change to the pipeline files (content, new or removed files) by their metadata."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._seen = self.snapshot()

    def snapshot(self) -> tuple[tuple[str, int, int, int], ...]:
        """(file, mtime ns, size, inode) of each pipeline file; empty when none can be listed."""
        try:
            _, files = pipeline_files(self.path)
        except ConfigError:
            return ()
        entries: list[tuple[str, int, int, int]] = []
        for path in files:
            try:
                info = path.stat()
            except OSError:
                entries.append((str(path), -1, -1, -1))
                continue
            entries.append((str(path), info.st_mtime_ns, info.st_size, info.st_ino))
        return tuple(entries)

    def changed(self) -> bool:
        """True when the files differ from the last time this was asked (or from creation)."""
        current = self.snapshot()
        if current == self._seen:
            return False
        self._seen = current
        return True


class ScheduleSource:
    """The engine's `RunSource` for `runner serve`: due fires, run-now items, config reloads."""

    def __init__(
        self,
        *,
        path: str | Path,
        pipeline: Pipeline,
        store: StateStore,
        engine: Engine,
        site: str,
        site_fixed: bool,
        log: Any,
        control: ServeControl,
        watcher: ConfigWatcher,
    ) -> None:
        self.path = path
        self.pipeline = pipeline
        self.store = store
        self.engine = engine
        self.site = site
        self.site_fixed = site_fixed
        self.log = log
        self.control = control
        self.watcher = watcher
        self._next: dict[str, float] = {}
        self._earliest = math.inf
        self._look_all = True
        self._state_changed = False
        self._busy: frozenset[str] = frozenset()
        self._stalled: dict[str, float] = {}
        self._next_watch = -math.inf
        self._data_version = self._read_data_version()
        self._site_tasks = frozenset(site_tasks(pipeline, site))

    # -- RunSource -------------------------------------------------------------

    def poll(self, now: float, busy: frozenset[str]) -> Sequence[RunRequest]:
        """Runs to start now: due fires of idle tasks, run-now items, stalled open runs."""
        freed = self._busy - busy
        self._busy = busy
        self._watch(now)
        look: set[str] = set()
        for name in freed:
            if self._left_open(name):
                self._stalled[name] = now + RESUME_AFTER
            else:
                settle_status(self.pipeline, self.store, name)
                look.add(name)
        requests = self._resume_stalled(now)
        held = busy | set(self._stalled) | {r.task for r in requests}
        tasks = self._site_tasks
        if self._look_all:
            self._look_all = False
            look.update(tasks)
        elif now >= self._earliest:
            look.update(name for name, fire in self._next.items() if fire <= now)
        run_now = self._state_changed
        self._state_changed = False
        if run_now:
            look.update(tasks)
        if not look:
            return requests
        requests += due_requests(
            self.pipeline, self.store, site=self.site, now=now, tasks=look, busy=held, log=self.log
        )
        for name in look:
            schedule = self.pipeline.tasks[name].schedule if name in self.pipeline.tasks else None
            if schedule is None or name not in tasks:
                self._next.pop(name, None)
            else:
                self._next[name] = next_fire(self.pipeline.schedules[schedule], now)
        self._earliest = min(self._next.values(), default=math.inf)
        return requests

    def next_wakeup(self, now: float) -> float | None:
        """The earliest of: the next fire, the next look at the files, a stalled run's retry."""
        return min(self._earliest, self._next_watch, *self._stalled.values())

    # -- files and state -------------------------------------------------------

    def _watch(self, now: float) -> None:
        forced = self.control.take_reload()
        if not forced and now < self._next_watch:
            return
        self._next_watch = now + WATCH_EVERY
        if self.watcher.changed() or forced:
            self._reload(now, forced=forced)
        version = self._read_data_version()
        if version != self._data_version:
            self._data_version = version
            self._state_changed = True

    def _read_data_version(self) -> int:
        row = self.store.connection.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def _reload(self, now: float, *, forced: bool) -> None:
        reason = "signal" if forced else "files changed"
        try:
            new = load_pipeline(self.path)
        except ConfigError as exc:
            self.log.error(
                "config.invalid",
                reason=reason,
                errors=[str(issue) for issue in exc.issues],
                action="the previous configuration stays in use; fix the files to apply them",
            )
            return
        old = self.pipeline
        restart = [
            key
            for key in RESTART_SETTINGS
            if getattr(new.settings, key) != getattr(old.settings, key)
        ]
        if not self.site_fixed and new.settings.site != old.settings.site:
            restart.append("site")
        changed = record_tasks(new, self.store, now)
        self.engine.use_pipeline(new)
        self.pipeline = new
        self._site_tasks = frozenset(site_tasks(new, self.site))
        self._next.clear()
        self._earliest = math.inf
        self._look_all = True
        self.log.info(
            "config.reloaded",
            reason=reason,
            files=[str(f) for f in new.files],
            tasks=len(self._site_tasks),
            changed=changed,
            added=sorted(set(new.tasks) - set(old.tasks)),
            removed=sorted(set(old.tasks) - set(new.tasks)),
            running=sorted(self._busy & set(changed)),
            restart_needed=restart,
        )

    # -- runs the engine stopped but left open ---------------------------------

    def _left_open(self, task: str) -> bool:
        found = self.store.connection.execute(
            "SELECT 1 FROM runs WHERE task = ? AND site = ? AND ended_at IS NULL LIMIT 1",
            (task, self.site),
        ).fetchone()
        return found is not None

    def _resume_stalled(self, now: float) -> list[RunRequest]:
        requests: list[RunRequest] = []
        for name, at in list(self._stalled.items()):
            if at > now:
                continue
            del self._stalled[name]
            for row in self.store.open_runs(self.site):
                if row.task == name and name in self.pipeline.tasks:
                    requests.append(
                        RunRequest(row.task, row.trigger, row.fire_time, row.window_end, resume=row)
                    )
                    break
        return requests


@contextmanager
def _signals(control: ServeControl) -> Iterator[None]:
    """SIGTERM/SIGINT stop, SIGHUP reloads (only in the main thread, where Python delivers them)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_signum: int, _frame: object) -> None:
        control.stop()

    def reload(_signum: int, _frame: object) -> None:
        control.reload()

    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, stop),
        signal.SIGINT: signal.signal(signal.SIGINT, stop),
        signal.SIGHUP: signal.signal(signal.SIGHUP, reload),
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def serve(
    path: str | Path,
    *,
    site: str | None = None,
    log_format: str = "auto",
    log_level: str = "info",
    clock: Clock = time.time,
    env: Mapping[str, str] | None = None,
    control: ServeControl | None = None,
) -> int:
    """Serve the pipeline at `path` until stopped (SIGTERM/SIGINT or `control.stop()`); the exit code.

    Raises ConfigError when the configuration is invalid at start, LockHeldError when another
    runner holds this site's lock. A stop request ends with exit code 0: interrupted attempts
    and open runs are taken over by the next runner.
    """
    from runner.api import runner_session

    control = control if control is not None else ServeControl()
    watcher = ConfigWatcher(path)
    pipeline = load_pipeline(path)
    chosen = site or pipeline.settings.site
    environment = dict(os.environ if env is None else env)
    with (
        runner_session(
            pipeline, site=chosen, log_format=log_format, log_level=log_level, env=environment
        ) as (store, log),
        _signals(control),
    ):
        log.info(
            "runner.started",
            pid=os.getpid(),
            pipeline=str(pipeline.root),
            tasks=[],
            now=False,
            mode="serve",
            serving=len(site_tasks(pipeline, chosen)),
        )
        engine = Engine(
            pipeline, store, site=chosen, log=log, cancel=control.cancel, now=clock, env=environment
        )
        control.bind(engine.wake)
        runs = 0
        try:
            engine.recover()
            record_tasks(pipeline, store, clock())
            resume = [
                RunRequest(r.task, r.trigger, r.fire_time, r.window_end, resume=r)
                for r in store.open_runs(chosen)
                if r.task in pipeline.tasks
            ]
            source = ScheduleSource(
                path=path,
                pipeline=pipeline,
                store=store,
                engine=engine,
                site=chosen,
                site_fixed=site is not None,
                log=log,
                control=control,
                watcher=watcher,
            )
            control.ready.set()
            runs = len(engine.serve(source, resume))
        finally:
            control.bind(lambda: None)
            engine.set_offline()
            engine.close()
            log.info("runner.stopped", exit_code=exitcodes.OK, runs=runs, mode="serve")
    return exitcodes.OK


def build_parser() -> argparse.ArgumentParser:
    """The arguments of `runner serve` (also `python -m runner.serving`)."""
    parser = argparse.ArgumentParser(
        prog="runner serve",
        description="Stay up: start tasks when their schedules fire, run run-now items as they "
        "appear, re-read changed pipeline files within seconds. SIGTERM/SIGINT stop, SIGHUP reloads.",
    )
    parser.add_argument("path", nargs="?", default="pipelines", metavar="PATH")
    parser.add_argument("--site", metavar="S", help="serve this site (default: settings.site)")
    parser.add_argument("--log-format", choices=("auto", "json", "console"), default="auto")
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), default="info"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `runner serve` with these arguments; the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return serve(
            args.path, site=args.site, log_format=args.log_format, log_level=args.log_level
        )
    except RunnerError as exc:
        print(exc.report(), file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
