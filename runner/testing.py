"""Test helpers for code that drives the engine: a fake clock, a fake launcher, log capture.

    clock = FakeClock()
    launcher = FakeLauncher(clock)
    launcher.script("item-2", Script(exit_code=1), Script(exit_code=0))  # fails once, then passes
    log = LogCapture()
    Engine(pipeline, store, site="main", log=log, now=clock, idle=clock.advance,
           launcher=launcher).execute([RunRequest("t", TRIGGER_NOW)])
    assert [s.env["RUNNER_ITEM"] for s in launcher.specs] == [...]
    assert log.named("run.finished")[0]["status"] == "ok"

The engine then runs in-process: no child process starts, and no test sleeps
(the loop's waits advance the fake clock instead).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.process import LaunchSpec, Outcome, ProcessResult

__all__ = ["FakeClock", "FakeLauncher", "LogCapture", "Script"]


class FakeClock:
    """A clock that moves only when told to (`advance`); thread-safe; waiters wake as it moves."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._cond = threading.Condition()

    def __call__(self) -> float:
        with self._cond:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds` (pass it as the engine's `idle` hook)."""
        with self._cond:
            self._now += max(0.0, seconds)
            self._cond.notify_all()

    def wait_until(self, instant: float, cancel: threading.Event | None = None) -> bool:
        """Block until the clock reaches `instant` (True) or `cancel` is set (False)."""
        with self._cond:
            while self._now < instant:
                if cancel is not None and cancel.is_set():
                    return False
                self._cond.wait(0.01 if cancel is not None else None)
            return True


@dataclass(frozen=True)
class Script:
    """What one launch of a fake process does."""

    exit_code: int | None = 0
    stdout: str = ""
    stderr: str = ""
    events: Sequence[str] = ()
    """Lines written to the spec's events file (and handed to its `on_events`)."""
    outcome: Outcome = "exited"
    duration: float = 0.0
    """Seconds of the fake clock the process takes (it blocks until the clock gets there)."""
    release: threading.Event | None = None
    """If set: the process runs until this event is set (or the launch is cancelled)."""


@dataclass
class FakeLauncher:
    """A `runner.engine.Launcher` that runs no process: each launch follows a `Script`.

    Scripts are chosen by key: the item id (`RUNNER_ITEM`), else the step label
    (`RUNNER_STEP`, e.g. ``before[0]``), else the command line joined by spaces. A key's
    scripts are used in order, the last one again for every further launch; a launch with
    no script for its key follows `default`. Every spec is kept in `specs`, in launch order.
    """

    clock: FakeClock | None = None
    default: Script = field(default_factory=Script)
    specs: list[LaunchSpec] = field(default_factory=list, init=False)
    running: int = field(default=0, init=False)
    """Launches in progress now."""
    most_running: int = field(default=0, init=False)
    """The most launches that were in progress at once."""
    _scripts: dict[str, list[Script]] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def script(self, key: str, *scripts: Script) -> None:
        """Use `scripts` (in order, the last repeated) for the launches of `key`."""
        self._scripts[key] = list(scripts)

    def launched(self, key: str) -> int:
        """How many launches there were for `key`."""
        return sum(1 for spec in self.specs if key_of(spec) == key)

    def __call__(self, spec: LaunchSpec, cancel: threading.Event | None = None) -> ProcessResult:
        with self._lock:
            self.specs.append(spec)
            queued = self._scripts.get(key_of(spec))
            plan = (queued.pop(0) if len(queued) > 1 else queued[0]) if queued else self.default
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            return self._play(spec, plan, cancel)
        finally:
            with self._lock:
                self.running -= 1

    def _play(
        self, spec: LaunchSpec, plan: Script, cancel: threading.Event | None
    ) -> ProcessResult:
        started = self.clock() if self.clock is not None else 0.0
        _write(spec.stdout_path, plan.stdout)
        _write(spec.stderr_path, plan.stderr)
        if plan.events and spec.events_path is not None:
            lines = [line.encode() + b"\n" for line in plan.events]
            with Path(spec.events_path).open("ab") as events:
                events.writelines(lines)
            if spec.on_events is not None:
                spec.on_events([line.rstrip(b"\n") for line in lines])
        finished = True
        if plan.release is not None:
            while not plan.release.wait(0.01):
                if cancel is not None and cancel.is_set():
                    finished = False
                    break
        if finished and plan.duration > 0 and self.clock is not None:
            finished = self.clock.wait_until(started + plan.duration, cancel or threading.Event())
        outcome: Outcome = plan.outcome if finished else "interrupted"
        ended = self.clock() if self.clock is not None else plan.duration
        return ProcessResult(
            outcome=outcome,
            exit_code=plan.exit_code if outcome == "exited" else None,
            signal=None,
            error=None,
            pid=None,
            started_at=started,
            duration_s=max(plan.duration if finished else 0.0, ended - started),
            stdout_tail=plan.stdout,
            stderr_tail=plan.stderr,
            stdout_truncated=False,
            stderr_truncated=False,
        )


def key_of(spec: LaunchSpec) -> str:
    """The key a spec's script is looked up by (see `FakeLauncher`)."""
    env = spec.env
    return env.get("RUNNER_ITEM") or env.get("RUNNER_STEP") or " ".join(spec.argv)


def _write(path: Path | str | None, text: str) -> None:
    if path is not None and text:
        Path(path).write_text(text)


class LogCapture:
    """A logger for the engine (its `log`) that keeps every event as a dict, as structlog would
    render it: ``{"event": name, "log_level": level, **fields}``, plus any fields bound."""

    def __init__(self, events: list[dict[str, Any]] | None = None, **bound: Any) -> None:
        self.events: list[dict[str, Any]] = [] if events is None else events
        self._bound = bound
        self._lock = threading.Lock()

    def bind(self, **fields: Any) -> LogCapture:
        """A logger adding `fields` to each event, sharing this one's list."""
        return LogCapture(self.events, **self._bound, **fields)

    def named(self, event: str) -> list[dict[str, Any]]:
        """The events called `event`, in order."""
        with self._lock:
            return [e for e in self.events if e["event"] == event]

    def _emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        with self._lock:
            self.events.append({"event": event, "log_level": level, **self._bound, **fields})

    def debug(self, event: str, **fields: Any) -> None:
        self._emit("debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._emit("error", event, fields)
