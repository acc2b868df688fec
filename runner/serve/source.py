"""The run source of `runner serve`: due fires, run-now items and requests, config reloads,
stalled runs.

The engine's long-running loop asks it for new runs each time it wakes, and
sleeps until its next wake-up: the next fire of any task, or the next look at
the files (every `WATCH_EVERY` seconds: a `stat` of each pipeline file and one
`PRAGMA data_version`, which changes only when another process, such as
`runner move`, wrote to the state). A reload is reported (`take_reloaded`), not
applied here: the session hands the new configuration to the engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from runner.config.pipeline import Pipeline
from runner.domain.runs import TRIGGER_NOW
from runner.domain.timefmt import iso
from runner.engine import RunRequest
from runner.schedule.due import due_requests, site_tasks
from runner.schedule.fires import next_fire
from runner.schedule.taskinfo import settle_status
from runner.serve.control import ServeControl
from runner.serve.reload import ConfigWatcher, reload_config
from runner.state import StateStore

WATCH_EVERY: Final = 2.0
"""Seconds between looks at the pipeline files' mtimes and at the state's data version."""

RESUME_AFTER: Final = 30.0
"""A run the engine stopped but left open (disk nearly full) is taken up again this much later."""


class ScheduleSource:
    """The engine's `RunSource` for `runner serve`: due fires, run-now items, config reloads."""

    def __init__(
        self,
        *,
        path: str | Path,
        pipeline: Pipeline,
        store: StateStore,
        site: str,
        site_fixed: bool,
        log: Any,
        control: ServeControl,
        watcher: ConfigWatcher,
    ) -> None:
        self.path = path
        self.pipeline = pipeline
        self.store = store
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
        self._reloaded: Pipeline | None = None
        self._requests_waiting = True

    # -- RunSource -------------------------------------------------------------

    def poll(self, now: float, busy: frozenset[str]) -> Sequence[RunRequest]:
        """Runs to start now: due fires of idle tasks, run-now items, stalled open runs."""
        freed = self._busy - busy
        self._busy = busy
        look: set[str] = set()
        if freed:
            self._requests_waiting = True
        for name in freed:
            if self._left_open(name):
                self._stalled[name] = now + RESUME_AFTER
            else:
                settle_status(self.pipeline, self.store, name)
                look.add(name)
        self._watch(now)  # after the stalled runs are known: a change seen now retries them
        requests = self._resume_stalled(now)
        held = set(busy) | set(self._stalled) | {r.task for r in requests}
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
            self._requests_waiting = True
        if self._requests_waiting:
            taken = self._take_requests(now, held)
            requests += taken
            held |= {r.task for r in taken}
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

    def take_reloaded(self) -> Pipeline | None:
        """The configuration a reload loaded since the last call, for the engine to use."""
        reloaded, self._reloaded = self._reloaded, None
        return reloaded

    # -- files and state -------------------------------------------------------

    def _watch(self, now: float) -> None:
        forced = self.control.take_reload()
        poked = self.control.take_poke()
        if not forced and not poked and now < self._next_watch:
            return
        self._next_watch = now + WATCH_EVERY
        if self.watcher.changed() or forced:
            self._reload(now, forced=forced)
        version = self._read_data_version()
        if version != self._data_version:
            self._data_version = version
            self._state_changed = True
            # another process wrote (perhaps `runner resume`): look at the stalled runs again now
            self._stalled = dict.fromkeys(self._stalled, now)

    def _read_data_version(self) -> int:
        return self.store.change_counter()

    def _reload(self, now: float, *, forced: bool) -> None:
        new = reload_config(
            self.path,
            self.pipeline,
            store=self.store,
            site=self.site,
            site_fixed=self.site_fixed,
            running=self._busy,
            log=self.log,
            now=now,
            forced=forced,
        )
        if new is None:
            return
        self._reloaded = new
        self.pipeline = new
        self._site_tasks = frozenset(site_tasks(new, self.site))
        self._next.clear()
        self._earliest = math.inf
        self._look_all = True

    # -- run-now requests recorded by `run --now` while this runner serves ----

    def _take_requests(self, now: float, held: set[str]) -> list[RunRequest]:
        """Runs for the pending run-now requests of tasks that are free (not running, not
        halted); the others stay pending until a run ends or another process changes the
        state (a resume), when they are looked at again."""
        pending = self.store.pending_run_requests(self.site)
        self._requests_waiting = False
        if not pending:
            return []
        halts = self.store.task_halts()
        requests: list[RunRequest] = []
        for request in pending:
            name = request.task
            fields = {"task": name, "by": request.by, "requested_at": iso(request.at)}
            if name not in self._site_tasks:
                self.store.take_run_request(request.id, now)
                self.log.warning(
                    "run.skipped",
                    **fields,
                    reason="a run was requested, but the task is not enabled on this site",
                )
                continue
            if name in held or name in halts or name in {r.task for r in requests}:
                continue  # still running or halted: it starts once free
            self.store.take_run_request(request.id, now)
            self.log.info("run.requested", **fields)
            requests.append(RunRequest(name, TRIGGER_NOW))
        return requests

    # -- runs the engine stopped but left open ---------------------------------

    def _left_open(self, task: str) -> bool:
        return self.store.has_open_run(task, self.site)

    def _resume_stalled(self, now: float) -> list[RunRequest]:
        requests: list[RunRequest] = []
        for name, at in list(self._stalled.items()):
            if at > now:
                continue
            if self.store.task_halt(name) is not None:
                self._stalled[name] = now + RESUME_AFTER  # halted: resumed runs would only stop
                continue
            del self._stalled[name]
            for row in self.store.open_runs(self.site):
                if row.task == name and name in self.pipeline.tasks:
                    requests.append(RunRequest.resuming(row))
                    break
        return requests
